"""A stand-in for the remote sources that chapter 12's app fetches from.

Run it beside the app, in a second terminal:  uvicorn sources:app --port 8001
GET /sources/{index}?delay=D&fail=F waits D seconds, then returns the source's
data, or status 503 when F is true. The grader runs its own version of this
service, which also records when each fetch arrives and ends.
"""

import asyncio
from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query, status

app = FastAPI(title="Sources", version="1.0.0")


@app.get("/sources/{index}")
async def source(
    index: Annotated[int, Path(ge=0)],
    delay: Annotated[float, Query(ge=0, le=10)] = 0.0,
    fail: bool = False,
) -> dict[str, str]:
    await asyncio.sleep(delay)
    if fail:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"source {index} is unavailable",
        )
    return {"data": f"data from source {index}"}
