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


# TODO 1: Write a lifespan function (decorated with @asynccontextmanager) that opens
#         an aiosqlite connection to DATABASE_PATH, sets row_factory to aiosqlite.Row,
#         runs CREATE_USERS_TABLE, commits, stores the connection in app.state.db and
#         yields. The connection must be closed at shutdown, after the yield. Pass it
#         to FastAPI(..., lifespan=lifespan); @app.on_event is deprecated.
app = FastAPI(title="Users database", version="1.0.0")


# TODO 2: Write `get_db`, a dependency that returns request.app.state.db, so routes
#         take the connection as `db: Annotated[aiosqlite.Connection, Depends(get_db)]`.


# TODO 3: POST /users/ takes a UserCreate body, inserts it with "?" placeholders
#         (never by pasting values into the SQL text), commits, and returns the User
#         with the id from cursor.lastrowid and status 201. Hold write_lock from the
#         INSERT to its commit. When the email is taken, the INSERT raises
#         aiosqlite.IntegrityError: roll back, then raise HTTPException 409.


# TODO 4: GET /users/{user_id} returns the User, or raises HTTPException 404 with a
#         detail message when no row has that id.


# TODO 5: GET /users/ takes skip (int, 0 or more, default 0) and limit (int from 1 to
#         100, default 10) and returns that page of users, ordered by id, as a list.


# TODO 6: DELETE /users/{user_id} deletes the row under write_lock, commits, and
#         returns 204 with an empty body, or raises HTTPException 404 when no row had
#         that id (cursor.rowcount is 0). Commit in both cases: the DELETE opened a
#         transaction even when it removed nothing, and it locks the file until it ends.
