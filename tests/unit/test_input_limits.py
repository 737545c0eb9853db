"""Issue 9, item 3: every bad input to the CLI is refused with exit 2, one clear message and
nothing started; what starts is what was written, within the limits.

``starter.main`` runs for real, with the connection and the start replaced by a spy: no
Temporal server, and a start from bad input would be seen, not just a crash.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from contextlib import redirect_stderr, redirect_stdout
from copy import deepcopy
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import starter
from plumbing.connection import TemporalSettings
from sagas.catalogue import catalogue, saga
from sagas.inputs import MAX_LISTED, InputError, JSONNumber, parse_request, read_request
from sagas.lifecycle import Submission
from sagas.prepare import InvalidInput, Prepared, prepare

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ORDER = json.loads((EXAMPLES / "order_sample.json").read_text())
REGISTRATION = json.loads((EXAMPLES / "registration_sample.json").read_text())


@dataclass(frozen=True)
class Run:
    code: int
    err: str
    started: list[Prepared]


PARSER = starter.build_parser(TemporalSettings.from_env())
"""Built once: argparse takes most of a run's time, and a parser can parse again."""


def run(*argv: str) -> Run:
    """``starter.main`` with the start spied on; any exception escapes."""
    started: list[Prepared] = []

    async def connect(settings: TemporalSettings) -> object:
        return object()

    async def start_saga(client: object, prepared: Prepared, task_queue: str) -> Any:
        started.append(prepared)
        handle: Any = SimpleNamespace(id=prepared.workflow_id)
        return Submission(handle, True, "in_progress")

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        patch.setattr(starter, "build_parser", lambda defaults: PARSER)
        patch.setattr(starter, "connect", connect)
        patch.setattr(starter, "start_saga", start_saga)
        code = starter.main(list(argv))
    return Run(code, err.getvalue(), started)


def refused(result: Run) -> str:
    """The message of a refusal, after checking it is one: exit 2, no traceback, no start."""
    assert result.code == 2, result.err
    assert result.started == []
    assert result.err
    assert "Traceback" not in result.err
    return result.err


SAMPLES_BY_COMMAND = {"order": ORDER, "register": REGISTRATION}


def _step(node: Any, part: str) -> Any:
    return node[int(part)] if isinstance(node, list) else node[part]


def value_at(command: str, path: str) -> Any:
    """The value at dotted ``path`` (``cart_items.0.name``) of the command's sample."""
    node: Any = SAMPLES_BY_COMMAND[command]
    for part in path.split("."):
        node = _step(node, part)
    return node


def changed(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``document`` with the value at dotted ``path`` replaced."""
    copy = deepcopy(document)
    *parents, last = path.split(".")
    node: Any = copy
    for part in parents:
        node = _step(node, part)
    node[int(last) if isinstance(node, list) else last] = value
    return copy


def write(path: Path, content: str | bytes) -> str:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


# -- the cases of the issue, and their kin --------------------------------------------------


def _with_amount(text: str) -> str:
    return json.dumps(ORDER).replace("124.76", text)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"cart_items": "\xff"}', "not UTF-8 (byte 0xff at offset 16)"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8 (byte 0xff at offset 0)"),  # UTF-16
        (_with_amount("NaN"), "$.payment_info.amount: NaN is not a number"),
        (_with_amount("Infinity"), "$.payment_info.amount: Infinity is not a number"),
        (_with_amount("-Infinity"), "$.payment_info.amount: -Infinity is not a number"),
        (_with_amount("1e400"), "$.payment_info.amount: must be at most 1000000.00"),
        (_with_amount("124.759"), "$.payment_info.amount: must have at most 2 decimal places"),
        (_with_amount("124.7600000000000000001"), "must have at most 2 decimal places"),
        (_with_amount("0"), "$.payment_info.amount: must be more than 0"),
        (_with_amount("1" * 5000), "$.payment_info.amount: a number of 5000 characters"),
        (
            json.dumps(changed(ORDER, "cart_items.0.price", 29.999)),
            "$.cart_items[0].price: must have at most 2 decimal places",
        ),
        (
            json.dumps(changed(ORDER, "cart_items.0.product_id", 10**30)),
            "$.cart_items[0].product_id: must be at most 2147483647",
        ),
        (
            json.dumps(changed(ORDER, "cart_items.1.quantity", 2**63)),
            "$.cart_items[1].quantity: must be at most 10000",
        ),
        (
            json.dumps(changed(ORDER, "customer_info.id", 2**63)),
            "$.customer_info.id: must be at most 2147483647",
        ),
        (
            json.dumps(changed(ORDER, "cart_items", [{"product_id": 1, "quantity": 1}] * 101)),
            "$.cart_items: must have at most 100 items",
        ),
        (
            json.dumps(changed(ORDER, "customer_info.name", "n" * 201)),
            "$.customer_info.name: must be at most 200 characters",
        ),
        (
            json.dumps(changed(ORDER, "customer_info.email", "e" * 250 + "@x.io")),
            "$.customer_info.email: must be at most 254 characters",
        ),
        (
            json.dumps({**ORDER, "correlation_id": "c" * 100_000}),
            "$.correlation_id: must be at most 128 characters",
        ),
        (
            json.dumps({**ORDER, "correlation_id": "a b\r\nX-Injected: 1"}),
            "$.correlation_id: must consist of letters, digits and the characters _ . : -",
        ),
        (
            json.dumps(changed(ORDER, "customer_info.name", "Jane\u0000Doe")),
            "$.customer_info.name: must not contain control characters (U+0000 at position 4)",
        ),
        (
            json.dumps(changed(ORDER, "cart_items.0.name", "Widget \u202eA")),
            "$.cart_items[0].name: must not contain control characters (U+202E at position 7)",
        ),
        (
            json.dumps(changed(ORDER, "shipping_info.city", "Spring\ud800field")),
            "$.shipping_info.city: must be Unicode text (a lone surrogate such as \\ud800 is not)",
        ),
        (
            json.dumps(ORDER)[:-1] + ', "priority": "express"}',
            "$: key 'priority' appears more than once",
        ),
        (
            json.dumps(ORDER).replace('"amount"', '"amount": 1, "amount"'),
            "$.payment_info: key 'amount' appears more than once",
        ),
        ("[" * 100_000, "nested more than 32 levels deep"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nested more than 32 levels deep"),
        (json.dumps({**ORDER, "note": "x" * (1 << 20)}), "larger than 1048576 bytes (1 MiB)"),
    ],
)  # fmt: skip
def test_order_input_refused(tmp_path: Path, content: str | bytes, message: str) -> None:
    assert message in refused(run("order", write(tmp_path / "order.json", content)))


def test_a_ten_megabyte_name_and_a_huge_cart_are_refused_unread(tmp_path: Path) -> None:
    """The issue's 10 MB name (over gRPC's 4 MB) and 200,000-item cart (rc 134 once)."""
    name = json.dumps(changed(ORDER, "customer_info.name", "n" * 10_000_000))
    cart = json.dumps(changed(ORDER, "cart_items", [{"product_id": 1, "quantity": 1}] * 200_000))
    for content in (name, cart):
        message = refused(run("order", write(tmp_path / "big.json", content)))
        assert (
            message
            == f"error: {tmp_path / 'big.json'}: larger than 1048576 bytes (1 MiB), the limit\n"
        )


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("user_info.name", "Sarah\u0000Chen", "$.user_info.name: must not contain control"),
        ("user_info.company", "Growth\u2066Corp", "$.user_info.company: must not contain control"),
        ("user_info.email", "s" * 300 + "@x.io", "$.user_info.email: must be at most 254"),
        ("billing_info.billing_address.zip", "9" * 201, "billing_address.zip: must be at most 200"),
        ("correlation_id", "x" * 129, "$.correlation_id: must be at most 128 characters"),
    ],
)
def test_registration_input_refused(tmp_path: Path, path: str, value: str, message: str) -> None:
    file = write(tmp_path / "reg.json", json.dumps(changed(REGISTRATION, path, value)))
    assert message in refused(run("register", file))


def test_every_problem_is_listed_once_with_its_path(tmp_path: Path) -> None:
    """The schema's error wins where both see one; the limits add the rest."""
    data = changed(ORDER, "cart_items.0.product_id", "one")
    data = changed(data, "cart_items.1.quantity", 20_000)
    data = changed(data, "customer_info.name", "Jane\u202eDoe")
    message = refused(run("order", write(tmp_path / "order.json", json.dumps(data))))
    assert message.splitlines()[1:] == [
        "  $.cart_items[0].product_id: 'one' is not of type 'integer'",
        "  $.cart_items[1].quantity: must be at most 10000",
        "  $.customer_info.name: must not contain control characters (U+202E at position 4)",
    ]


def test_a_flood_of_problems_is_cut_short(tmp_path: Path) -> None:
    data = changed(ORDER, "cart_items", [{"product_id": 1, "quantity": 10**6}] * 60)
    lines = refused(run("order", write(tmp_path / "order.json", json.dumps(data)))).splitlines()
    assert len(lines) == 1 + MAX_LISTED + 1
    assert lines[-1] == "  ... and 40 more"


def test_a_bad_workflow_id_is_refused(tmp_path: Path) -> None:
    file = write(tmp_path / "order.json", json.dumps(ORDER))
    assert "workflow_id: must consist of letters" in refused(run("order", file, "--id", "a/b"))
    assert "workflow_id: must be at most 128" in refused(run("order", file, "--id", "i" * 129))


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ('{"a": NaN}', "--result: $.a: NaN is not a number"),
        ('{"a": 1, "a": 2}', "--result: $: key 'a' appears more than once"),
        ("[" * 100_000, "--result: nested more than 32 levels deep"),
        ('{"a": 1', "--result: invalid JSON at line 1, column 8"),
        ("[1]", "--result must be a JSON object"),
    ],
)
def test_intervene_result_refused_before_connecting(result: str, message: str) -> None:
    assert message in refused(run("intervene", "order-1", "resolve", "--result", result))


def test_config_show_input_is_read_the_same_way(tmp_path: Path) -> None:
    file = write(tmp_path / "ctx.json", '{"priority": "express", "priority": "standard"}')
    assert "key 'priority' appears more than once" in refused(
        run("config", "show", "order", "--input", file)
    )


def test_valid_examples_still_start_unchanged() -> None:
    """The samples start, under the ids they had when numbers were read as floats."""
    for command, name in [("order", "order_sample.json"), ("register", "registration_sample.json")]:
        descriptor = saga(command)
        result = run(command, str(EXAMPLES / name))
        assert (result.code, result.err) == (0, "")
        [prepared] = result.started
        legacy = prepare(descriptor, json.loads((EXAMPLES / name).read_text()))
        assert prepared.workflow_id == legacy.workflow_id
        assert prepared.request == legacy.request


def test_amounts_are_read_exactly_and_kept_as_cents() -> None:
    document = parse_request(b'{"a": 124.76, "b": 1E+2, "c": 7}', "x")
    assert document == {"a": Decimal("124.76"), "b": Decimal(100), "c": 7}
    assert isinstance(document["a"], JSONNumber)
    assert isinstance(document["c"], int)
    request = prepare(saga("order"), changed(ORDER, "payment_info.amount", Decimal("1E+2")))
    assert request.request.model_dump(mode="json")["order"]["payment_info"]["amount"] == "100.00"


def test_schema_messages_show_numbers_as_written() -> None:
    data = parse_request(json.dumps(changed(ORDER, "payment_info.amount", -5.5)).encode(), "x")
    with pytest.raises(InvalidInput) as refusal:
        prepare(saga("order"), data)
    assert [str(e) for e in refusal.value.errors] == [
        "$.payment_info.amount: -5.5 is less than the minimum of 0"
    ]


def test_a_byte_order_mark_is_allowed_and_offsets_count_it(tmp_path: Path) -> None:
    bom = b"\xef\xbb\xbf"
    assert read_request(write(tmp_path / "a.json", bom + b'{"a": 1}')) == {"a": 1}
    with pytest.raises(InputError, match=r"byte 0xff at offset 10\)"):
        read_request(write(tmp_path / "b.json", bom + b'{"a": "\xff"}'))


def test_an_unreadable_file_is_named() -> None:
    with pytest.raises(InputError, match=r"^/nonexistent\.json: cannot read \(No such file"):
        read_request("/nonexistent.json")


def test_long_schema_messages_are_shortened(tmp_path: Path) -> None:
    data = changed(ORDER, "cart_items.0.product_id", "9" * 500_000)
    message = refused(run("order", write(tmp_path / "order.json", json.dumps(data))))
    assert len(message) < 400
    assert message.rstrip().endswith("is not of type 'integer'")


# -- properties -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Obj:
    """A JSON object as written: its pairs in order, repeated keys included."""

    pairs: list[tuple[str, Any]]


def dumps(value: Any) -> str:
    """JSON text for ``value``; Decimals as written (NaN, Infinity, exponents and all)."""
    if isinstance(value, Obj | dict):
        pairs = value.pairs if isinstance(value, Obj) else value.items()
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in pairs) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(dumps, value)) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value)


def as_python(value: Any) -> Any:
    """What ``value`` reads back as (for an object, the last of a repeated key)."""
    if isinstance(value, Obj):
        return {key: as_python(child) for key, child in value.pairs}
    if isinstance(value, list):
        return [as_python(child) for child in value]
    return value


def as_obj(value: Any) -> Any:
    """A parsed sample as :class:`Obj` pairs, its floats as the decimals written."""
    if isinstance(value, dict):
        return Obj([(key, as_obj(child)) for key, child in value.items()])
    if isinstance(value, list):
        return [as_obj(child) for child in value]
    if isinstance(value, float):
        return Decimal(str(value))
    return value


HIDDEN_CHARS = st.characters(categories=["Cc", "Cs"]) | st.sampled_from(
    [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]]
)
TEXT = st.text(max_size=12) | st.text(HIDDEN_CHARS, min_size=1, max_size=3) | st.just("é" * 300)
NUMBERS = (
    st.integers(min_value=-(10**120), max_value=10**120)
    | st.integers(min_value=-3, max_value=20_000)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.decimals(min_value=-10, max_value=2_000_000, places=2)
)
KEYS = (
    st.sampled_from(["cart_items", "payment_info", "amount", "price", "quantity", "name", "email"])
    | st.sampled_from(["user_info", "correlation_id", "priority", "plan"])
    | st.text(max_size=4)
)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.lists(st.tuples(KEYS, inner), max_size=4).map(Obj)
    ),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with one place changed, usually deep inside: a value replaced (a scalar by a
    scalar), or a key added (maybe one already there)."""
    children = value.pairs if isinstance(value, Obj) else value if isinstance(value, list) else []
    if children and draw(st.integers(0, 4)):
        index = draw(st.integers(0, len(children) - 1))
        new = list(children)
        if isinstance(value, Obj):
            key, child = value.pairs[index]
            new[index] = (key, draw(mutated(child)))
            return Obj(new)
        new[index] = draw(mutated(value[index]))
        return new
    if isinstance(value, Obj) and draw(st.booleans()):
        return Obj([*value.pairs, (draw(KEYS), draw(VALUES))])
    return draw(VALUES if children else SCALARS)


def is_hidden(char: str) -> bool:
    """The limits' character rule, restated independently of models/limits.py."""
    return unicodedata.category(char) in ("Cc", "Cs") or char in (
        "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    )


def assert_within_limits(value: Any, key: str = "") -> None:
    """What a start carries meets the README's limits."""
    if isinstance(value, dict):
        for child_key, child in value.items():
            assert_within_limits(child, child_key)
    elif isinstance(value, list):
        assert len(value) <= 100
        for child in value:
            assert_within_limits(child, key)
    elif key in ("amount", "price") and value is not None:
        amount = Decimal(value)
        assert amount == amount.quantize(Decimal("0.01"))
        assert amount <= 1_000_000
        assert key == "price" or amount > 0
    elif key == "correlation_id" and value is not None:
        assert re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", value)
    elif isinstance(value, str):
        assert len(value) <= 254
        assert not any(map(is_hidden, value))
    elif isinstance(value, int) and not isinstance(value, bool):
        assert -(2**31) <= value < 2**31
        assert key != "quantity" or value <= 10_000


def assert_faithful(sent: Any, given: Any) -> None:
    """Every value a start carries is the value the request gave: nothing rounded or cut."""
    if isinstance(sent, dict):
        for key, child in sent.items():
            if isinstance(given, dict) and key in given:
                assert_faithful(child, given[key])
    elif isinstance(sent, list):
        assert len(sent) == len(given)
        for pair in zip(sent, given, strict=True):
            assert_faithful(*pair)
    elif isinstance(sent, str) and isinstance(given, Decimal | int) and not isinstance(given, bool):
        assert Decimal(sent) == given
    else:
        assert sent == given


def assert_refused_or_sound(result: Run, document: Any) -> None:
    if result.code == 2:
        refused(result)
        return
    assert (result.code, result.err) == (0, "")
    [prepared] = result.started
    request = prepared.request.model_dump(mode="json")
    given = request.get("order") or request["registration"]
    assert_within_limits(given)
    assert_faithful(given, as_python(document))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("requests")


PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SAMPLES = st.sampled_from(
    [(command, as_obj(sample)) for command, sample in SAMPLES_BY_COMMAND.items()]
)


@PROPERTY
@given(data=st.data(), sample=SAMPLES)
def test_mutated_examples_are_refused_or_start_sound(
    workdir: Path, data: st.DataObject, sample: tuple[str, Obj]
) -> None:
    command, document = sample
    document = data.draw(mutated(document))
    result = run(command, write(workdir / "request.json", dumps(document)))
    assert_refused_or_sound(result, document)


@PROPERTY
@given(document=VALUES, command=st.sampled_from(catalogue().commands))
def test_arbitrary_documents_are_refused_or_start_sound(
    workdir: Path, document: Any, command: str
) -> None:
    result = run(command, write(workdir / "request.json", dumps(document)))
    assert_refused_or_sound(result, document)


@PROPERTY
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_are_refused(workdir: Path, content: bytes) -> None:
    refused(run("order", write(workdir / "request.json", content)))


@PROPERTY
@given(content=st.binary(max_size=100) | VALUES.map(dumps).map(str.encode))
def test_reading_raises_only_input_errors(content: bytes) -> None:
    """Whatever the bytes: a document, or an InputError naming the source."""
    try:
        parse_request(content, "x")
    except InputError as err:
        message = str(err)
    else:
        return
    assert message.startswith("x: ")


def json_path(dotted: str) -> str:
    """``cart_items.0.price`` as the messages write it: ``$.cart_items[0].price``."""
    return "$" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in dotted.split("."))


def with_hidden(text: str) -> st.SearchStrategy[str]:
    return st.builds(
        lambda char, at: text[:at] + char + text[at:], HIDDEN_CHARS, st.integers(0, len(text))
    )


def _scaled(low: int, high: int, places: int) -> st.SearchStrategy[Decimal]:
    """Decimals with ``places`` decimal places, from low to high units of the last place."""
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-places))


TOO_PRECISE = _scaled(1, 10**9, 3).filter(lambda d: d != d.quantize(Decimal("0.01")))
TOO_LARGE = _scaled(100_000_001, 10**60, 2)
TEXT_FIELDS = {
    "order": ["cart_items.0.name", "customer_info.name", "customer_info.email",
              "shipping_info.address", "payment_info.token"],
    "register": ["user_info.name", "user_info.email", "user_info.company",
                 "billing_info.billing_address.street"],
}  # fmt: skip
BREAKING: list[tuple[str, str, st.SearchStrategy[Any]]] = [
    *[
        (command, path, with_hidden(value_at(command, path)) | st.text(min_size=255, max_size=300))
        for command, paths in TEXT_FIELDS.items()
        for path in paths
    ],
    *[
        (command, "correlation_id", st.text(min_size=129) | st.text(HIDDEN_CHARS, min_size=1))
        for command in catalogue().commands
    ],
    ("register", "correlation_id", st.text(" /#@é", min_size=1)),
    ("order", "payment_info.amount", TOO_PRECISE | TOO_LARGE | st.just(0)),
    ("order", "cart_items.1.price", TOO_PRECISE | TOO_LARGE),
    ("order", "cart_items.0.product_id", st.integers(2**31, 10**99)),
    ("order", "cart_items.1.quantity", st.integers(10_001, 10**99)),
    ("order", "customer_info.id", st.integers(2**31, 10**99)),
]
"""Each place a limit guards, and values that break it there."""


@PROPERTY
@given(
    case=st.sampled_from(BREAKING).flatmap(
        lambda case: st.tuples(st.just(case[0]), st.just(case[1]), case[2])
    )
)
def test_a_broken_limit_is_refused_and_named(workdir: Path, case: tuple[str, str, Any]) -> None:
    command, path, value = case
    document = changed(SAMPLES_BY_COMMAND[command], path, value)
    message = refused(run(command, write(workdir / "request.json", dumps(document))))
    assert f"{json_path(path)}: " in message
