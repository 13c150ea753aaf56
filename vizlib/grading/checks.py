"""Checks for exercise notebooks: a pass prints one short line, a failure says what is wrong.

Every failure raises `CheckFailed`, an AssertionError whose message is written for the student.
Lesson 00 introduces them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

SHOW_LIMIT = 80  # characters of a value shown in a message before it is cut


class CheckFailed(AssertionError):
    """A check's verdict: what is wrong with an answer, in plain words. Lesson 00."""


def equal(actual: Any, expected: Any, what: str | None = None, hint: str | None = None) -> None:
    """Check `actual == expected`; `what` names the value ("the number of traps"). Lesson 00."""
    if not _same(actual, expected):
        want, got = _show(expected), _show(actual)
        if want == got:  # same look, different type or no == of its own
            want, got = f"{want} ({_kind(expected)})", f"{got} ({_kind(actual)})"
        _fail(f"expected {what or 'the answer'} to be {want}, got {got}", hint)
    _passed(what)


def close(
    actual: Any,
    expected: float,
    rel: float = 1e-6,
    abs: float = 0.0,  # named as in pytest.approx
    what: str | None = None,
    hint: str | None = None,
) -> None:
    """Check a number within a relative (`rel`) or absolute (`abs`) tolerance. Lesson 00."""
    subject = what or "the answer"
    if isinstance(actual, bool) or not isinstance(actual, numbers.Real):
        _fail(f"expected {subject} to be a number, got {_show(actual)} ({_kind(actual)})", hint)
    if not math.isclose(actual, expected, rel_tol=rel, abs_tol=abs):
        allowed = " or ".join(
            text for text, on in ((f"{rel * 100:g}%", rel), (f"{abs:g}", abs)) if on
        )
        off = f"{math.fabs(actual - expected) / math.fabs(expected):.1%} off, " if expected else ""
        _fail(
            f"expected {subject} to be close to {expected:.6g}, got {actual:.6g} "
            f"({off}allowed: {allowed})",
            hint,
        )
    _passed(what)


def choice(
    answer: Any,
    correct: Any,
    options: Iterable[Any],
    explanation: str | None = None,
    hint: str | None = None,
) -> None:
    """Check a multiple-choice answer; text is compared ignoring case and spaces. Lesson 00.

    A right answer prints the `explanation`; a wrong one prints the `hint`.
    """
    options = list(options)
    if not any(_key(option) == _key(correct) for option in options):
        raise ValueError(f"choice: correct={correct!r} must be one of options={options!r}")
    listing = ", ".join(str(option) for option in options)
    if answer is None or answer is Ellipsis or _key(answer) == "":
        _fail(f"you have not chosen an answer yet: pick one of: {listing}")
    if not any(_key(option) == _key(answer) for option in options):
        _fail(f"your answer {_show(answer)} is not one of: {listing}")
    if _key(answer) != _key(correct):
        _fail(f"{_show(answer)} is not the right choice", hint)
    print(f"✓ correct: {explanation}" if explanation else "✓ correct")


def same_items(
    actual: Any, expected: Iterable[Any], what: str | None = None, hint: str | None = None
) -> None:
    """Check that `actual` holds the expected items, in any order; names missing and extra ones.

    Lesson 00.
    """
    subject = what or "the items"
    if isinstance(actual, str | bytes | Mapping) or not isinstance(actual, Iterable):
        _fail(f"expected {subject} as a list of items, got {_show(actual)} ({_kind(actual)})", hint)
    missing, extra = list(expected), []
    for item in actual:
        found = next((k for k, want in enumerate(missing) if _same(item, want)), None)
        if found is None:
            extra.append(item)
        else:
            del missing[found]
    problems = [
        f"{label} {', '.join(map(_show, items))}"
        for label, items in (("missing", missing), ("not expected:", extra))
        if items
    ]
    if problems:
        _fail(f"{subject}: {'; '.join(problems)}", hint)
    _passed(what)


def mapping(
    actual: Any, expected: Mapping[Any, Any], what: str | None = None, hint: str | None = None
) -> None:
    """Check a classification dict; names each wrong, missing or extra key. Lesson 00.

    A wrong value is named without giving the right one, so the student still has to think.
    """
    subject = what or "the answer"
    if not isinstance(actual, Mapping):
        example = next(iter(expected), "key")
        _fail(
            f"expected {subject} as a dict like {{{example!r}: ...}}, "
            f"got {_show(actual)} ({_kind(actual)})",
            hint,
        )
    problems = []
    for key, want in expected.items():
        if key not in actual:
            problems.append(f"{key!r} is missing")
        elif not _same(actual[key], want):
            problems.append(f"{key!r}: {_show(actual[key])} is wrong")
    problems += [f"{key!r} was not asked for" for key in actual if key not in expected]
    if problems:
        wrong = f"{len(problems)} of {len(expected)} keys need another look"
        _fail(f"{subject}: {wrong}: {'; '.join(problems)}", hint)
    _passed(what)


def true(condition: Any, message: str) -> None:
    """Check that `condition` holds; `message` says what is wrong when it does not. Lesson 00."""
    if not condition:
        _fail(message)
    _passed(None)


def defined(name: str, namespace: Mapping[str, Any]) -> Any:
    """Return `namespace[name]`, or say the answer cell has not been run yet. Lesson 00.

    Pass `globals()` as the namespace; nothing is printed when the name exists.
    """
    if name not in namespace:
        _fail(
            f"you have not defined `{name}` yet: run your answer cell "
            f"(and check the spelling of `{name}`)"
        )
    return namespace[name]


def _fail(message: str, hint: str | None = None) -> NoReturn:
    raise CheckFailed(f"{message}: {hint}" if hint else message)


def _passed(what: str | None) -> None:
    print(f"✓ {what}: correct" if what else "✓ correct")


def _same(actual: Any, expected: Any) -> bool:
    try:
        return bool(actual == expected)
    except (TypeError, ValueError):  # arrays: an element-wise result has no single truth value
        import numpy

        return bool(numpy.array_equal(actual, expected))


def _key(value: Any) -> Any:
    return value.strip().casefold() if isinstance(value, str) else value


def _kind(value: Any) -> str:
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOW_LIMIT else text[: SHOW_LIMIT - 3] + "..."
