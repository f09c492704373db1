"""Chapter 01: your first FastAPI app.

Run it by hand with:  uvicorn main:app --reload
Then open http://127.0.0.1:8000/docs in a browser.
"""

from fastapi import FastAPI

# TODO 1 (done): the title and version show up in /docs and /openapi.json.
app = FastAPI(title="First App", version="1.0.0")


# TODO 2 (done): the decorator registers the function for GET requests to "/".
@app.get("/")
async def read_root() -> dict[str, str]:
    return {"Hello": "World"}
