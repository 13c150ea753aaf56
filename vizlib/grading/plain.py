"""Answers as plain data: what leaves a kernel, and the only thing the grader ever judges.

`encode(value)` turns a Python answer into JSON-ready data (numbers, text, True/False, None, lists,
and one-key objects for bytes, sets, dicts and non-finite floats); `decode` turns such data back
into plain Python values (bytes, frozenset, dict, ...). Nothing that carries methods of its own
survives: a `str` subclass becomes a `str`, an int subclass an `int`, numpy scalars Python ones.
`loads` reads an answer message strictly (size-capped, no NaN literals, known tags only).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

from vizlib.i18n import _

MIME = "application/vnd.vizlib.answers+json"  # the display type of collected answers
MAX_ITEMS = 10_000  # values in one answer, nested ones included
MAX_DEPTH = 20
MAX_BYTES = 1 << 20  # largest answer message the grader reads
TAGS = ("$bytes", "$set", "$dict", "$float", "$error")


class NotPlain(ValueError):
    """The answer cannot be read as plain data; the message says why, for the learner."""


def encode(value: Any) -> Any:
    """`value` as JSON-ready plain data; NotPlain when it holds something else."""
    budget = [MAX_ITEMS]
    return _encode(value, budget, 0)


def _encode(value: Any, budget: list[int], depth: int) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise NotPlain(
            _(
                "the answer is too large (more than {count} values or nested too deep)",
                count=MAX_ITEMS,
            )
        )
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else {"$float": repr(number)}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, list | tuple):
        return [_encode(item, budget, depth + 1) for item in value]
    if isinstance(value, set | frozenset):
        return {"$set": [_encode(item, budget, depth + 1) for item in value]}
    if isinstance(value, Mapping):
        pairs = list(value.items())
        return {
            "$dict": [
                [_encode(k, budget, depth + 1), _encode(v, budget, depth + 1)] for k, v in pairs
            ]
        }
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # a numpy array or scalar
        return _encode(value.tolist(), budget, depth)
    raise NotPlain(
        _(
            "the answer is a {kind}: use numbers, text, True/False, None, bytes, lists or dicts",
            kind=type(value).__name__,
        )
    )


def decode(data: Any, depth: int = 0) -> Any:
    """Plain data back into Python values; ValueError on anything `encode` does not write."""
    if depth > MAX_DEPTH:
        raise ValueError(f"not plain answer data: nested deeper than {MAX_DEPTH}")
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return [decode(item, depth + 1) for item in data]
    if not (isinstance(data, dict) and len(data) == 1):
        raise ValueError(f"not plain answer data: {str(data)[:60]}")
    ((tag, content),) = data.items()
    if tag == "$bytes" and isinstance(content, str):
        return bytes.fromhex(content)
    if tag == "$float" and content in ("nan", "inf", "-inf"):
        return float(content)
    if tag == "$set" and isinstance(content, list):
        items = [decode(item, depth + 1) for item in content]
        return frozenset(_hashable(item) for item in items)
    if tag == "$dict" and isinstance(content, list):
        pairs = [
            (decode(pair[0], depth + 1), decode(pair[1], depth + 1))
            for pair in content
            if _is_pair(pair)
        ]
        if len(pairs) != len(content):
            raise ValueError("not plain answer data: a dict entry is not a pair")
        return {_hashable(key): value for key, value in pairs}
    if tag == "$error" and isinstance(content, str):
        return Missing(content)
    raise ValueError(f"not plain answer data: unknown tag {tag!r}")


class Missing(str):
    """An answer that could not be read (not defined, not plain): the reason, as text."""


def missing(error: BaseException) -> dict[str, str]:
    """The plain data that stands for an answer that could not be read."""
    text = f"{type(error).__name__}: {error}" if not isinstance(error, NotPlain) else str(error)
    return {"$error": text[:300]}


def loads(text: str) -> Any:
    """Parse an answer message strictly: size-capped JSON, no NaN or Infinity literals."""
    if len(text) > MAX_BYTES:
        raise ValueError(f"the answers are larger than {MAX_BYTES // 1024} KiB")

    def refuse(constant: str) -> None:
        raise ValueError(f"not plain answer data: {constant}")

    try:
        return json.loads(text, parse_constant=refuse)
    except RecursionError:
        raise ValueError("not plain answer data: nested too deep") from None


def dumps(data: Any) -> str:
    """Canonical JSON of plain data (sorted keys, no spaces): what hashes are taken of."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _is_pair(pair: Any) -> bool:
    return isinstance(pair, list) and len(pair) == 2


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, dict):
        raise ValueError("not plain answer data: a dict cannot be a key or a set item")
    return value
