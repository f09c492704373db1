"""Chapter 02: one resource, every HTTP method.

Run it by hand with:  uvicorn main:app --reload
"""

from fastapi import FastAPI, HTTPException, Response, status
from pydantic import BaseModel, field_validator

app = FastAPI(title="Inventory", version="1.0.0")


class ItemIn(BaseModel):
    """What a client sends to create or replace an item."""

    name: str
    price: float
    description: str | None = None


class ItemPatch(BaseModel):
    """A change to some fields of an item, as a client sends it.

    Each field may be left out, but only the description may be null, because
    a stored item always has a name and a price.
    """

    name: str | None = None
    price: float | None = None
    description: str | None = None

    # Pydantic does not validate defaults, so this runs only on a name or price
    # the client sent. model_copy(update=...) does not validate what it stores.
    @field_validator("name", "price")
    @classmethod
    def reject_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must not be null. Leave the field out to keep its value")
        return value


class Item(ItemIn):
    """An item as stored and returned, with its id."""

    id: int


# The items, by id. Kept in memory: they are gone when the server stops.
items: dict[int, Item] = {}
next_id = 1


# TODO 1: POST /items/ stores a new item with the next id and returns it with
#         status 201.
# TODO 2: GET /items/ returns every item as a list.
# TODO 3: GET /items/{item_id} returns one item, or raises HTTPException(404)
#         when it is missing.
# TODO 4: PUT /items/{item_id} replaces the whole item (fields left out go back to their
#         defaults) and returns it; 404 when it is missing.
# TODO 5: PATCH /items/{item_id} changes only the fields the client sent and returns the
#         item; 404 when it is missing. Hint: model_dump(exclude_unset=True).
# TODO 6: DELETE /items/{item_id} removes the item and returns an empty 204 response;
#         404 when it is missing.
