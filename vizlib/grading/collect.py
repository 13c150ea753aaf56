"""What the grader's collecting cells run in a kernel: they display each question's values as data.

A submission's collecting cell evaluates the value each item names (`lambda: gpa`) and, for code
questions, runs the learner's code on the grader's inputs; the reference run's cell also evaluates
the items themselves (`lambda: check.hex(gpa, ...)`), so the grader learns how each is judged.
Either way only plain data leaves the kernel, as one display of `plain.MIME` that the grader's
pytest plugin keeps; the verdict is decided elsewhere. A submission's values are collected in the
gradebook's language, so the reason an answer could not be read (not plain data, an error its code
raised on the grader's inputs) reads like the rest of its row, whatever language the learner's
notebook speaks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vizlib.i18n import SOURCE, use

from . import plain, probes
from .checks import Item

Getter = Callable[[], Any]


def answers(questions: dict[str, list[tuple]], language: str = SOURCE) -> None:
    """Display the values of each question's items: (getter,) or (getter, probe, inputs), with
    the reasons for those that cannot be read in `language`."""
    with use(language):
        found = {q: [_value(*item) for item in items] for q, items in questions.items()}
    _show({"answers": found})


def reference(questions: dict[str, list[Getter]], inputs: dict[str, dict[str, list]]) -> None:
    """Display each item of the reference solution: kind, arguments and value (for code
    questions, the inputs tried and the results); `inputs` adds drawn inputs by item number."""
    found = {}
    for question, getters in questions.items():
        entries = []
        for number, getter in enumerate(getters):
            item: Item = getter()
            entry = {"kind": item.kind, "args": plain.encode(item.args)}
            if item.kind == "calls":
                tried = item.args["examples"] + inputs.get(question, {}).get(str(number), [])
                runs = probes.run(item.args["probe"], item.value, tried)
                entry["value"] = {"inputs": plain.encode(tried), "outputs": runs}
            elif item.kind != "own_machine":
                entry["value"] = plain.encode(item.value)
            entries.append(entry)
        found[question] = entries
    _show({"reference": found})


def _value(getter: Getter, probe: str | None = None, tried: list | None = None) -> Any:
    try:
        value = getter()
        return plain.encode(value) if probe is None else probes.run(probe, value, tried or [])
    except Exception as error:  # not defined, not plain, ...: that is the learner's answer
        return plain.missing(error)


def _show(data: dict[str, Any]) -> None:
    from IPython.display import display

    display({plain.MIME: data, "text/plain": ""}, raw=True)
