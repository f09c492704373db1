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


# TODO 1: GET /items/ returns a page of ITEMS as a list: the `limit` items starting at
#         index `skip`. skip is an int, 0 or more, default 0. limit is an int from 1
#         to 100, default 10. Values out of range get a 422.
# TODO 2: Add q (str or None, default None). When given, keep only the items whose
#         name contains q. Filter before you take the page.
# TODO 3: Add in_stock (bool or None, default None). When given, keep only the items
#         whose "in_stock" equals it. Every spelling Pydantic reads as a bool
#         works, in any case: true/false, 1/0, yes/no, t/f, y/n and on/off.
# TODO 4: Add tag (a list of str or None, default None), read from repeated keys as in
#         ?tag=dairy&tag=bakery with Query(). When given, keep only the items that
#         have at least one of those tags.
# TODO 5: GET /items/{item_id}/quote takes a required int query parameter quantity
#         (1 or more) and returns {"item_id": ..., "quantity": ..., "total": price
#         times quantity}, or raises HTTPException 404 when no item has that id.
