"""Chapter 11: a small service, made ready for production.

Run it by hand with:  uvicorn main:app --reload
In production it runs with the CMD of the Dockerfile in this folder.
"""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query

# uvicorn sets up this logger, so its lines appear in the server's output.
logger = logging.getLogger("uvicorn.error")

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_bool(name: str, value: str) -> bool:
    """Read a yes-or-no environment variable, or raise ValueError naming it."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(
        f"{name} must be one of {', '.join(TRUE_WORDS + FALSE_WORDS)}, not {value!r}"
    )


@dataclass(frozen=True)
class Settings:
    """The app's settings, read from environment variables when it starts."""

    app_name: str
    docs_enabled: bool
    shutdown_log: Path | None


# TODO 1 (done): every setting comes from the environment and has a default, so
# the same image runs anywhere and the app starts with no variable set.
def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    shutdown_log = environ.get("SHUTDOWN_LOG")
    return Settings(
        app_name=environ.get("APP_NAME", "Deployment demo"),
        docs_enabled=parse_bool("DOCS_ENABLED", environ.get("DOCS_ENABLED", "true")),
        shutdown_log=Path(shutdown_log) if shutdown_log else None,
    )


settings = load_settings()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    logger.info("Worker %s started as %r", os.getpid(), settings.app_name)
    yield
    # TODO 2 (done): uvicorn runs this part after the requests in flight have
    # finished, which is where a real app flushes buffers and closes pools.
    if settings.shutdown_log is not None:
        with settings.shutdown_log.open("a", encoding="utf-8") as log:
            log.write(f"worker {os.getpid()} shut down\n")
    logger.info("Worker %s shut down", os.getpid())


# TODO 3 (done): with docs_url, redoc_url and openapi_url set to None, the
# API description is not served at all.
app = FastAPI(
    title=settings.app_name,
    version="1.0.0",
    lifespan=lifespan,
    docs_url="/docs" if settings.docs_enabled else None,
    redoc_url="/redoc" if settings.docs_enabled else None,
    openapi_url="/openapi.json" if settings.docs_enabled else None,
)


# TODO 4 (done): the pid shows which worker process responded.
@app.get("/health")
async def health() -> dict[str, str | int]:
    return {"status": "ok", "app": settings.app_name, "pid": os.getpid()}


@app.get("/work")
async def work(
    seconds: Annotated[float, Query(gt=0, le=5)] = 0.5,
) -> dict[str, float]:
    """Wait `seconds`, standing in for a request that takes a while."""
    await asyncio.sleep(seconds)
    return {"waited": seconds}
