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


# TODO 1: GET /delay/{seconds} takes seconds as a float from 0 to MAX_DELAY_SECONDS
#         (both included), so "/delay/0.25" is accepted and "/delay/10.5" gives a 422.
# TODO 2: The endpoint is an `async def` that waits `seconds` without blocking the
#         event loop, then returns {"seconds": seconds, "waited": w}, where w is the
#         time it measured with time.perf_counter(), rounded to 3 decimal places.
# TODO 3: GET /ping returns {"ping": "pong"} at once, also while /delay requests wait.
