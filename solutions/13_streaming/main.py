"""Chapter 13: streaming a response line by line, and server-sent events.

Run it by hand with:  uvicorn main:app --reload
Then watch the lines arrive:  curl -N "http://127.0.0.1:8000/stream?count=5&interval=0.5"
"""

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from typing import Annotated

from fastapi import FastAPI, Query
from fastapi.responses import StreamingResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

app = FastAPI(title="Streaming", version="1.0.0")

# Limits of GET /stream and GET /events: items per response, and seconds
# between two items.
MAX_COUNT = 100
MAX_INTERVAL_SECONDS = 2.0

Count = Annotated[int, Query(ge=1, le=MAX_COUNT)]
Interval = Annotated[float, Query(ge=0, le=MAX_INTERVAL_SECONDS)]


# TODO 2 (done): each `yield` hands one line to StreamingResponse, which sends it
#                before it requests the next. `await asyncio.sleep` lets the event
#                loop serve other requests between lines, and time.sleep would not.
async def numbered_lines(count: int, interval: float) -> AsyncIterator[str]:
    for number in range(1, count + 1):
        yield f"line {number} of {count}\n"
        if number < count:
            await asyncio.sleep(interval)


# TODO 1 (done): Query(ge=..., le=...) bounds both parameters, and FastAPI rejects
#                other values with 422 before the stream starts.
@app.get("/stream")
async def stream(count: Count = 5, interval: Interval = 0.5) -> StreamingResponse:
    return StreamingResponse(numbered_lines(count, interval), media_type="text/plain")


# TODO 3 (done): with response_class=EventSourceResponse, FastAPI sends each yielded
#                ServerSentEvent as "data: ...", "id: ..." lines and a blank line,
#                with the media type text/event-stream. Data is encoded as JSON.
@app.get("/events", response_class=EventSourceResponse)
async def events(
    count: Count = 5, interval: Interval = 0.5
) -> AsyncIterable[ServerSentEvent]:
    for tick in range(1, count + 1):
        yield ServerSentEvent(data={"tick": tick}, id=str(tick))
        if tick < count:
            await asyncio.sleep(interval)
