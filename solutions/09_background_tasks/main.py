"""Chapter 09: background tasks that run after the response is sent.

Run it by hand with:  uvicorn main:app --reload
Each notification appends one line to NOTIFICATION_LOG (notifications.log in the
current folder by default) NOTIFICATION_DELAY seconds (1.0 by default) after the
response.
"""

import os
import time
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import BackgroundTasks, FastAPI, Path, status

NOTIFICATION_LOG = FilePath(os.environ.get("NOTIFICATION_LOG", "notifications.log"))
# How long sending one notification takes, in seconds. The task sleeps this
# long to simulate the time a real mail server needs to accept a message.
NOTIFICATION_DELAY = float(os.environ.get("NOTIFICATION_DELAY", "1.0"))

# Simple on purpose: one "@", no spaces or slashes, and a dot in the domain.
EMAIL_PATTERN = r"^[^@\s/]+@[^@\s/]+\.[^@\s/]+$"

app = FastAPI(title="Background tasks", version="1.0.0")


# TODO 1 (done): a plain `def` task runs in FastAPI's thread pool, so time.sleep
#                blocks one worker thread and not the event loop. Mode "a" appends.
def write_notification(email: str) -> None:
    time.sleep(NOTIFICATION_DELAY)
    with NOTIFICATION_LOG.open("a", encoding="utf-8") as log:
        log.write(f"notification sent to {email}\n")


# TODO 2 (done): add_task only records the call. FastAPI runs it after the response
#                has been sent, so the client does not wait for it, and an email that
#                fails the pattern gets a 422 before the endpoint (and add_task) runs.
@app.post("/send-notification/{email}", status_code=status.HTTP_202_ACCEPTED)
async def send_notification(
    email: Annotated[str, Path(pattern=EMAIL_PATTERN)],
    background_tasks: BackgroundTasks,
) -> dict[str, str]:
    background_tasks.add_task(write_notification, email)
    return {"message": "Notification queued", "email": email}
