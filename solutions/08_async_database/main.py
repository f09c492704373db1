"""Chapter 08: a users resource stored in SQLite through aiosqlite.

Run it by hand with:  uvicorn main:app --reload
The database file is DATABASE_PATH, or users.db in the current folder.
"""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import aiosqlite
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field

DATABASE_PATH = os.environ.get("DATABASE_PATH", "users.db")

# Simple on purpose: one "@", no spaces, and a dot in the domain. The
# email-validator package behind Pydantic's EmailStr is not installed here.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# One connection serves every request, and a SQLite connection has one
# transaction at a time. Each write holds this lock from its first statement to
# its commit or rollback, so a rollback never undoes another request's insert.
write_lock = asyncio.Lock()


class UserCreate(BaseModel):
    """The body of POST /users/."""

    name: str = Field(min_length=1, max_length=100)
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)


class User(UserCreate):
    """A stored user, with the id the database gave it."""

    id: int


CREATE_USERS_TABLE = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE
)
"""


# TODO 1 (done): the code before `yield` runs once at start-up and the code after
#                it once at shutdown, which is when `async with` closes the
#                connection. IF NOT EXISTS keeps the table and its rows across
#                restarts.
@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with aiosqlite.connect(DATABASE_PATH) as db:
        db.row_factory = aiosqlite.Row
        await db.execute(CREATE_USERS_TABLE)
        await db.commit()
        app.state.db = db
        yield


app = FastAPI(title="Users database", version="1.0.0", lifespan=lifespan)


# TODO 2 (done): routes get the lifespan's connection through a dependency, so a
#                test can override it with app.dependency_overrides.
async def get_db(request: Request) -> aiosqlite.Connection:
    db: aiosqlite.Connection = request.app.state.db
    return db


DbDep = Annotated[aiosqlite.Connection, Depends(get_db)]


def user_from_row(row: aiosqlite.Row) -> User:
    return User(id=row["id"], name=row["name"], email=row["email"])


# TODO 3 (done): the "?" placeholders send the values apart from the SQL text, so
#                quotes in a name stay data. A failed insert is rolled back, which
#                ends its transaction and releases SQLite's write lock.
@app.post("/users/", status_code=status.HTTP_201_CREATED)
async def create_user(user: UserCreate, db: DbDep) -> User:
    async with write_lock:
        try:
            async with db.execute(
                "INSERT INTO users (name, email) VALUES (?, ?)",
                (user.name, user.email),
            ) as cursor:
                user_id = cursor.lastrowid
        except aiosqlite.IntegrityError:
            await db.rollback()
            raise HTTPException(
                status_code=status.HTTP_409_CONFLICT,
                detail=f"A user with email {user.email} already exists",
            ) from None
        await db.commit()
    if user_id is None:
        raise RuntimeError("SQLite returned no id for the inserted user")
    return User(id=user_id, name=user.name, email=user.email)


# TODO 4 (done): a raised HTTPException sets the status code and the body
#                {"detail": ...}. A returned message would go out with status 200.
@app.get("/users/{user_id}")
async def read_user(user_id: int, db: DbDep) -> User:
    rows = list(
        await db.execute_fetchall(
            "SELECT id, name, email FROM users WHERE id = ?", (user_id,)
        )
    )
    if not rows:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"User {user_id} not found",
        )
    return user_from_row(rows[0])


# TODO 5 (done): LIMIT and OFFSET take placeholders too, and ORDER BY id keeps the
#                pages stable while users are added.
@app.get("/users/")
async def list_users(
    db: DbDep,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[User]:
    rows = await db.execute_fetchall(
        "SELECT id, name, email FROM users ORDER BY id LIMIT ? OFFSET ?",
        (limit, skip),
    )
    return [user_from_row(row) for row in rows]


# TODO 6 (done): rowcount is the number of rows deleted, so 0 means no user had
#                that id. The commit makes the deletion permanent.
@app.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: int, db: DbDep) -> Response:
    async with write_lock:
        async with db.execute("DELETE FROM users WHERE id = ?", (user_id,)) as cursor:
            deleted = cursor.rowcount
        await db.commit()
    if deleted == 0:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"User {user_id} not found",
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
