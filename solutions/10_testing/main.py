"""Chapter 10: a small task API, complete and ready to be tested.

This chapter's work is in test_main.py; this file stays as it is.
Run the app by hand with:  uvicorn main:app --reload
Then open http://127.0.0.1:8000/docs and enter "Bearer alice-token" in an
operation's authorization field.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, status
from pydantic import BaseModel, Field, field_validator


class TaskIn(BaseModel):
    """The body a client sends to create a task."""

    title: str = Field(min_length=1, max_length=100)
    priority: int = Field(default=3, ge=1, le=5)

    @field_validator("title")
    @classmethod
    def title_not_blank(cls, title: str) -> str:
        """Reject a title of only whitespace, which min_length lets through."""
        if not title.strip():
            raise ValueError("Title must contain more than whitespace")
        return title


class Task(TaskIn):
    """A stored task, with its id, its owner and whether it is done."""

    id: int
    owner: str
    done: bool = False


class TaskStats(BaseModel):
    """Counts of the current user's tasks: all of them, done and open."""

    total: int
    done: int
    open: int


class User(BaseModel):
    """The user a request is made for."""

    name: str


class TaskStore:
    """Tasks kept in memory, behind async methods like a database client's."""

    def __init__(self) -> None:
        self.tasks: dict[int, Task] = {}
        self.next_id = 1

    async def add(self, owner: str, data: TaskIn) -> Task:
        task = Task(id=self.next_id, owner=owner, **data.model_dump())
        self.tasks[task.id] = task
        self.next_id += 1
        return task

    async def get(self, task_id: int) -> Task | None:
        return self.tasks.get(task_id)

    async def list_for(self, owner: str) -> list[Task]:
        return [task for task in self.tasks.values() if task.owner == owner]

    async def mark_done(self, task_id: int) -> Task:
        task = self.tasks[task_id].model_copy(update={"done": True})
        self.tasks[task_id] = task
        return task

    async def delete(self, task_id: int) -> None:
        del self.tasks[task_id]

    async def count(self, owner: str, *, done: bool | None = None) -> int:
        tasks = await self.list_for(owner)
        return sum(1 for task in tasks if done is None or task.done == done)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Each start of the app gets a new, empty store, removed again at shutdown.
    app.state.store = TaskStore()
    yield
    del app.state.store


app = FastAPI(title="Tasks", version="1.0.0", lifespan=lifespan)

# Bearer tokens and the users they belong to. They stand in for an identity
# provider, which a real service would ask; tests override get_current_user.
DEMO_TOKENS = {"alice-token": "alice", "bob-token": "bob"}


async def get_current_user(
    authorization: Annotated[str | None, Header()] = None,
) -> User:
    """Return the user whose bearer token the request carries, or raise 401."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or token not in DEMO_TOKENS:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Missing or invalid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return User(name=DEMO_TOKENS[token])


def get_store(request: Request) -> TaskStore:
    """Return the store that the lifespan created for this run of the app."""
    store: TaskStore = request.app.state.store
    return store


CurrentUser = Annotated[User, Depends(get_current_user)]
Store = Annotated[TaskStore, Depends(get_store)]


async def find_own_task(task_id: int, user: User, store: TaskStore) -> Task:
    """Return the user's task, or raise 404 for a missing task or another's."""
    task = await store.get(task_id)
    if task is None or task.owner != user.name:
        raise HTTPException(status_code=404, detail="Task not found")
    return task


@app.post("/tasks/", status_code=status.HTTP_201_CREATED)
async def create_task(data: TaskIn, user: CurrentUser, store: Store) -> Task:
    return await store.add(user.name, data)


@app.get("/tasks/")
async def list_tasks(
    user: CurrentUser,
    store: Store,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[Task]:
    tasks = await store.list_for(user.name)
    return tasks[skip : skip + limit]


# Declared before /tasks/{task_id}, which would otherwise match "stats".
@app.get("/tasks/stats")
async def read_stats(user: CurrentUser, store: Store) -> TaskStats:
    total = await store.count(user.name)
    done = await store.count(user.name, done=True)
    return TaskStats(total=total, done=done, open=total - done)


@app.get("/tasks/{task_id}")
async def read_task(task_id: int, user: CurrentUser, store: Store) -> Task:
    return await find_own_task(task_id, user, store)


@app.post("/tasks/{task_id}/done")
async def mark_task_done(task_id: int, user: CurrentUser, store: Store) -> Task:
    await find_own_task(task_id, user, store)
    return await store.mark_done(task_id)


@app.delete("/tasks/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_task(task_id: int, user: CurrentUser, store: Store) -> None:
    await find_own_task(task_id, user, store)
    await store.delete(task_id)
