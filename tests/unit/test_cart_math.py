"""Money and cart arithmetic (SPEC §1, §3 validate_cart): Decimal end to end, half-up cents."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from activities.order import estimated_delivery
from models.money import to_money
from models.order import ValidatedItem, cart_totals, reservation_order_id, shipping_for


def _item(product_id: int, price: str, quantity: int) -> ValidatedItem:
    return ValidatedItem(
        product_id=product_id,
        name=f"Widget {product_id}",
        price=Decimal(price),
        quantity=quantity,
        line_total=Decimal(price) * quantity,
    )


SAMPLE = [_item(1, "29.99", 2), _item(2, "49.99", 1)]


def test_sample_order_totals_are_exact_decimals() -> None:
    subtotal, tax, shipping, total = cart_totals(SAMPLE)

    assert (subtotal, tax, shipping, total) == (
        Decimal("109.97"),
        Decimal("8.80"),
        Decimal("5.99"),
        Decimal("124.76"),
    )
    assert all(isinstance(v, Decimal) for v in (subtotal, tax, shipping, total))
    assert str(total) == "124.76"
    assert str(tax) == "8.80"  # cents kept, not "8.8"


def test_float_arithmetic_would_not_be_exact() -> None:
    """The reason money is Decimal: the same sum in floats misses by a rounding error."""
    float_total = 29.99 * 2 + 49.99 + 8.80 + 5.99
    assert float_total != 124.76
    assert repr(float_total) == "124.75999999999999"
    assert cart_totals(SAMPLE)[3] == Decimal("124.76")


def test_line_totals_come_from_price_times_quantity() -> None:
    assert [item.line_total for item in SAMPLE] == [Decimal("59.98"), Decimal("49.99")]


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        (1, "5.99"),
        (4, "5.99"),  # 2 lb: the upper bound of the first tier
        (5, "9.99"),  # 2.5 lb
        (20, "9.99"),  # 10 lb: the upper bound of the second tier
        (21, "14.99"),  # 10.5 lb
        (200, "14.99"),
    ],
)
def test_shipping_tiers_by_weight(units: int, expected: str) -> None:
    assert shipping_for(units) == Decimal(expected)


@pytest.mark.parametrize(
    ("items", "shipping"),
    [
        ([_item(1, "1.00", 4)], "5.99"),
        ([_item(1, "1.00", 3), _item(2, "1.00", 2)], "9.99"),  # units add up across lines
        ([_item(1, "1.00", 20)], "9.99"),
        ([_item(1, "1.00", 11), _item(2, "1.00", 10)], "14.99"),
    ],
)
def test_cart_shipping_counts_units_across_lines(items: list[ValidatedItem], shipping: str) -> None:
    assert cart_totals(items)[2] == Decimal(shipping)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.125"), "0.13"),  # banker's rounding would give 0.12
        (Decimal("2.675"), "2.68"),  # float round(2.675, 2) gives 2.67
        (Decimal("8.7976"), "8.80"),  # the sample order's tax, 109.97 * 0.08
        (Decimal("0.0049"), "0.00"),
        (Decimal("-0.125"), "-0.13"),  # half away from zero
    ],
)
def test_to_money_rounds_half_up_to_cents(value: Decimal, expected: str) -> None:
    assert str(to_money(value)) == expected


@pytest.mark.parametrize(
    ("price", "tax"),
    [
        ("0.07", "0.01"),  # 0.0056 rounds up
        ("0.06", "0.00"),  # 0.0048 rounds down
        ("10.07", "0.81"),  # 0.8056
        ("31.25", "2.50"),  # exactly 2.5
    ],
)
def test_cart_tax_is_eight_percent_rounded_to_cents(price: str, tax: str) -> None:
    subtotal, computed_tax, shipping, total = cart_totals([_item(1, price, 1)])
    assert computed_tax == Decimal(tax)
    assert total == subtotal + computed_tax + shipping
    assert total.as_tuple().exponent == -2


def test_empty_cart_totals_only_shipping() -> None:
    assert cart_totals([]) == (Decimal("0.00"), Decimal("0.00"), Decimal("5.99"), Decimal("5.99"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (29.99, "29.99"),  # via str: Decimal(29.99) would be 29.98999999999999843...
        (0.1 + 0.2, "0.30"),
        (124.75999999999999, "124.76"),
        (5, "5.00"),
        ("49.99", "49.99"),
        (Decimal("1.005"), "1.01"),
    ],
)
def test_to_money_converts_floats_via_str(value: object, expected: str) -> None:
    amount = to_money(value)
    assert isinstance(amount, Decimal)
    assert str(amount) == expected


def test_float_via_decimal_constructor_would_differ() -> None:
    assert Decimal(29.99) != Decimal("29.99")  # noqa: RUF032 (the point of the test)
    assert to_money(29.99) == Decimal("29.99")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "money cannot be a boolean"),
        (False, "money cannot be a boolean"),
        (float("nan"), "not an amount of money"),
        (float("inf"), "not an amount of money"),
        (Decimal("NaN"), "not an amount of money"),
        ("Infinity", "not an amount of money"),
        (None, "not an amount of money"),
        ([29.99], "not an amount of money"),
    ],
)
def test_to_money_rejects_non_amounts(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_money(value)


def test_money_field_rejects_a_boolean_price() -> None:
    with pytest.raises(ValueError, match="boolean"):
        ValidatedItem(product_id=1, name="x", price=True, quantity=1, line_total="1.00")


def test_money_serialises_as_string() -> None:
    assert SAMPLE[0].model_dump(mode="json")["line_total"] == "59.98"


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        (datetime(2026, 11, 22, 10, 30, tzinfo=UTC), "November 29, 2026"),
        (datetime(2026, 11, 21, tzinfo=UTC), "November 28, 2026"),
        (datetime(2026, 12, 28, tzinfo=UTC), "January 4, 2027"),  # no zero padding, new year
        (datetime(2028, 2, 25, tzinfo=UTC), "March 3, 2028"),  # leap year
    ],
)
def test_estimated_delivery_is_seven_days_on(created_at: datetime, expected: str) -> None:
    assert estimated_delivery(created_at) == expected


@pytest.mark.parametrize(
    ("customer_id", "expected"),
    [
        (42, "wf-order-1:42"),
        ("cust-7", "wf-order-1:cust-7"),
        (0, "wf-order-1:0"),  # a falsy id is still an id
        (None, "wf-order-1:guest"),
    ],
)
def test_reservation_order_id(customer_id: int | str | None, expected: str) -> None:
    assert reservation_order_id("wf-order-1", customer_id) == expected


def test_reservation_order_id_differs_per_workflow() -> None:
    assert reservation_order_id("wf-a", 42) != reservation_order_id("wf-b", 42)


def test_to_money_rejects_text_that_is_not_a_number() -> None:
    with pytest.raises(ValueError, match="not an amount of money"):
        to_money("abc")
