"""Reading a request document: UTF-8 JSON within the input limits, or an InputError.

Every front end reads a request through here before :func:`sagas.prepare.prepare` checks
its fields, so the document itself is bounded the same everywhere: at most
MAX_DOCUMENT_BYTES, UTF-8, nested at most MAX_DEPTH deep, no repeated keys, no NaN or
Infinity, no number longer than MAX_NUMBER_CHARS. Numbers with a fraction or an exponent are
read exactly, as Decimal: ``124.759`` stays what was written, for the models to refuse.
"""

from __future__ import annotations

import codecs
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from adapter.schema import FieldError

MAX_DOCUMENT_BYTES: Final = 1 << 20
"""1 MiB: twenty times the largest valid request, and a quarter of gRPC's 4 MB message."""
MAX_DEPTH: Final = 32
"""Arrays and objects inside one another; a valid request nests 3 deep. Far below Python's
recursion limit, which the decoder, the schema check and the models would otherwise meet."""
MAX_NUMBER_CHARS: Final = 100
"""Longer numbers are refused while reading: Python will not even parse an integer of more
than 4300 digits, and no valid field needs a tenth of this."""
MAX_LISTED: Final = 20
"""Problems listed before "... and N more": one mistake repeated stays one screen."""


class InputError(ValueError):
    """A request document that cannot be read. ``str()`` is one line per problem, each
    naming the source (a file, ``--result``); a problem inside the document is a
    :class:`FieldError` (its JSON path and message), one about the whole document a string."""

    def __init__(self, source: str, problems: Sequence[FieldError | str]) -> None:
        super().__init__("\n".join(f"{source}: {problem}" for problem in listed(problems)))
        self.source = source
        self.problems = list(problems)


def listed(problems: Sequence[object]) -> list[str]:
    """The first MAX_LISTED problems, then how many more there are."""
    lines = [str(problem) for problem in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"... and {len(problems) - MAX_LISTED} more")
    return lines


class JSONNumber(Decimal):
    """A JSON number with a fraction or an exponent, exactly as written. Its repr is the
    number, so the schema's messages read ``-5.5 is less than the minimum of 0``."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class _Refused:
    """A value the decoder refuses, left in place so the walk can say where it was."""

    reason: str


class _RepeatedKeys(dict[str, Any]):
    """An object that named ``repeated`` more than once (json would keep the last)."""

    def __init__(self, pairs: Iterable[tuple[str, Any]], repeated: list[str]) -> None:
        super().__init__(pairs)
        self.repeated = repeated


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    counts = Counter(key for key, _ in pairs)
    return _RepeatedKeys(pairs, [key for key, count in counts.items() if count > 1])


def _number(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def read(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            return _Refused(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
        return parse(text)

    return read


def _constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a number (JSON has no NaN or Infinity)")


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_object,
    parse_int=_number(int),
    parse_float=_number(JSONNumber),
    parse_constant=_constant,
)


def _member(path: str, key: str) -> str:
    """``$.a.b`` for plain keys, ``$.a['odd key']`` (escaped) for any other."""
    return f"{path}.{key}" if key.isascii() and key.isidentifier() else f"{path}[{key!r}]"


def _problems(document: Any) -> list[FieldError]:
    """Every refused value, repeated key and too-deep nesting, named by its JSON path.
    Iterative: the document may be nested hundreds deep."""
    problems: list[FieldError] = []
    pending: list[tuple[str, Any, int]] = [("$", document, 1)]
    while pending:
        path, value, depth = pending.pop()
        if isinstance(value, _Refused):
            problems.append(FieldError(path, value.reason))
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                problems.append(FieldError(path, f"nested more than {MAX_DEPTH} levels deep"))
                continue
            if isinstance(value, _RepeatedKeys):
                problems += [
                    FieldError(path, f"key {key!r} appears more than once")
                    for key in value.repeated
                ]
            children = (
                ((_member(path, key), child) for key, child in value.items())
                if isinstance(value, dict)
                else ((f"{path}[{index}]", child) for index, child in enumerate(value))
            )
            pending += [(child_path, child, depth + 1) for child_path, child in children]
    return sorted(problems, key=str)


def parse_request(raw: bytes, source: str) -> Any:
    """The JSON document in ``raw``, within the limits; InputError names ``source``."""
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise InputError(source, [f"larger than {MAX_DOCUMENT_BYTES} bytes (1 MiB), the limit"])
    body = raw.removeprefix(codecs.BOM_UTF8)  # RFC 8259 lets a parser ignore it
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        offset = err.start + len(raw) - len(body)
        raise InputError(
            source, [f"not UTF-8 (byte 0x{raw[offset]:02x} at offset {offset})"]
        ) from None
    try:
        document = _DECODER.decode(text)
    except json.JSONDecodeError as err:
        where = f"line {err.lineno}, column {err.colno}"
        raise InputError(source, [f"invalid JSON at {where}: {err.msg}"]) from None
    except RecursionError:  # deeper than the decoder itself goes: far beyond MAX_DEPTH
        raise InputError(source, [f"nested more than {MAX_DEPTH} levels deep"]) from None
    problems = _problems(document)
    if problems:
        raise InputError(source, problems)
    return document


def read_request(path: str | Path) -> Any:
    """The JSON document in file ``path``, never reading more than one byte past the limit."""
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as err:
        raise InputError(str(path), [f"cannot read ({err.strerror or err})"]) from None
    return parse_request(raw, str(path))
