"""Every sentence the checks and the grader write for a learner, in one table.

`say(key, **fields)` fills one template; a translation catalogue can take over this one function.
Messages name the learner's answer and the kind of mistake, never the expected value.
"""

from __future__ import annotations

TEMPLATES = {
    # one item of an answer
    "correct": "✓ {what}: correct",
    "correct-explained": "✓ {what}: correct: {explanation}",
    "damaged-key": "this check cell was changed: copy it again from the exercise as released",
    "recorded": "✓ {what}: {answer} (the reference answer; student copies check against it)",
    "wrong": "{what}: {answer} is not right",
    "not-defined": "{what}: not defined yet ({error}): run your answer cell",
    "wrong-type": "{what}: expected {expected}, got {answer} ({got})",
    "not-a-list": "{what}: expected a list, got {answer} ({got})",
    "not-a-dict": "{what}: expected a dict like {{{example}: ...}}, got {answer} ({got})",
    "not-a-number": "{what}: expected a number, got {answer} ({got})",
    "not-an-integer": "{what}: expected a whole number (0x... for hex is fine), got {answer}",
    "no-choice": "{what}: you have not chosen an answer yet: pick one of: {options}",
    "not-an-option": "{what}: {answer} is not one of: {options}",
    "not-close": "{what}: {answer} is not within {tolerance} of the answer",
    "off-by-factor": "{what}: {answer} is off by a factor of about {factor}: check the units",
    "items-count": "{what}: you listed {count} items; the answer has {expected}",
    "items-wrong": "{what}: {answers} should not be in the list",
    "items-repeated": "{what}: {answers} listed more than once",
    "sequence-length": "{what}: your list has {count} items; the answer has {expected}",
    "sequence-wrong": "{what}: the items at positions {positions} are not right",
    "keys-wrong": "{what}: {wrong} of {total} answers need another look: {details}",
    "key-wrong": "{key}: {answer} is wrong",
    "key-missing": "{key} is missing",
    "key-extra": "{key} was not asked for",
    "keys-extra": "{what}: {details}",
    "calls-wrong": "{what}: wrong for {wrong} of {total} inputs: {details}",
    "call-wrong": "for {input} it gave {answer}",
    "call-error": "for {input} it raised {error}",
    "own-machine-record": "no record of your own machine in the file: run the check cell of "
    "this question on your machine, then save the notebook",
    "with-hint": "{message}: {hint}",
    # the grader's rows
    "answer-cell": "answer cell: {message}",
    "timeout": "the {where} ran longer than {seconds:g} s (an endless loop?)",
    "out-of-time": "the notebook used up its {seconds:g} s in the {where}",
    "kernel-died": "the kernel died in the {where} (a crash or os._exit?)",
    "output-limit": "the {where} printed more than {megabytes:g} MB",
    "budget-used": "not run: the notebook used up its {seconds:g} s",
    "could-not-run": "grading could not run this notebook: {reason}",
    "cell-not-run": "the cell was not run",
    "not-collected": "your answers could not be read: {reason}",
    "unsandboxed": "graded WITHOUT the sandbox (--no-sandbox)",
    "grader-failed": "the grader failed on this submission ({error}); please report it",
    "not-utf8": "not a notebook: the file is not UTF-8 text",
    "not-json": "not a notebook: the file does not hold JSON",
    "bad-json": "not a notebook: invalid JSON ({error}); truncated file?",
    "no-header": "not a notebook: the JSON has no nbformat 3 or 4 header",
    "invalid": "not a valid notebook: {reason}",
    "no-exercise-id": "no exercise id in the notebook metadata (course.exercise)",
    "unknown-exercise": "unknown exercise id {exercise!r} (known: {known})",
    "not-ipynb": "not graded: only .ipynb notebooks are graded (rename it if it is one)",
    "duplicated-tags": "warning: duplicated tags ignored ({tags})",
    "renumbered-ids": "warning: duplicated or missing cell ids renumbered",
    "converted": "warning: converted from nbformat {version} to 4",
}


def say(name: str, /, **fields: object) -> str:
    """The message `name` with its fields filled in."""
    return TEMPLATES[name].format(**fields)


def hinted(message: str, hint: str | None) -> str:
    """`message`, followed by the question's hint when it has one."""
    return say("with-hint", message=message, hint=hint) if hint else message
