"""Chapter 12: running several awaits at once with asyncio.gather.

Run it by hand with:  uvicorn main:app --reload
Then open http://127.0.0.1:8000/concurrent?delay=1&delay=2&fail=1
"""

import asyncio
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, status
from pydantic import Field

app = FastAPI(title="Concurrent tasks", version="1.0.0")

# Limits of GET /concurrent, in seconds and in fetches per request.
MAX_DELAY_SECONDS = 5.0
MAX_FETCHES = 10
DEFAULT_DEADLINE_SECONDS = 3.0
MAX_DEADLINE_SECONDS = 10.0


class FetchError(Exception):
    """A simulated source failed to deliver its data."""


async def fetch(index: int, delay: float, fail: bool) -> str:
    """Simulate a call to source `index` that takes `delay` seconds.

    Returns the source's data, or raises FetchError after the delay when `fail`
    is true, the way a remote service reports an error only after some time.
    """
    await asyncio.sleep(delay)
    if fail:
        raise FetchError(f"source {index} failed")
    return f"data from source {index}"


# TODO 1: GET /concurrent takes `delay` as a repeated query parameter: a list of 1 to
#         MAX_FETCHES floats, each from 0 to MAX_DELAY_SECONDS. It also takes `fail`,
#         a list of positions (ints, default: an empty list), and `deadline`, a
#         float above 0 and up to MAX_DEADLINE_SECONDS (default
#         DEFAULT_DEADLINE_SECONDS). Other values get 422.
# TODO 2: Call fetch(index, seconds, index in fail) once per delay, where index is the
#         delay's position from 0. Await all of them at once with asyncio.gather, in a
#         way that returns a FetchError as a value instead of losing the other results.
# TODO 3: Return {"results": [...]} with one entry per delay, in request order:
#         {"index": i, "delay": d, "ok": True, "value": data} for a fetch that
#         returned, {"index": i, "delay": d, "ok": False, "error": str(error)} for one
#         that raised FetchError.
# TODO 4: Stop waiting once `deadline` seconds have passed and respond 504 with
#         a "detail" message, even if some fetches are still running.
