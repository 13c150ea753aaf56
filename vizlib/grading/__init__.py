"""Self-grading exercises: the checks students run, and the instructor's grading command.

In a notebook (Lesson 00), one check cell per question::

    from vizlib import grading as check
    check.answer("traps", check.exact(traps, "the number of traps", hint="count OUT"), key="...")

Items: `exact`, `hex`, `number`, `text`, `choice`, `items`, `sequence`, `mapping`, `order`,
`calls` (code, run on inputs), `own_machine`. A pass prints one line per item ("✓ ..."); a failure
raises `CheckFailed` (an AssertionError) saying what is wrong and hinting at the kind of mistake.
`variant(VARIANT)` draws the numbers of one variant of an exercise; `show_list(options)` prints
a question's options, translated beside them in the Chinese edition.

Exercise format
---------------
- Instructor source `exercises/solutions/NN_slug.ipynb`, notebook metadata
  `{"course": {"exercise": "NN_slug"}}` (the exercise id, which survives renaming the file), and
  `"devices": ["/dev/kvm"]` when its code needs that device inside the grading sandbox.
- Each question has an id `[a-z0-9_-]+`. Its answer cells carry the tag `answer:<id>` and hold the
  reference solution between `### BEGIN SOLUTION` and `### END SOLUTION` lines; its one check cell
  carries `check:<id>` and `metadata.course.points` (a positive int), and consists of one call,
  `check.answer("<id>", check.<kind>(<value>, "<what>", ...), ...)`: it names the values, not
  their answers. An item's own words (`what`, `hint=`, `explanation=`, `before=` hints) are
  English strings written out, shown translated (`messages`). The answers come from running the
  solution. Cells tagged `solution-only` are left
  out of the student copy; other cells are untagged.
- Variants (`variants`): an exercise whose answers are computed has one parameters cell, tagged
  `parameters`, holding `VARIANT = 0`, and draws its numbers from it (`check.variant(VARIANT)`);
  a markdown cell tagged `options:<id>` lists a question's lettered options (`- a. ...`), shown
  in each variant's order.
- `python -m vizlib.grading release [--check] [--exercises DIR]` runs each solution in a trusted
  kernel and writes each student copy `exercises/NN_slug.ipynb` (the default variant, 0):
  solution blocks become `# YOUR CODE HERE` and `raise NotImplementedError(...)`, outputs are
  cleared, check cells are read-only and get a `key=`: salted hashes of the normalised answers
  (for a number judged within a tolerance, of the grid cell it falls in), never an answer in
  clear. `--check` writes nothing, lists stale copies and exits 1 if there are any.
- `release --roster roster.csv --out DIR [--secret FILE] [EXERCISE...]` writes one copy per
  student and exercise, `DIR/<student>/NN_slug.ipynb`: the public copy (the Chinese one for a
  student whose `language` is zh, where it exists) with the student's variant, derived from the
  student id and the course secret (`roster`; `python -m vizlib.grading secret` makes one), in
  its parameters cell and metadata, that variant's keys and order of lettered options.

Grading
-------
`python -m vizlib.grading grade PATH... --csv grades.csv [--summary S.csv] [--report R.html]
[--roster roster.csv [--secret FILE]] [--language en|zh] [--exercises DIR] [--extra-checks DIR]
[--cell-timeout 30] [--timeout 300] [--jobs 2] [--shard K/N] [--no-sandbox]` grades notebooks
(PATH: files or folders; other files get a `not-a-notebook` row). It runs each solution in a
trusted kernel (the reference), once per variant needed, then each submission with pytest +
nbval, on a copy, in a kernel inside its own bubblewrap sandbox (`sandbox`). The copy keeps the
submission's cells, sets its parameters cell to the student's variant (from the roster; the
default without one), drops its check cells, and adds cells that display the values each question
names as plain data (`plain`), at the end of the question's section and again at the end of the
notebook (a value missing at the first is taken from the second). For code questions they run the
learner's code on inputs drawn now and never shipped. The grader judges those values against the
reference of the student's variant, as the self-checks do (`judge`): no code of a submission runs
where the verdict is decided. A cell that loops past `--cell-timeout`, kills the kernel or prints
too much costs its question; the rest is re-run on a fresh kernel.

The gradebook has one row per (submission, question): `submission, student, exercise, question,
points, max_points, status, message`, status one of passed, partial (a question made of items:
its points in proportion), failed, timeout, error, bad-notebook, not-a-notebook. Messages never
show an expected value; they speak `--language` (`messages`). `--summary` writes one row per
student with a total per exercise; `--report` an HTML page with the score distribution, each
question's pass rate and the submissions that failed to run. `merge GRADEBOOK... --csv all.csv`
joins shards' gradebooks.

`--extra-checks DIR`: instructor-only checks in `DIR/<exercise_id>.py` (see `hidden`), scored in
rows whose question is `<question_id>:hidden`.

Exit status 0 once the gradebook is written, whatever the scores; 2 when grading cannot run.
"""

from .checks import (
    CheckFailed,
    answer,
    calls,
    choice,
    exact,
    hex,
    items,
    mapping,
    number,
    order,
    own_machine,
    sequence,
    show_list,
    text,
)
from .variants import Variant, variant

__all__ = [
    "CheckFailed",
    "answer",
    "calls",
    "choice",
    "exact",
    "hex",
    "items",
    "mapping",
    "number",
    "order",
    "own_machine",
    "sequence",
    "show_list",
    "text",
    "Variant",
    "variant",
]
