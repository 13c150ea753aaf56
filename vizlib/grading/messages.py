"""Every sentence the checks and the grader write for a learner, in one table.

`say(key, **fields)` fills one template in the course's language (`vizlib.i18n`): a self-check
speaks the language its kernel was set to (`set_language("zh")` in a Chinese copy), the grader
the language of the grading command (`grade --language`). Messages name the learner's answer and
the kind of mistake, never the expected value. An item's own words, written in English in its
check cell (`OWN_WORDS`: what it asks for, its hint, its explanation), are translated where they
are shown (`own_words`), so the grader shows them in its language whatever language the reference
or the submission ran in; `python3 scripts/course.py translate` collects them from the solutions.
"""

from __future__ import annotations

from typing import Any

from vizlib.i18n import N_, _

TEMPLATES = {
    # one item of an answer
    "correct": N_("✓ {what}: correct"),
    "correct-explained": N_("✓ {what}: correct: {explanation}"),
    "damaged-key": N_("this check cell was changed: copy it again from the exercise as released"),
    "recorded": N_("✓ {what}: {answer} (the reference answer; student copies check against it)"),
    "wrong": N_("{what}: {answer} is not right"),
    "not-defined": N_("{what}: not defined yet ({error}): run your answer cell"),
    "wrong-type": N_("{what}: expected {expected}, got {answer} ({got})"),
    "not-a-list": N_("{what}: expected a list, got {answer} ({got})"),
    "not-a-dict": N_("{what}: expected a dict like {{{example}: ...}}, got {answer} ({got})"),
    "not-a-number": N_("{what}: expected a number, got {answer} ({got})"),
    "not-an-integer": N_("{what}: expected a whole number (0x... for hex is fine), got {answer}"),
    "no-choice": N_("{what}: you have not chosen an answer yet: pick one of: {options}"),
    "not-an-option": N_("{what}: {answer} is not one of: {options}"),
    "hex-as-decimal": N_(
        "{what}: {answer} is read as a decimal number ({number}), and that is not right: write "
        "0x... for hex"
    ),
    "not-close": N_("{what}: {answer} is not within {tolerance} of the answer"),
    "off-by-factor": N_("{what}: {answer} is off by a power of ten: check the units"),
    "items-count": N_("{what}: every item you listed is right, but some are missing"),
    "items-wrong": N_("{what}: {answers} should not be in the list"),
    "items-repeated": N_("{what}: {answers} listed more than once"),
    "sequence-length": N_("{what}: your list has {count} items, not as many as the answer"),
    "sequence-wrong": N_("{what}: the items at positions {positions} are not right"),
    "keys-wrong": N_("{what}: {wrong} of {total} answers need another look: {details}"),
    "key-wrong": N_("{key}: {answer} is wrong"),
    "key-missing": N_("{key} is missing"),
    "key-extra": N_("{key} was not asked for"),
    "keys-extra": N_("{what}: {details}"),
    "order-wrong": N_("{what}: {rules}"),
    "calls-wrong": N_("{what}: wrong for {wrong} of {total} inputs: {details}"),
    "call-wrong": N_("for {input} it gave {answer}"),
    "call-error": N_("for {input} it raised {error}"),
    "own-machine-record": N_(
        "no record of your own machine in the file: run the check cell of "
        "this question on your machine, then save the notebook"
    ),
    "with-hint": N_("{problem}: {hint}"),
    # the grader's rows
    "answer-cell": N_("answer cell: {problem}"),
    "timeout": N_("the {where} ran longer than {seconds:g} s (an endless loop?)"),
    "out-of-time": N_("the notebook used up its {seconds:g} s in the {where}"),
    "kernel-died": N_("the kernel died in the {where} (a crash or os._exit?)"),
    "output-limit": N_("the {where} printed more than {megabytes:g} MB"),
    "budget-used": N_("not run: the notebook used up its {seconds:g} s"),
    "could-not-run": N_("grading could not run this notebook: {reason}"),
    "cell-not-run": N_("the cell was not run"),
    "not-collected": N_("your answers could not be read: {reason}"),
    "unsandboxed": N_("graded WITHOUT the sandbox (--no-sandbox)"),
    "grader-failed": N_("the grader failed on this submission ({error}); please report it"),
    "too-large": N_("not graded: the file is larger than {megabytes:g} MB (clear its outputs)"),
    "unreadable": N_("not graded: the file cannot be read ({error})"),
    "not-utf8": N_("not a notebook: the file is not UTF-8 text"),
    "not-json": N_("not a notebook: the file does not hold JSON"),
    "bad-json": N_("not a notebook: invalid JSON ({error}); truncated file?"),
    "no-header": N_("not a notebook: the JSON has no nbformat 3 or 4 header"),
    "invalid": N_("not a valid notebook: {reason}"),
    "no-exercise-id": N_("no exercise id in the notebook metadata (course.exercise)"),
    "unknown-exercise": N_("unknown exercise id {exercise!r} (known: {known})"),
    "not-ipynb": N_("not graded: only .ipynb notebooks are graded (rename it if it is one)"),
    "link": N_("not graded: a symbolic link (submit the notebook itself)"),
    "duplicated-tags": N_("warning: duplicated tags ignored ({tags})"),
    "renumbered-ids": N_("warning: duplicated or missing cell ids renumbered"),
    "converted": N_("warning: converted from nbformat {version} to 4"),
    # variants
    "not-in-roster": N_("not graded: the student {student!r} is not in the roster"),
    "variant-without-roster": N_(
        "warning: a copy released to one student (its own variant), graded without --roster"
    ),
    "released-to": N_("warning: this copy was released to {student!r}"),
}


OWN_WORDS = ("what", "hint", "explanation")  # an item's arguments that are its own words


def own_words(args: dict[str, Any]) -> dict[str, Any]:
    """An item's arguments with its own words (`OWN_WORDS`) in the course's language."""
    return {
        name: _(value) if name in OWN_WORDS and isinstance(value, str) else value
        for name, value in args.items()
    }


def say(name: str, /, **fields: object) -> str:
    """The message `name` in the course's language, its fields filled in."""
    return _(TEMPLATES[name], **fields)


def hinted(message: str, hint: str | None) -> str:
    """`message`, followed by the question's hint when it has one."""
    return say("with-hint", problem=message, hint=hint) if hint else message
