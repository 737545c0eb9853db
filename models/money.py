"""Money is Decimal, rounded half-up to cents, serialised as a string."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

CENT = Decimal("0.01")


def to_money(value: object) -> Decimal:
    """Accept str, int, float or Decimal; floats go through ``str`` so 29.99 stays 29.99."""
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, bool):
        raise ValueError("money cannot be a boolean")
    elif isinstance(value, int | float | str):
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"not an amount of money: {value!r}") from None
    else:
        raise ValueError(f"not an amount of money: {value!r}")
    if not amount.is_finite():
        raise ValueError(f"not an amount of money: {value!r}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


Money = Annotated[
    Decimal,
    BeforeValidator(to_money),
    PlainSerializer(lambda amount: str(amount), return_type=str),
]
