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


# TODO 1: GET /stream takes `count`, an int from 1 to MAX_COUNT (default 5), and
#         `interval`, a float from 0 to MAX_INTERVAL_SECONDS (default 0.5). Other
#         values get 422.
# TODO 2: It returns a StreamingResponse with media type "text/plain" over an async
#         generator that yields "line N of COUNT\n" for N from 1 to count. The
#         generator runs `await asyncio.sleep(interval)` between two lines, with no
#         wait before the first line or after the last.
# TODO 3: GET /events takes the same two parameters and sends `count` server-sent
#         events with media type text/event-stream, `interval` seconds apart. Event
#         N has the id "N" and the data {"tick": N} as JSON, and each event ends
#         with a blank line.
