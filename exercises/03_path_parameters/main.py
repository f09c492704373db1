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


# TODO 1: GET /items/{item_id} returns {"item_id": item_id}, with item_id declared as
#         an int so that "/items/42" gives the number 42 and "/items/abc" gives a 422.
# TODO 2: GET /models/{model_name} returns {"model_name": model_name, "message": "..."},
#         with model_name declared as a ModelName so that other names give a 422.
# TODO 3: GET /users/me returns {"user_id": "the current user"}.
# TODO 4: GET /users/{user_id} returns {"user_id": user_id}, with user_id as an int.
#         Declare it after /users/me, so that "/users/me" still reaches TODO 3's route.
