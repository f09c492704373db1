"""Chapter 03: path parameters, their types, and route order.

Run it by hand with:  uvicorn main:app --reload
"""

from enum import Enum

from fastapi import FastAPI

app = FastAPI(title="Path parameters", version="1.0.0")


class ModelName(str, Enum):
    """The only model names the API knows."""

    alexnet = "alexnet"
    resnet = "resnet"
    lenet = "lenet"


# TODO 1 (done): the int annotation makes FastAPI convert and validate the value.
@app.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}


# TODO 2 (done): an Enum annotation accepts only the Enum's values.
@app.get("/models/{model_name}")
async def read_model(model_name: ModelName) -> dict[str, str]:
    if model_name is ModelName.lenet:
        message = "LeCun's network, the oldest of the three"
    else:
        message = f"{model_name.value} is a deep convolutional network"
    return {"model_name": model_name.value, "message": message}


# TODO 3 (done): routes are matched in the order they are declared.
@app.get("/users/me")
async def read_current_user() -> dict[str, str]:
    return {"user_id": "the current user"}


# TODO 4 (done): declared after /users/me, so it never sees "me".
@app.get("/users/{user_id}")
async def read_user(user_id: int) -> dict[str, int]:
    return {"user_id": user_id}
