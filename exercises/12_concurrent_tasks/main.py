"""Chapter 12: running several awaits at once with asyncio.gather.

The app fetches from a sources service. Run one by hand, then the app:
    uvicorn sources:app --port 8001
    uvicorn main:app --reload
Then open http://127.0.0.1:8000/concurrent?delay=1&delay=2&fail=1
"""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from pydantic import Field

# Limits of GET /concurrent, in seconds and in fetches per request.
MAX_DELAY_SECONDS = 5.0
MAX_FETCHES = 10
DEFAULT_DEADLINE_SECONDS = 3.0
MAX_DEADLINE_SECONDS = 10.0

# Address of the sources service. The grader runs its own on a Unix socket and
# sets SOURCES_SOCKET to its path.
SOURCES_URL = os.environ.get("SOURCES_URL", "http://127.0.0.1:8001")
SOURCES_SOCKET = os.environ.get("SOURCES_SOCKET")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open one HTTP client for the app's lifetime; its connections are reused."""
    transport = httpx.AsyncHTTPTransport(uds=SOURCES_SOCKET) if SOURCES_SOCKET else None
    async with httpx.AsyncClient(
        base_url=SOURCES_URL, transport=transport, timeout=MAX_DEADLINE_SECONDS
    ) as client:
        app.state.sources = client
        yield


app = FastAPI(title="Concurrent tasks", version="1.0.0", lifespan=lifespan)


def get_sources(request: Request) -> httpx.AsyncClient:
    return request.app.state.sources


Sources = Annotated[httpx.AsyncClient, Depends(get_sources)]


class FetchError(Exception):
    """A source failed to deliver its data."""


async def fetch(
    sources: httpx.AsyncClient, index: int, delay: float, fail: bool
) -> str:
    """Fetch the data of source `index`, which takes `delay` seconds to respond.

    With `fail` true the source returns 503 after the delay, the way a remote
    service often reports an error only after some time. Raises FetchError
    when the source fails or cannot be reached.
    """
    try:
        response = await sources.get(
            f"/sources/{index}", params={"delay": delay, "fail": fail}
        )
        response.raise_for_status()
        return str(response.json()["data"])
    except (httpx.HTTPError, ValueError, KeyError) as error:
        raise FetchError(f"source {index} failed") from error


# TODO 1: GET /concurrent takes `sources: Sources`, the client defined above, and
#         `delay` as a repeated query parameter: a list of 1 to MAX_FETCHES floats,
#         each from 0 to MAX_DELAY_SECONDS. It also takes `fail`, a list of
#         positions (ints, also a query parameter, optional: None when absent), and
#         `deadline`, a float above 0 and up to MAX_DEADLINE_SECONDS (default
#         DEFAULT_DEADLINE_SECONDS). Other values get 422.
# TODO 2: Call fetch(sources, index, seconds, index in failing) once per delay, where
#         index is the delay's position from 0 and failing is set(fail or []).
#         Await all of them at once with asyncio.gather, in a way that returns a
#         FetchError as a value instead of losing the other results.
# TODO 3: Return {"results": [...]} with one entry per delay, in request order:
#         {"index": i, "delay": d, "ok": True, "value": data} for a fetch that
#         returned, {"index": i, "delay": d, "ok": False, "error": str(error)} for one
#         that raised FetchError.
# TODO 4: Once `deadline` seconds have passed, cancel the fetches still running
#         and respond 504 with a "detail" message.
