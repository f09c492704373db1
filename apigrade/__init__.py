"""Grade a FastAPI course's chapters by running each learner app in its own server."""

__version__ = "0.1.0"
