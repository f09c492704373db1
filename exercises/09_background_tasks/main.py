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


# TODO 1: Write `write_notification(email)`, a plain `def` that sleeps
#         NOTIFICATION_DELAY seconds, then appends the line
#         "notification sent to <email>" and a newline to NOTIFICATION_LOG.


# TODO 2: POST /send-notification/{email} takes email as a path parameter that must
#         match EMAIL_PATTERN (others get 422), hands write_notification to
#         BackgroundTasks with add_task, and returns status 202 with
#         {"message": "Notification queued", "email": email} without waiting for it.
