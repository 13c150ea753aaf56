"""How code questions are tried: each probe runs a learner's code on one input, returns plain data.

`run(probe, subject, inputs)` is what a check cell (on its public examples) and the grader (on
inputs it draws at grading time with `draw`, never shipped) both call, in the learner's kernel:
only the plain results leave it. A probe's `draw(rng)` makes one random input.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import plain

HIDDEN_INPUTS = 5  # inputs the grader draws for each code question


@dataclass(frozen=True)
class Probe:
    """Runs code on one input (`try_one`) and draws random inputs (`draw`)."""

    try_one: Callable[[Any, Any], Any]
    draw: Callable[[random.Random], Any]


def _call(function: Any, arguments: list) -> Any:
    """A function of plain arguments: its return value."""
    return function(*arguments)


def _draw_arguments(rng: random.Random) -> list:
    return [rng.randint(-(10**6), 10**6)]


def _echo_device(device_class: Any, message: bytes) -> list:
    """A port device on 0x600 plugged into lesson 08's echo guest, given `message` instead of
    "hello, kvm!": what the guest printed and how its run ended."""
    from vizlib.machine.experiments import UPPERCASE_ECHO, run_code

    code = UPPERCASE_ECHO.code
    start = code.index(b"hello, kvm!")
    guest = code[:start] + bytes(message) + b"\0"
    result = run_code(guest, devices=[device_class()], timeout=5)
    return [result.serial, result.stop_reason]


def _draw_message(rng: random.Random) -> bytes:
    letters = string.ascii_letters + string.digits + " ,.!?"
    return "".join(rng.choice(letters) for _ in range(rng.randint(5, 30))).encode() + b"\n"


PROBES = {
    "call": Probe(_call, _draw_arguments),
    "echo_device": Probe(_echo_device, _draw_message),
}


def run(probe: str, subject: Any, inputs: list) -> list:
    """The plain result of `subject` on each input; an exception becomes that input's error."""
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {sorted(PROBES)}, got {probe!r}")
    results = []
    for given in inputs:
        try:
            results.append(plain.encode(PROBES[probe].try_one(subject, given)))
        except Exception as error:  # the learner's code may raise anything: that is its answer
            results.append(plain.missing(error))
    return results


def draw(probe: str, rng: random.Random, count: int = HIDDEN_INPUTS) -> list:
    """`count` random inputs for `probe`."""
    return [PROBES[probe].draw(rng) for _ in range(count)]
