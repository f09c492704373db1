"""Chapter 04: query parameters: pagination, filters, flags and lists.

Run it by hand with:  uvicorn main:app --reload
"""

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query

app = FastAPI(title="Query parameters", version="1.0.0")

# The shop's catalogue as (name, price, tags, in_stock), in a fixed order. Leave it
# as it is: the grader expects exactly these items, in this order.
CATALOGUE = [
    ("apple", 0.5, ["fruit"], True),
    ("banana", 0.25, ["fruit"], True),
    ("strawberry", 3.5, ["fruit"], True),
    ("carrot", 0.75, ["vegetable"], True),
    ("milk", 1.25, ["dairy", "drink"], True),
    ("bread", 2.5, ["bakery"], True),
    ("blueberry", 4.0, ["fruit"], False),
    ("cheddar", 5.75, ["dairy"], True),
    ("spinach", 2.25, ["vegetable"], False),
    ("croissant", 1.5, ["bakery"], True),
    ("orange juice", 3.25, ["drink"], True),
    ("raspberry", 4.5, ["fruit"], True),
    ("yogurt", 1.0, ["dairy"], True),
    ("potato", 0.5, ["vegetable"], True),
    ("bagel", 1.25, ["bakery"], False),
    ("lemonade", 2.0, ["drink"], True),
    ("blackberry", 4.25, ["fruit"], False),
    ("butter", 2.75, ["dairy"], True),
    ("onion", 0.5, ["vegetable"], True),
    ("sourdough", 4.0, ["bakery"], True),
    ("sparkling water", 0.75, ["drink"], True),
    ("cranberry", 3.75, ["fruit"], True),
    ("cream cheese", 2.5, ["dairy"], False),
    ("tomato", 1.5, ["vegetable"], True),
    ("iced tea", 1.75, ["drink"], False),
]

# The items as the API returns them, with ids 1 to 25, for example
# {"id": 1, "name": "apple", "price": 0.5, "tags": ["fruit"], "in_stock": true}.
ITEMS: list[dict[str, Any]] = [
    {"id": number, "name": name, "price": price, "tags": tags, "in_stock": in_stock}
    for number, (name, price, tags, in_stock) in enumerate(CATALOGUE, start=1)
]


# TODO 1 (done): a default makes a query parameter optional, and Query(ge=..., le=...)
#                adds bounds that FastAPI enforces with a 422 before the function runs.
#                limit is a count, so the page ends at skip + limit.
# TODO 2 (done): q filters before the slice, so skip and limit count matching items.
# TODO 3 (done): a bool annotation makes FastAPI convert true/false, 1/0 and yes/no.
# TODO 4 (done): without Query(), FastAPI would read a list parameter from the body.
@app.get("/items/")
async def list_items(
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    q: str | None = None,
    in_stock: bool | None = None,
    tag: Annotated[list[str] | None, Query()] = None,
) -> list[dict[str, Any]]:
    found = ITEMS
    if q is not None:
        found = [item for item in found if q in item["name"]]
    if in_stock is not None:
        found = [item for item in found if item["in_stock"] == in_stock]
    if tag is not None:
        found = [item for item in found if set(tag) & set(item["tags"])]
    return found[skip : skip + limit]


# TODO 5 (done): a query parameter without a default is required, so a request
#                without it gets a 422 that names it.
@app.get("/items/{item_id}/quote")
async def quote_item(
    item_id: int, quantity: Annotated[int, Query(ge=1)]
) -> dict[str, Any]:
    for item in ITEMS:
        if item["id"] == item_id:
            total = item["price"] * quantity
            return {"item_id": item_id, "quantity": quantity, "total": total}
    raise HTTPException(status_code=404, detail="Item not found")
