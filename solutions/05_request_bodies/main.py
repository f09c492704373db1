"""Chapter 05: request bodies: Pydantic models, validation and response models.

Run it by hand with:  uvicorn main:app --reload
"""

from typing import Any

from fastapi import FastAPI, HTTPException, status
from pydantic import BaseModel, Field

app = FastAPI(title="Request bodies", version="1.0.0")


# TODO 1 (done): in Pydantic v2 a field is optional only when it has a default, so
#                the optional fields end in `= None`. gt=0 rejects prices of 0 or less.
class Item(BaseModel):
    """An item as a client sends it in a request body."""

    name: str
    description: str | None = None
    price: float = Field(gt=0)
    tax: float | None = None


# TODO 2 (done): a parameter annotated with a model is read from the JSON body.
#                Compare tax with None, because a tax of 0 is still a tax.
@app.post("/items/")
async def create_item(item: Item) -> dict[str, Any]:
    result = item.model_dump()
    if item.tax is not None:
        result["price_with_tax"] = item.price + item.tax
    return result


# TODO 3 (done): a model used as a field type nests one JSON object in another,
#                and FastAPI validates the inner object too.
class Address(BaseModel):
    """A postal address, nested in a user."""

    street: str
    city: str
    postcode: str


# TODO 4 (done): UserIn adds the password to UserOut's fields, so a UserIn can be
#                returned wherever a UserOut is expected.
class UserOut(BaseModel):
    """A user as the API returns it: every field except the password."""

    username: str
    full_name: str | None = None
    address: Address


class UserIn(UserOut):
    """A user as a client sends it to sign up, password included."""

    password: str


# The users by username. Kept in memory: they are gone when the server stops.
# NOTE: a real app stores a hash of the password, never the password itself.
users: dict[str, UserIn] = {}


# TODO 5 (done): response_model takes precedence over the return annotation, so
#                FastAPI filters the stored UserIn down to UserOut's fields and the
#                password never leaves the server.
@app.post("/users/", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def create_user(user: UserIn) -> UserIn:
    users[user.username] = user
    return user


@app.get("/users/{username}", response_model=UserOut)
async def read_user(username: str) -> UserIn:
    if username not in users:
        raise HTTPException(status_code=404, detail="User not found")
    return users[username]
