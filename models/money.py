"""Money is Decimal, rounded half-up to cents, serialised as a string.

:data:`Money` rounds: it holds what the saga computes (tax, totals) and what services
answer. :data:`Amount` refuses: it holds what a customer asks to pay, where rounding would
charge a sum nobody wrote.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer

CENT = Decimal("0.01")
MAX_AMOUNT: Final = Decimal("1000000.00")
"""The largest amount a request may name: a bound far above any cart, so a typo or an
exponent (``1e400``) is refused instead of charged or carried."""
_AS_STRING = PlainSerializer(lambda amount: str(amount), return_type=str)


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


Money = Annotated[Decimal, BeforeValidator(to_money), _AS_STRING]

Amount = Annotated[
    Decimal,
    Field(le=MAX_AMOUNT, decimal_places=2, allow_inf_nan=False),
    AfterValidator(to_money),
    _AS_STRING,
]
"""An amount as the request wrote it: finite, at most MAX_AMOUNT, refused (never rounded)
beyond cents; then held as cents (``1E+2`` reads ``100.00``). Its minimum is the schema's."""
