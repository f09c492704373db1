"""Chapter 01: your first FastAPI app.

Run it by hand with:  uvicorn main:app --reload
Then open http://127.0.0.1:8000/docs in a browser.
"""

from fastapi import FastAPI

# TODO 1: Give the app its own title and version: FastAPI(title=..., version=...).
#         Any title other than "FastAPI" and any version other than "0.1.0".
app = FastAPI()


# TODO 2: Add a GET route for "/" that returns {"Hello": "World"}.
