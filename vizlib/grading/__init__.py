"""Self-grading exercises: the checks students run, and the instructor's grading command.

In a notebook (Lesson 00)::

    from vizlib import grading as check
    check.equal(traps, 3, what="the number of traps", hint="did you count the OUT instruction?")

Helpers: `equal`, `close`, `choice`, `same_items`, `mapping`, `true`, `defined`. A pass prints one
line ("✓ correct"); a failure raises `CheckFailed` (an AssertionError) saying what is wrong.

Exercise format
---------------
- Instructor source `exercises/solutions/NN_slug.ipynb`, notebook metadata
  `{"course": {"exercise": "NN_slug"}}` (the exercise id, which survives renaming the file).
- Each question has an id `[a-z0-9_-]+`. Its answer cells carry the tag `answer:<id>` and hold the
  reference solution between `### BEGIN SOLUTION` and `### END SOLUTION` lines; its check cells
  carry `check:<id>` and `metadata.course.points` (a positive int). Cells tagged `solution-only`
  are left out of the student copy; other cells are untagged. Keep cell ids in the file (JupyterLab
  and nbformat write them) so the student copy is byte-stable.
- `python -m vizlib.grading release [--check] [--exercises DIR]` writes each student copy
  `exercises/NN_slug.ipynb`: solution blocks become `# YOUR CODE HERE` and
  `raise NotImplementedError(...)`, outputs are cleared, check cells are read-only. `--check`
  writes nothing, lists stale copies and exits 1 if there are any.

Grading
-------
`python -m vizlib.grading grade PATH... --csv grades.csv [--exercises DIR] [--extra-checks DIR]
[--cell-timeout 30] [--timeout 300] [--jobs 2]` grades notebooks (PATH: files or folders) with
pytest + nbval on temporary copies, never touching the submissions. Before running, every check
cell is replaced by the released one (matched by question id): edited, deleted, reordered or added
check cells change nothing. A cell that loops past `--cell-timeout` or kills the kernel costs its
question; the rest is re-run on a fresh kernel without it. `--timeout` caps a notebook's total cell
time. A cell fails whenever the kernel reports an error, even with the traceback hidden.

The gradebook has one row per (submission, question): `submission, exercise, question, points,
max_points, status, message`, status one of passed, failed, timeout, error, bad-notebook (a file
that is not a gradable notebook: one row, empty question). A question's points are those of its
passing check cells; a timeout or a dead kernel in its cells gives it 0.

`--extra-checks DIR`: instructor-only checks in `DIR/<exercise_id>.py`, cells opened by
`# %% check:<question_id> points=<N>` lines. They run after the public checks of their question
and score in a separate row whose question is `<question_id>:hidden`.

Exit status 0 once the gradebook is written, whatever the scores; 2 when grading cannot run.
Graded code runs with the grader's rights: this is not a sandbox.
"""

from .checks import CheckFailed, choice, close, defined, equal, mapping, same_items, true

__all__ = ["CheckFailed", "choice", "close", "defined", "equal", "mapping", "same_items", "true"]
