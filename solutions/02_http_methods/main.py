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


# TODO 1 (done): status_code sets the status of every successful response.
@app.post("/items/", status_code=status.HTTP_201_CREATED)
async def create_item(item: ItemIn) -> Item:
    global next_id
    stored = Item(id=next_id, **item.model_dump())
    items[next_id] = stored
    next_id += 1
    return stored


# TODO 2 (done)
@app.get("/items/")
async def list_items() -> list[Item]:
    return list(items.values())


# TODO 3 (done): a raised HTTPException becomes the response; a returned one would
# be sent as an ordinary 200 body.
@app.get("/items/{item_id}")
async def read_item(item_id: int):
    if item_id not in items:
        raise HTTPException(status_code=404, detail="Item not found")
    return items[item_id]


def find_item(item_id: int) -> Item:
    if item_id not in items:
        raise HTTPException(status_code=404, detail="Item not found")
    return items[item_id]


# TODO 4 (done): PUT sends the whole item, so the new model replaces the old one.
@app.put("/items/{item_id}")
async def replace_item(item_id: int, item: ItemIn) -> Item:
    find_item(item_id)
    items[item_id] = Item(id=item_id, **item.model_dump())
    return items[item_id]


# TODO 5 (done): exclude_unset keeps only the fields present in the request body.
@app.patch("/items/{item_id}")
async def update_item(item_id: int, changes: ItemPatch) -> Item:
    stored = find_item(item_id)
    items[item_id] = stored.model_copy(update=changes.model_dump(exclude_unset=True))
    return items[item_id]


# TODO 6 (done): 204 means "no content", so the response has no body at all.
@app.delete("/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_item(item_id: int) -> Response:
    find_item(item_id)
    del items[item_id]
    return Response(status_code=status.HTTP_204_NO_CONTENT)
