"""Per-student variants of an exercise: the numbers its questions draw, seeded per student.

An exercise whose answers are computed has a parameters cell (tagged `parameters`) holding one
line, `VARIANT = 0`, and draws its numbers from it in the cells that set each question up:

    v = check.variant(VARIANT)
    ring_size = v.pick("ring size", [32, 16, 64])

Variant 0 is the default: what a learner working alone gets and what the lesson text and the
public solution refer to; there every draw returns its default (`pick`: the first option). Any
other number (a copy released to one student from a roster) draws each value from a stream of
its own, named, so the order in which cells run never matters. A conceptual question shuffles
its options (`shuffled`); one answered with a letter lists its options in a markdown cell tagged
`options:<question id>`, which a student's copy shows in the order `order` gives, and its
solution answers `letter(...)`. Lesson 00's exercise shows the cells.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from typing import TypeVar

DEFAULT = 0  # the variant of the public copies and solutions
PARAMETERS = "parameters"  # the tag of the cell that sets VARIANT
NAME = "VARIANT"  # the variable that cell sets
LETTERS = "abcdefghij"  # the letters of lettered options, in their default order

T = TypeVar("T")


class Variant:
    """The draws of one variant of an exercise. Lesson 00."""

    def __init__(self, number: int) -> None:
        if type(number) is not int or number < 0:
            raise ValueError(f"{NAME} must be a whole number, 0 or more; got {number!r}")
        self.number = number

    @property
    def default(self) -> bool:
        """True for the default variant, whose draws are their defaults."""
        return self.number == DEFAULT

    def random(self, name: str) -> random.Random:
        """The stream of draws called `name`: the same for the same variant, whatever ran before."""
        digest = hashlib.sha256(f"{self.number}/{name}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def pick(self, name: str, options: Iterable[T]) -> T:
        """One of `options`: the first in the default variant."""
        found = list(options)
        return found[0] if self.default else self.random(name).choice(found)

    def integer(self, name: str, low: int, high: int, default: int) -> int:
        """A whole number from `low` to `high`, both included (`default` in the default variant)."""
        if low > high:
            raise ValueError(f"low must not exceed high, got {low} > {high}")
        return default if self.default else self.random(name).randint(low, high)

    def sample(self, name: str, population: Iterable[T], count: int) -> list[T]:
        """`count` different items of `population`: its first ones in the default variant."""
        found = list(population)
        return found[:count] if self.default else self.random(name).sample(found, count)

    def shuffled(self, name: str, options: Iterable[T]) -> list[T]:
        """`options` in this variant's order (as given in the default variant)."""
        found = list(options)
        if not self.default:
            self.random(name).shuffle(found)
        return found

    def order(self, name: str, count: int) -> list[int]:
        """Which of `count` lettered options each position shows: [2, 0, 1] puts the default's
        option c first. The identity in the default variant."""
        return self.shuffled(name, range(count))

    def letter(self, name: str, default_letter: str, count: int = 4) -> str:
        """The letter that the option lettered `default_letter` in the default order gets in this
        variant's order of `count` options (the markdown cell tagged `options:<name>`)."""
        if default_letter not in LETTERS[:count]:
            allowed = LETTERS[:count]
            raise ValueError(f"default_letter must be one of {allowed!r}, got {default_letter!r}")
        return LETTERS[self.order(name, count).index(LETTERS.index(default_letter))]


def variant(number: int) -> Variant:
    """The draws of variant `number` of this exercise (its parameters cell's VARIANT). Lesson 00."""
    return Variant(number)


def parameters_source(number: int) -> str:
    """The parameters cell of variant `number`, as the release and the grader write it."""
    return f"{NAME} = {Variant(number).number}"


def reorder_options(markdown: str, order: list[int], where: str = "") -> str:
    """A markdown cell whose list of lettered options ("- a. ...", continued on lines indented by
    two spaces) is put in `order` and lettered again; ValueError when the list is not so."""
    lines = markdown.split("\n")
    starts = [n for n, line in enumerate(lines) if _option_letter(line) is not None]
    letters = [_option_letter(lines[n]) for n in starts]
    if letters != list(LETTERS[: len(order)]) or len(starts) != len(order):
        raise ValueError(
            f"{where}the options must be a list of {len(order)} items '- a. ...', '- b. ...' in "
            f"order; found the letters {letters}"
        )
    end = starts[-1] + 1
    while end < len(lines) and lines[end].startswith("  "):
        end += 1
    items = [lines[a:b] for a, b in zip(starts, [*starts[1:], end], strict=True)]
    shown = []
    for position, item in enumerate(items[index] for index in order):
        shown += [f"- {LETTERS[position]}. {item[0][len('- a. ') :]}", *item[1:]]
    return "\n".join(lines[: starts[0]] + shown + lines[end:])


def _option_letter(line: str) -> str | None:
    if len(line) > 5 and line.startswith("- ") and line[3:5] == ". " and line[2] in LETTERS:
        return line[2]
    return None
