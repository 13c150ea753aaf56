"""The errors a bad argument gets, worded once, in the course's language.

The sentence is translated; the parameter's name and the allowed values stay as code, since they
are what the learner types. Each function returns the ValueError for the caller to raise.
"""

from __future__ import annotations

from collections.abc import Iterable

from vizlib.i18n import _


def not_one_of(parameter: str, value: object, allowed: Iterable[object]) -> ValueError:
    """`parameter` must be one of `allowed` (shown with str), and was `value`."""
    return ValueError(
        _(
            "{parameter} must be one of {allowed}; got {value}",
            parameter=parameter,
            allowed=", ".join(map(str, allowed)),
            value=repr(value),
        )
    )


def not_an_integer(parameter: str, value: object, low: object, high: object) -> ValueError:
    """`parameter` must be an integer from `low` to `high`, and was `value`."""
    return ValueError(
        _(
            "{parameter} must be an integer from {low} to {high}; got {value}",
            parameter=parameter,
            low=low,
            high=high,
            value=repr(value),
        )
    )


def not_a_bool(parameter: str, value: object) -> ValueError:
    """`parameter` must be True or False, and was `value`."""
    return ValueError(
        _("{parameter} must be True or False; got {value}", parameter=parameter, value=repr(value))
    )
