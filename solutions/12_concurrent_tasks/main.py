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


# TODO 3 (done): the entry for one fetch. Only FetchError becomes an error entry, so
#                a bug in the app still raises and shows up as a 500.
def to_entry(index: int, delay: float, outcome: str | BaseException) -> dict[str, Any]:
    if isinstance(outcome, FetchError):
        return {"index": index, "delay": delay, "ok": False, "error": str(outcome)}
    if isinstance(outcome, BaseException):
        raise outcome
    return {"index": index, "delay": delay, "ok": True, "value": outcome}


# TODO 1 (done): the inner Field bounds each delay, and Query bounds the list's
#                length. A list parameter needs Query(), or FastAPI reads it from the
#                body.
@app.get("/concurrent")
async def concurrent(
    sources: Sources,
    delay: Annotated[
        list[Annotated[float, Field(ge=0, le=MAX_DELAY_SECONDS)]],
        Query(min_length=1, max_length=MAX_FETCHES),
    ],
    fail: Annotated[list[int] | None, Query()] = None,
    deadline: Annotated[
        float, Query(gt=0, le=MAX_DEADLINE_SECONDS)
    ] = DEFAULT_DEADLINE_SECONDS,
) -> dict[str, list[dict[str, Any]]]:
    failing = set(fail or [])
    fetches = [
        fetch(sources, index, seconds, index in failing)
        for index, seconds in enumerate(delay)
    ]
    # TODO 2 (done): gather runs the fetches at once, so the request takes about as
    #                long as the slowest one. return_exceptions=True returns a
    #                FetchError as that fetch's outcome. Without it, the first error
    #                propagates and the other results are lost.
    # TODO 4 (done): wait_for cancels the gather, and with it every fetch still
    #                running, once the deadline has passed.
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(*fetches, return_exceptions=True), timeout=deadline
        )
    except asyncio.TimeoutError:
        raise HTTPException(
            status_code=status.HTTP_504_GATEWAY_TIMEOUT,
            detail=f"the fetches did not finish within the {deadline:g} s deadline",
        ) from None
    # gather returns the outcomes in the order of its arguments, whatever order
    # the fetches finished in.
    results = [
        to_entry(index, seconds, outcome)
        for index, (seconds, outcome) in enumerate(zip(delay, outcomes, strict=True))
    ]
    return {"results": results}
