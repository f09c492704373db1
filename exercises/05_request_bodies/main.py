"""Chapter 05: request bodies: Pydantic models, validation and response models.

Run it by hand with:  uvicorn main:app --reload
"""

from typing import Any

from fastapi import FastAPI, HTTPException, status
from pydantic import BaseModel, Field

app = FastAPI(title="Request bodies", version="1.0.0")


# TODO 1: Write a Pydantic model Item with name (str), description (str, optional,
#         default None), price (float, greater than 0) and tax (float, optional,
#         default None). Leaving out an optional field must not be a 422.
# TODO 2: POST /items/ takes an Item body and returns its fields as a dict (status
#         200), plus "price_with_tax": price + tax whenever tax is given, 0 included.
# TODO 3: Write a model Address with street, city and postcode, all str.
# TODO 4: Write a model UserOut with username (str), full_name (str, optional,
#         default None) and address (an Address), and a model UserIn that adds
#         password (str) to UserOut's fields.
# TODO 5: POST /users/ takes a UserIn body, stores it by username and returns 201.
#         GET /users/{username} returns the stored user, or raises HTTPException 404.
#         Neither response may contain the password: give both routes
#         response_model=UserOut.
