"""Chapter 06: async endpoints, and what blocks the event loop.

Run it by hand with:  uvicorn main:app --reload
"""

import asyncio
import time
from typing import Annotated

from fastapi import FastAPI, Path

app = FastAPI(title="Async endpoints", version="1.0.0")

# The maximum wait GET /delay/{seconds} accepts, in seconds.
MAX_DELAY_SECONDS = 10.0


# TODO 1 (done): Path(ge=..., le=...) bounds the float, and FastAPI rejects other
#                values with 422.
# TODO 2 (done): `await asyncio.sleep` suspends only this request, so the event loop
#                serves other requests meanwhile. time.sleep here would stop them all.
@app.get("/delay/{seconds}")
async def delay(
    seconds: Annotated[float, Path(ge=0, le=MAX_DELAY_SECONDS)],
) -> dict[str, float]:
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    waited = time.perf_counter() - started
    return {"seconds": seconds, "waited": round(waited, 3)}


# TODO 3 (done): nothing here waits, so the response goes out once the loop is free.
@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"ping": "pong"}
