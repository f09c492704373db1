"""Chapter 11: a small service, made ready for production.

Run it by hand with:  uvicorn main:app --reload
In production it runs with the CMD of the Dockerfile in this folder.
"""

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Query

# uvicorn sets up this logger, so its lines appear in the server's output.
logger = logging.getLogger("uvicorn.error")

# TODO 1: Read the settings from environment variables, each with a default.
#         APP_NAME defaults to "Deployment demo". DOCS_ENABLED defaults to true
#         and accepts true/false, 1/0, yes/no and on/off. SHUTDOWN_LOG is a file
#         path, unset by default, which means no file.
APP_NAME = "Deployment demo"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    logger.info("Worker %s started as %r", os.getpid(), APP_NAME)
    yield
    # TODO 2: When SHUTDOWN_LOG is set, append the line
    #         "worker <pid> shut down" to that file here, after the yield,
    #         with the pid from os.getpid().


# TODO 3: Serve /docs, /redoc and /openapi.json only when DOCS_ENABLED is true.
app = FastAPI(title=APP_NAME, version="1.0.0", lifespan=lifespan)


# TODO 4: Add GET /health, returning
#         {"status": "ok", "app": <APP_NAME>, "pid": <os.getpid()>}.


@app.get("/work")
async def work(
    seconds: Annotated[float, Query(gt=0, le=5)] = 0.5,
) -> dict[str, float]:
    """Wait `seconds`, standing in for a request that takes a while."""
    await asyncio.sleep(seconds)
    return {"waited": seconds}
