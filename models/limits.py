"""Input limits: the bounds every saga request is held to, whichever front end sends it.

The config's JSON Schema says what a request must contain (required fields, types, enums,
minimums); these types add what a schema cannot say or what the code needs to hold: amounts
exact to the cent, integers that fit every store and wire they travel through, strings
short enough for the UI, search attributes and gRPC's 4 MB message, and free of characters
that hide or reorder text. Amounts are :data:`models.money.Amount`; the README's "Input
limits" explains each bound.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, Field, TypeAdapter
from pydantic_core import PydanticCustomError

MAX_ID: Final = 2**31 - 1
"""Product and customer ids fit a signed 32-bit integer: every store and JSON reader holds
them exactly."""
MAX_QUANTITY: Final = 10_000
MAX_CART_ITEMS: Final = 100
MAX_TEXT: Final = 200
MAX_EMAIL: Final = 254
"""RFC 5321's longest forward path, less its angle brackets."""
MAX_IDENTIFIER: Final = 128

_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Control characters (Unicode category Cc), and the bidi embeddings, overrides and isolates
that reorder what a reader sees. (Lone surrogates, which UTF-8 cannot carry, never get
here: pydantic refuses them in any string with a length bound.)"""
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]+")


def _visible(text: str) -> str:
    """Refuse text carrying a character of ``_HIDDEN``, naming the first one and where."""
    found = _HIDDEN.search(text)
    if found:
        raise PydanticCustomError(
            "hidden_character",
            "must not contain control characters (U+{code} at position {position})",
            {"code": f"{ord(found.group()):04X}", "position": found.start()},
        )
    return text


def _identifier(text: str) -> str:
    """Refuse ids that could not travel as a header, a search attribute or a log field."""
    if not _IDENTIFIER.fullmatch(text):
        raise PydanticCustomError(
            "identifier", "must consist of letters, digits and the characters _ . : -"
        )
    return text


Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_visible)]
"""Names, addresses, tokens and the like."""
Email = Annotated[str, Field(max_length=MAX_EMAIL), AfterValidator(_visible)]
"""An address's format is the schema's (``format: email``); its size and characters are here."""
Identifier = Annotated[str, Field(max_length=MAX_IDENTIFIER), AfterValidator(_identifier)]
"""Correlation and workflow ids: sent as ``X-Correlation-ID``, stored as search attributes."""
Id = Annotated[int, Field(ge=-MAX_ID - 1, le=MAX_ID)]
Quantity = Annotated[int, Field(le=MAX_QUANTITY)]


_ID: Final = TypeAdapter(Id)
_TEXT: Final = TypeAdapter(Text)


def _id_or_text(value: int | str) -> int | str:
    """Hold an id given as a number to Id's bounds and one given as text to Text's: one
    error at the field, not one per member of the union."""
    return _ID.validate_python(value) if isinstance(value, int) else _TEXT.validate_python(value)


IdOrText = Annotated[int | str, AfterValidator(_id_or_text)]
"""A customer id: the schema allows a number or a string."""
