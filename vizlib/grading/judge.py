"""How an answer is read and judged: one module for the self-checks and for the grader.

Each item of a question has a kind (exact, hex, number, text, choice, items, sequence, mapping,
order, calls, own_machine). `normal(kind, value, args)` reads an answer the way the question text
promises (case, spaces, punctuation, 0x... or decimal, ...). `make_key(kind, reference, args, salt)`
turns the reference answer into a key that holds no expected value in clear: salted hashes of
normalised answers, and for numbers judged within a tolerance the salted hash of the cell of a grid
the value falls in (a grid of GRID cells per tolerance: an answer within the tolerance lies at most
GRID cells away). A key tells nothing a check cell does not: a guess can be tried against it
offline as fast as by running the check, and the grader never relies on it (it judges against the
reference solution's answers). `judge(kind, answer, key, args)` compares an answer
with a key. The grader builds the key from the reference solution's answer and judges exactly as
the student copy's self-check does, so both always agree.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from vizlib.i18n import LANGUAGES, N_, SOURCE, _, translations

from .messages import hinted, own_words, say
from .plain import Missing, decode, dumps, encode, loads

KINDS = (
    "exact",
    "hex",
    "number",
    "text",
    "choice",
    "items",
    "sequence",
    "mapping",
    "order",
    "calls",
    "own_machine",
)
ELEMENT_KINDS = ("exact", "hex", "number", "text")  # what `each=` may name
BOTH = N_("{text} ({translation})")  # an option and its translation, as `check.show_list` prints it
SHOW_LIMIT = 80  # characters of an answer shown in a message


class Unfit(ValueError):
    """An answer of the wrong shape (text for a number, ...); the message is for the learner."""


@dataclass(frozen=True)
class Verdict:
    """One item judged: `right` of its `total` parts (a mapping's keys) are right."""

    right: int
    total: int
    message: str  # empty when every part is right

    @property
    def passed(self) -> bool:
        return self.right == self.total


# --- reading answers --------------------------------------------------------------------------


def normal(kind: str, value: Any, args: dict[str, Any]) -> Any:
    """The answer as the question reads it (see the module docstring); Unfit when it cannot be."""
    what = args.get("what", "the answer")
    if kind == "exact":
        return _exact(value)
    if kind == "hex":
        return _integer(value, what)
    if kind == "number":
        return _number(value, what)
    if kind in ("text", "choice"):
        return _text(value, what, args.get("words"))
    raise ValueError(f"kind must be one of {ELEMENT_KINDS}, got {kind!r}")


def _exact(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float):
        return float(f"{value:.12g}")  # the same number computed another way still matches
    if isinstance(value, list | tuple):
        return [_exact(item) for item in value]
    if isinstance(value, frozenset):
        return {"$set": sorted((_exact(item) for item in value), key=lambda x: dumps(encode(x)))}
    if isinstance(value, dict):
        pairs = [[_exact(k), _exact(v)] for k, v in value.items()]
        return {"$dict": sorted(pairs, key=lambda pair: dumps(encode(pair[0])))}
    return value


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise Unfit(say("not-an-integer", what=what, answer=show(value)))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            pass
    raise Unfit(say("not-an-integer", what=what, answer=show(value)))


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unfit(say("not-a-number", what=what, answer=show(value), got=type_name(value)))
    try:
        return float(value)
    except OverflowError:  # a whole number too large for a float
        return math.inf if value > 0 else -math.inf


def _text(value: Any, what: str, words: dict[str, str] | None) -> str:
    if value is None or isinstance(value, bool | int | float):
        value = str(value)
    if not isinstance(value, str):
        raise Unfit(
            say(
                "wrong-type",
                what=what,
                expected=_(TYPE_WORDS["str"]),
                answer=show(value),
                got=type_name(value),
            )
        )
    text = " " + words_of(value) + " "
    for phrase, replacement in (words or {}).items():
        text = text.replace(
            f" {words_of(phrase)} ", f" {words_of(replacement)} ".replace("  ", " ")
        )
    return " ".join(text.split())


def words_of(text: str) -> str:
    """Text as compared: case, spaces and punctuation ignored ("Type-1" reads "type 1")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w/.]|_", " ", text)
    text = re.sub(r"(?<!\w)\.|\.(?!\w)", " ", text)  # a dot counts inside a name (kvm.ko) only
    return " ".join(text.split())


# --- keys ---------------------------------------------------------------------------------------


def digest(salt: str, normalised: Any) -> str:
    """The salted hash of a normalised answer, as stored in a key."""
    data = f"{salt}\0{dumps(encode(normalised))}".encode()
    return hashlib.sha256(data).hexdigest()[:16]


GRID = 4  # grid cells per tolerance of a number's key
POWERS = [p for p in range(-9, 10) if p]  # the powers of ten a wrong unit is looked for at


def _cells(number: float, args: dict[str, Any], reach: int = 0) -> list[list]:
    """The grid cells of `number` (and those `reach` cells around it): on a logarithmic grid for
    a relative tolerance (`math.isclose`'s, relative to the larger value), a linear one for an
    absolute tolerance, the number itself for neither."""
    rel, absolute = args.get("rel", 1e-6), args.get("abs", 0)
    found: list[list] = []
    if rel and number and math.isfinite(number):
        step = -math.log1p(-rel) / GRID
        cell = math.floor(math.log(abs(number)) / step)
        sign = 1 if number > 0 else -1
        found += [["rel", sign, c] for c in range(cell - reach, cell + reach + 1)]
    if absolute and math.isfinite(number):
        cell = math.floor(number / (absolute / GRID))
        found += [["abs", c] for c in range(cell - reach, cell + reach + 1)]
    if not found:
        found.append(["exact", number])
    return found


def _number_key(reference: float, args: dict[str, Any], salt: str) -> dict[str, Any]:
    rel = args.get("rel", 1e-6)
    if not 0 <= rel < 1:
        raise ValueError(f"rel must be at least 0 and below 1, got {rel!r}")
    return {"h": [digest(salt, cell) for cell in _cells(reference, args)]}


def make_key(kind: str, reference: Any, args: dict[str, Any], salt: str) -> dict[str, Any]:
    """The key of one item: what its judge needs, with no expected value in clear."""
    if kind == "number":
        return _number_key(_number(reference, "the reference"), args, salt)
    if kind in ("exact", "hex", "text", "choice"):
        accepted = [reference, *args.get("also", ())]
        return {
            "type": type_name(reference),
            "h": [digest(salt, normal(kind, a, args)) for a in accepted],
        }
    if kind in ("items", "sequence"):
        element = _element_args(args)
        hashes = [
            digest(salt, normal(args.get("each", "text"), item, element)) for item in reference
        ]
        return {"h": sorted(hashes) if kind == "items" else hashes}
    if kind == "mapping":
        element = _element_args(args)
        also = args.get("also") or {}
        return {
            "k": {
                dumps(encode(k)): make_key(
                    args.get("each", "text"),
                    v,
                    {**element, "also": also.get(k, ())},
                    f"{salt}/{dumps(encode(k))}",
                )
                for k, v in reference.items()
            }
        }
    if kind == "order":
        element = {"words": args.get("words")}
        hashes = sorted(digest(salt, normal("text", item, element)) for item in reference)
        constraints = {}
        for firsts, thens, hint in args.get("before", ()):
            for first in firsts:
                for then in thens:
                    pair = [normal("text", first, element), normal("text", then, element)]
                    constraints[digest(salt, pair)] = hint
        return {"h": hashes, "c": constraints}
    if kind == "calls":
        inputs, outputs = reference["inputs"], reference["outputs"]
        return {"in": encode(inputs), "h": [digest(salt, _exact(out)) for out in outputs]}
    if kind == "own_machine":
        return {}
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _element_args(args: dict[str, Any]) -> dict[str, Any]:
    each = args.get("each", "text")
    if each not in ELEMENT_KINDS:
        raise ValueError(f"each must be one of {ELEMENT_KINDS}, got {each!r}")
    return {name: args[name] for name in ("what", "words", "rel", "abs") if name in args}


# --- judging --------------------------------------------------------------------------------


def judge(kind: str, answer: Any, key: dict[str, Any], args: dict[str, Any], salt: str) -> Verdict:
    """Compare an answer (plain data) with its item's key; the message never shows the key."""
    args = own_words(args)
    what, hint = args.get("what", "the answer"), args.get("hint")
    total = len(key["k"]) if kind == "mapping" else 1
    if isinstance(answer, Missing):
        if kind == "own_machine":
            return Verdict(0, 1, say("own-machine-record"))
        return Verdict(0, total, say("not-defined", what=what, error=str(answer)))
    try:
        right, message = JUDGES[kind](answer, key, args, salt)
    except Unfit as unfit:
        return Verdict(0, total, hinted(str(unfit), hint))
    return Verdict(right, total, hinted(message, hint) if message else "")


def _scalar(answer: Any, key: dict, args: dict, salt: str, kind: str) -> tuple[int, str]:
    what = args.get("what", "the answer")
    if kind == "number":
        return _close(_number(answer, what), key, args, salt)
    if kind == "choice":
        options = [_text(option, what, args.get("words")) for option in args.get("options", ())]
        listing = ", ".join(repr(option) for option in args.get("options", ()))
        if answer is None or answer is Ellipsis or (isinstance(answer, str) and not answer.strip()):
            raise Unfit(say("no-choice", what=what, options=listing))
        answer = _option_named(answer, args.get("options", ()))
        if _text(answer, what, args.get("words")) not in options:
            return 0, say("not-an-option", what=what, answer=show(answer), options=listing)
    normalised = normal(kind, answer, args)
    if digest(salt, normalised) in key["h"]:
        return 1, ""
    got = type_name(answer)
    if kind == "exact" and got != key["type"] and {got, key["type"]} != {"int", "float"}:
        expected = _(TYPE_WORDS[key["type"]]) if key["type"] in TYPE_WORDS else key["type"]
        raise Unfit(say("wrong-type", what=what, expected=expected, answer=show(answer), got=got))
    if kind == "hex" and isinstance(answer, str) and answer.strip().isdigit():
        return 0, say("hex-as-decimal", what=what, answer=show(answer), number=hex(normalised))
    return 0, say("wrong", what=what, answer=show(normalised if kind == "hex" else answer, kind))


def _option_named(answer: Any, options: tuple | list) -> Any:
    """The option an answer names in another language: its translation, or both as
    `check.show_list` prints them ("x86 guest on an x86 host (x86 主机上的 x86 客户机)"). Else the
    answer itself."""
    if not isinstance(answer, str):
        return answer
    for lang in LANGUAGES:
        if lang == SOURCE:
            continue
        words = translations(lang)
        pattern = words.get(BOTH, BOTH)
        for option in options:
            shown = words.get(option)
            if shown is None:
                continue
            both = pattern.format(text=option, translation=shown)
            if words_of(answer) in (words_of(shown), words_of(both)):
                return option
    return answer


def _close(actual: float, key: dict, args: dict, salt: str) -> tuple[int, str]:
    what, rel, absolute = args.get("what", "the answer"), args.get("rel", 1e-6), args.get("abs", 0)

    def near(number: float) -> bool:
        return any(digest(salt, cell) in key["h"] for cell in _cells(number, args, GRID))

    if near(actual):
        return 1, ""
    if math.isfinite(actual) and actual and any(near(actual / 10.0**p) for p in POWERS):
        return 0, say("off-by-factor", what=what, answer=f"{actual:.6g}")
    shown = [text for text, on in ((f"{rel * 100:g}%", rel), (f"{absolute:g}", absolute)) if on]
    if len(shown) == 2:
        tolerance = _("{one} or {other}", one=shown[0], other=shown[1])
    else:
        tolerance = "".join(shown)
    return 0, say("not-close", what=what, answer=f"{actual:.6g}", tolerance=tolerance)


def _collection(answer: Any, key: dict, args: dict, salt: str, kind: str) -> tuple[int, str]:
    what = args.get("what", "the answer")
    allowed = (list, tuple, frozenset) if kind == "items" else (list, tuple)
    if not isinstance(answer, allowed):
        raise Unfit(say("not-a-list", what=what, answer=show(answer), got=type_name(answer)))
    element, each = _element_args(args), args.get("each", "text")
    values = list(answer)
    hashes = [digest(salt, normal(each, item, element)) for item in values]
    if kind == "sequence":
        if len(hashes) != len(key["h"]):
            return 0, say("sequence-length", what=what, count=len(hashes))
        wrong = [
            str(n + 1)
            for n, (h, want) in enumerate(zip(hashes, key["h"], strict=True))
            if h != want
        ]
        return (
            (0, say("sequence-wrong", what=what, positions=", ".join(wrong))) if wrong else (1, "")
        )
    return _multiset(values, hashes, key["h"], what)


def _multiset(values: list, hashes: list[str], expected: list[str], what: str) -> tuple[int, str]:
    known = set(expected)
    wrong = [show(v) for v, h in zip(values, hashes, strict=True) if h not in known]
    if wrong:
        return 0, say("items-wrong", what=what, answers=", ".join(wrong))
    repeated = sorted(
        {
            show(v)
            for v, h in zip(values, hashes, strict=True)
            if hashes.count(h) > expected.count(h)
        }
    )
    if repeated:
        return 0, say("items-repeated", what=what, answers=", ".join(repeated))
    if sorted(hashes) != sorted(expected):
        return 0, say("items-count", what=what)
    return 1, ""


def _mapping(answer: Any, key: dict, args: dict, salt: str) -> tuple[int, str]:
    what = args.get("what", "the answer")
    expected = {k: decode(loads(k)) for k in key["k"]}
    if not isinstance(answer, dict):
        example = repr(next(iter(expected.values()), "key"))
        raise Unfit(
            say(
                "not-a-dict", what=what, example=example, answer=show(answer), got=type_name(answer)
            )
        )
    each, element = args.get("each", "text"), _element_args(args)
    problems, right = [], 0
    for encoded, name in expected.items():
        if name not in answer:
            problems.append(say("key-missing", key=repr(name)))
            continue
        sub = {**element, "what": repr(name)}
        try:
            ok, _message = _scalar(answer[name], key["k"][encoded], sub, f"{salt}/{encoded}", each)
        except Unfit:
            ok = 0
        right += ok
        if not ok:
            problems.append(say("key-wrong", key=repr(name), answer=show(answer[name], each)))
    extra = [say("key-extra", key=repr(k)) for k in answer if k not in expected.values()]
    if problems:
        return right, say(
            "keys-wrong",
            what=what,
            wrong=len(problems),
            total=len(expected),
            details=_("; ").join(problems + extra),
        )
    return right, say("keys-extra", what=what, details=_("; ").join(extra)) if extra else ""


def _order(answer: Any, key: dict, args: dict, salt: str) -> tuple[int, str]:
    what = args.get("what", "the answer")
    if not isinstance(answer, list | tuple):
        raise Unfit(say("not-a-list", what=what, answer=show(answer), got=type_name(answer)))
    element = {"words": args.get("words")}
    names = [normal("text", item, element) for item in answer]
    right, message = _multiset(list(answer), [digest(salt, n) for n in names], key["h"], what)
    if not right:
        return 0, message
    broken = []
    for later in range(len(names)):
        for earlier in range(later):
            hint = key["c"].get(digest(salt, [names[later], names[earlier]]))
            if hint is not None and _(hint) not in broken:
                broken.append(_(hint))
    return (0, say("order-wrong", what=what, rules=_("; ").join(broken))) if broken else (1, "")


def _calls(answer: Any, key: dict, args: dict, salt: str) -> tuple[int, str]:
    what = args.get("what", "the answer")
    inputs = key["in"]
    if not isinstance(answer, list) or len(answer) != len(inputs):
        raise Unfit(say("not-defined", what=what, error=_("no results of your code")))
    problems = []
    for given, output, want in zip(inputs, answer, key["h"], strict=True):
        shown = show(decode(given))
        if isinstance(output, Missing):
            problems.append(say("call-error", input=shown, error=str(output)))
        elif digest(salt, _exact(output)) != want:
            problems.append(say("call-wrong", input=shown, answer=show(output)))
    if not problems:
        return 1, ""
    return 0, say(
        "calls-wrong",
        what=what,
        wrong=len(problems),
        total=len(inputs),
        details=_("; ").join(problems[:3]),
    )


def _own_machine(answer: Any, key: dict, args: dict, salt: str) -> tuple[int, str]:
    what = args.get("what", "the answer")
    mine, evidence = answer
    if _exact(mine) == _exact(evidence):
        return 1, ""
    return 0, say("wrong", what=what, answer=show(mine))


JUDGES = {
    "exact": functools.partial(_scalar, kind="exact"),
    "hex": functools.partial(_scalar, kind="hex"),
    "number": functools.partial(_scalar, kind="number"),
    "text": functools.partial(_scalar, kind="text"),
    "choice": functools.partial(_scalar, kind="choice"),
    "items": functools.partial(_collection, kind="items"),
    "sequence": functools.partial(_collection, kind="sequence"),
    "mapping": _mapping,
    "order": _order,
    "calls": _calls,
    "own_machine": _own_machine,
}


# --- showing answers ----------------------------------------------------------------------------

TYPE_WORDS = {
    "bool": N_("True or False"),
    "int": N_("a whole number"),
    "float": N_("a number"),
    "str": N_("text"),
    "bytes": N_("bytes"),
    "NoneType": "None",
    "list": N_("a list"),
    "dict": N_("a dict"),
    "frozenset": N_("a set"),
}


def type_name(value: Any) -> str:
    return "str" if isinstance(value, Missing) else type(value).__name__


def show(value: Any, kind: str = "exact") -> str:
    """An answer as a message shows it: hex for hex items, cut after SHOW_LIMIT characters."""
    if kind == "hex" and isinstance(value, int) and not isinstance(value, bool):
        text = hex(value)
    elif isinstance(value, frozenset):
        text = "{" + ", ".join(sorted(map(repr, value))) + "}"
    else:
        text = repr(value)
    return text if len(text) <= SHOW_LIMIT else text[: SHOW_LIMIT - 3] + "..."
