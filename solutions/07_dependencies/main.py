"""Chapter 07: dependencies, shared parameters, token checks and clean-up.

Run it by hand with:  uvicorn main:app --reload
"""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, status

app = FastAPI(title="Dependencies", version="1.0.0")

ITEMS = ["apple", "banana", "cherry", "grape", "melon", "peach"]
USERS = ["alice", "bob", "carol", "dave"]
PRODUCTS = [f"product-{number}" for number in range(1, 21)]
ROWS = {1: "first row", 2: "second row"}

# The tokens the API accepts in the X-Token header, and the user each belongs to.
# A real app would load these from a secret store, not from its source code.
TOKENS = {"alice-token": "alice", "bob-token": "bob"}


class Connection:
    """A stand-in for a database connection."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.is_open = True


class ConnectionPool:
    """Opens and closes connections, and counts both, so clean-up is visible."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0

    def open(self) -> Connection:
        self.opened += 1
        return Connection(self.opened)

    def close(self, connection: Connection) -> None:
        # Counted on every call, so closing a connection twice shows up too.
        connection.is_open = False
        self.closed += 1


pool = ConnectionPool()


@app.get("/connections/stats")
async def connection_stats() -> dict[str, int]:
    return {"opened": pool.opened, "closed": pool.closed}


# TODO 1 (done): one function declares the three query parameters and their limits;
#                every route that depends on it gets them, validated the same way.
async def common_parameters(
    q: str | None = None,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> dict[str, Any]:
    return {"q": q, "skip": skip, "limit": limit}


# An Annotated alias: each route that uses it declares the dependency in one word.
CommonsDep = Annotated[dict[str, Any], Depends(common_parameters)]


def select(names: list[str], commons: dict[str, Any]) -> list[str]:
    """Filter `names` by the substring q, then slice them by skip and limit."""
    query = commons["q"]
    found = [name for name in names if query is None or query in name]
    return found[commons["skip"] : commons["skip"] + commons["limit"]]


# TODO 2 (done): both routes take the shared parameters through CommonsDep.
@app.get("/items/")
async def read_items(commons: CommonsDep) -> dict[str, Any]:
    return {**commons, "items": select(ITEMS, commons)}


@app.get("/users/")
async def read_users(commons: CommonsDep) -> dict[str, Any]:
    return {**commons, "users": select(USERS, commons)}


# TODO 3 (done): FastAPI calls the class like a function: the parameters of __init__
#                become query parameters, and the route receives the instance.
class Pagination:
    """Page-based paging: which page to show and how many entries per page."""

    def __init__(
        self,
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=50)] = 10,
    ) -> None:
        self.page = page
        self.size = size

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


@app.get("/products/")
async def read_products(
    pagination: Annotated[Pagination, Depends()],
) -> dict[str, Any]:
    start = pagination.offset
    return {
        "page": pagination.page,
        "size": pagination.size,
        "offset": start,
        "products": PRODUCTS[start : start + pagination.size],
    }


# TODO 4 (done): an HTTPException has to be raised; a returned one is just a value,
#                and the route would run as if the token were fine.
async def verify_token(x_token: Annotated[str | None, Header()] = None) -> str:
    if x_token is None or x_token not in TOKENS:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Missing or invalid X-Token header",
        )
    return x_token


# TODO 5 (done): listed in the decorator, the dependency runs for its check only.
@app.get("/stats", dependencies=[Depends(verify_token)])
async def read_stats() -> dict[str, int]:
    return {"items": len(ITEMS), "users": len(USERS), "products": len(PRODUCTS)}


# TODO 6 (done): a sub-dependency: current_user depends on verify_token, so every
#                route that needs the user gets the token check with it.
async def current_user(token: Annotated[str, Depends(verify_token)]) -> str:
    return TOKENS[token]


@app.get("/users/me")
async def read_current_user(
    username: Annotated[str, Depends(current_user)],
) -> dict[str, str]:
    return {"username": username}


# TODO 7 (done): `finally` runs when the route returns and also when it raises,
#                so every connection opened is closed exactly once.
async def get_connection() -> AsyncIterator[Connection]:
    connection = pool.open()
    try:
        yield connection
    finally:
        pool.close(connection)


# TODO 8 (done): the route raises 404 for a missing row; get_connection's
#                clean-up still runs.
@app.get("/rows/{row_id}")
async def read_row(
    row_id: int, connection: Annotated[Connection, Depends(get_connection)]
) -> dict[str, Any]:
    if row_id not in ROWS:
        raise HTTPException(status_code=404, detail="Row not found")
    return {
        "row_id": row_id,
        "value": ROWS[row_id],
        "connection": connection.number,
        "connection_open": connection.is_open,
    }
