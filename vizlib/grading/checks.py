"""The check cells of an exercise: one `answer(...)` call per question. Lesson 00 shows them.

    check.answer(
        "translate",
        check.hex(gpa, "the guest-physical address", hint="keep the page offset"),
        check.exact(references, "the number of references"),
        key="...",
    )

Each item names a value the question asks for and how it is read (see `judge`). In a student copy
the `key` (written by the release) lets the cell say right or wrong without holding the answer;
a failure raises `CheckFailed` with a hint about the kind of mistake. In the instructor's solution
there is no key: the cell shows the reference answers that the release and the grader compute.
The grader never runs these cells: it takes the values out of the kernel as plain data.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from vizlib.i18n import _

from . import judge, plain, probes
from .messages import own_words, say

RECORD = "own machine"  # the key of what an own_machine check displays (application/json,
# a type nbformat 3 keeps too)


class CheckFailed(AssertionError):
    """A check's verdict: what is wrong with an answer, in plain words. Lesson 00."""


@dataclass
class Item:
    """One value a question asks for, with how to read it (`judge.KINDS`) and its messages."""

    kind: str
    value: Any
    args: dict[str, Any] = field(default_factory=dict)

    def plain_args(self) -> dict[str, Any]:
        """The arguments as plain data (what the grader reads from the reference run)."""
        return plain.decode(plain.encode(self.args))


def exact(value: Any, what: str, hint: str | None = None) -> Item:
    """A value compared exactly (a count, True/False, bytes, ...). Lesson 00."""
    return Item("exact", value, _args(what, hint))


def hex(value: Any, what: str, hint: str | None = None) -> Item:
    """A whole number written as an int or as text in any base ("0x3abc"); shown in hex."""
    return Item("hex", value, _args(what, hint))


def number(
    value: Any,
    what: str,
    rel: float = 1e-6,
    abs: float = 0.0,  # named as in pytest.approx
    hint: str | None = None,
) -> Item:
    """A number within a relative (`rel`) or absolute (`abs`) tolerance. Lesson 00."""
    return Item("number", value, _args(what, hint, rel=rel, abs=abs))


def text(
    value: Any,
    what: str,
    hint: str | None = None,
    words: dict[str, str] | None = None,
    also: list[str] | None = None,
) -> Item:
    """Text compared ignoring case, spaces and punctuation; `words` maps phrases that mean the
    same ({"unprivileged": "not privileged"}); `also` lists other accepted answers. Lesson 00."""
    return Item("text", value, _args(what, hint, words=words, also=also))


def choice(
    value: Any,
    what: str,
    options: list[Any],
    hint: str | None = None,
    explanation: str | None = None,
) -> Item:
    """One of `options`, compared as text; a right answer shows the `explanation`. Lesson 00."""
    return Item("choice", value, _args(what, hint, options=list(options), explanation=explanation))


def items(
    value: Any, what: str, each: str = "text", hint: str | None = None, words: dict | None = None
) -> Item:
    """A collection in any order, each element read as `each` (text, exact, hex). Lesson 00."""
    return Item("items", value, _args(what, hint, each=each, words=words))


def sequence(
    value: Any, what: str, each: str = "text", hint: str | None = None, words: dict | None = None
) -> Item:
    """A list in one right order, each element read as `each`. Lesson 00."""
    return Item("sequence", value, _args(what, hint, each=each, words=words))


def mapping(
    value: Any,
    what: str,
    each: str = "text",
    hint: str | None = None,
    words: dict | None = None,
    rel: float | None = None,
    also: dict[Any, list] | None = None,
) -> Item:
    """A dict whose every key is an item of its own (partial credit); values read as `each`,
    numbers within `rel`; `also` lists other accepted values per key. Lesson 00."""
    return Item("mapping", value, _args(what, hint, each=each, words=words, rel=rel, also=also))


def order(value: Any, what: str, before: list[tuple[list, list, str]] | None = None) -> Item:
    """A list in any order that keeps the constraints `before`: (firsts, thens, hint) says every
    item of firsts comes before every item of thens, and what to say when it does not."""
    return Item("order", value, _args(what, None, before=before))


def calls(subject: Any, what: str, probe: str, examples: list, hint: str | None = None) -> Item:
    """Code the question asks for (a function, a device class): `probes.PROBES[probe]` runs it on
    each input; the self-check uses the `examples`, the grader adds inputs it draws itself."""
    return Item("calls", subject, _args(what, hint, probe=probe, examples=list(examples)))


def own_machine(value: Any, what: str, evidence: Any, hint: str | None = None) -> Item:
    """An answer about the learner's own machine, judged against `evidence` computed there; the
    check cell's output records both, and the grader reads that record from the saved file."""
    return Item("own_machine", value, _args(what, hint, evidence=evidence))


def show_list(texts: list[str], numbered: bool = False) -> None:
    """Print each text on a line of its own (numbered from 1): as an answer names it, and in a
    language other than English with its translation after it. A set-up cell shows a question's
    options or a mapping's keys this way, each marked `N_()` where it is written. Lesson 00."""
    for number, text in enumerate(texts, 1):
        shown = _(text)
        line = text if shown == text else _(judge.BOTH, text=text, translation=shown)
        print(f"{number} {line}" if numbered else line)


def _args(what: str, hint: str | None, **more: Any) -> dict[str, Any]:
    found = {"what": what, "hint": hint, **more}
    return {name: value for name, value in found.items() if value is not None}


def answer(question: str, *answers: Item, key: str | None = None) -> None:
    """Check one question's items against `key`; print a line per item, raise CheckFailed if any
    is wrong. Without a key (the instructor's solution) show the reference answers."""
    if not all(isinstance(item, Item) for item in answers):
        raise TypeError(_("answer: give the items as check.exact(...), check.text(...), ..."))
    if key is None:
        for item in answers:
            shown = judge.show(item.value, item.kind)
            print(say("recorded", what=_(item.args["what"]), answer=shown))
        return
    keys = read_key(key)
    if len(keys["items"]) != len(answers):
        raise ValueError(say("damaged-key"))
    failures = []
    for number, (item, item_key) in enumerate(zip(answers, keys["items"], strict=True)):
        verdict = judge_item(item, item_key, item_salt(keys["salt"], number), (question, number))
        words = own_words(item.args)
        if not verdict.passed:
            failures.append(verdict.message)
        elif "explanation" in words:
            print(say("correct-explained", what=words["what"], explanation=words["explanation"]))
        else:
            print(say("correct", what=words["what"]))
    if failures:
        raise CheckFailed("\n".join(failures))


def judge_item(
    item: Item, item_key: dict[str, Any], salt: str, where: tuple[str, int]
) -> judge.Verdict:
    """Judge one item in this kernel (the self-check), as the grader judges its plain value;
    `where` (question id, item number) labels an own-machine record."""
    try:
        if item.kind == "calls":
            runs = probes.run(item.args["probe"], item.value, plain.decode(item_key["in"]))
            value = plain.decode(runs)
        else:
            value = plain.decode(plain.encode(item.value))
            if item.kind == "own_machine":
                evidence = plain.decode(plain.encode(item.args["evidence"]))
                show_record(where, value, evidence)
                value = (value, evidence)
    except plain.NotPlain as error:
        value = plain.Missing(str(error))
    return judge.judge(item.kind, value, item_key, item.plain_args(), salt)


def show_record(where: tuple[str, int], value: Any, evidence: Any) -> None:
    """Display the own-machine record the grader reads back from the saved notebook."""
    from IPython.display import display

    record = {
        "question": where[0],
        "item": where[1],
        "answer": plain.encode(value),
        "evidence": plain.encode(evidence),
    }
    display({"application/json": {RECORD: record}, "text/plain": ""}, raw=True)


def item_salt(salt: str, number: int) -> str:
    """The salt of the question's `number`-th item."""
    return f"{salt}/{number}"


def write_key(salt: str, item_keys: list[dict[str, Any]]) -> str:
    """A question's key as it is written in a student copy's check cell."""
    data = json.dumps({"salt": salt, "items": item_keys}, separators=(",", ":"))
    return base64.b64encode(data.encode()).decode()


def read_key(key: str) -> dict[str, Any]:
    """The key written by `write_key`; ValueError when it was damaged."""
    try:
        return json.loads(base64.b64decode(key.encode(), validate=True))
    except ValueError:
        raise ValueError(say("damaged-key")) from None
