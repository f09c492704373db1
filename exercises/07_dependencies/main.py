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


# TODO 1: Write `common_parameters`, a dependency with the query parameters q (str or
#         None, default None), skip (int, 0 or more, default 0) and limit (int from 1
#         to 100, default 100), that returns them as a dict.
# TODO 2: GET /items/ and GET /users/ both take common_parameters through
#         Annotated[..., Depends(...)]. Each returns that dict plus "items" (or
#         "users"): the names in ITEMS (or USERS) that contain q, sliced by skip and
#         limit.
# TODO 3: Write a class Pagination whose __init__ takes page (int, 1 or more, default
#         1) and size (int from 1 to 50, default 10). GET /products/ depends on it and
#         returns {"page": ..., "size": ..., "offset": (page - 1) * size,
#         "products": the `size` entries of PRODUCTS from that offset}.
# TODO 4: Write `verify_token`, a dependency that reads the X-Token header and raises
#         HTTPException 401 when the header is missing or not a key of TOKENS. It
#         returns the token otherwise.
# TODO 5: GET /stats lists verify_token in its decorator's dependencies=[...] and
#         returns {"items": len(ITEMS), "users": len(USERS), "products": len(PRODUCTS)}.
# TODO 6: Write `current_user`, a dependency that depends on verify_token and returns
#         the user name TOKENS maps the token to. GET /users/me returns
#         {"username": that name}.
# TODO 7: Write `get_connection`, a dependency with `yield`: it opens a connection with
#         pool.open(), yields it, and closes it with pool.close(connection) exactly
#         once per request, also when the route raises.
# TODO 8: GET /rows/{row_id} (row_id an int) uses get_connection and returns
#         {"row_id": ..., "value": ROWS[row_id], "connection": connection.number,
#         "connection_open": connection.is_open}, or raises HTTPException 404 when
#         the row is missing.
