"""`python -m vizlib.grading release|grade ...`: see the package docstring."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .grader import GradingError, grade
from .release import release, stale_copies


def _positive(kind: type) -> object:
    def parse(text: str) -> float | int:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="python -m vizlib.grading", description="Release and grade the course's exercises."
    )
    commands = main_parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser("release", help="regenerate the student copies from solutions/")
    rel.add_argument("--check", action="store_true", help="only list stale copies (exit 1 if any)")
    rel.add_argument("--exercises", type=Path, default=Path("exercises"), metavar="DIR")
    gr = commands.add_parser("grade", help="grade submissions into a CSV gradebook")
    gr.add_argument("paths", nargs="+", metavar="PATH", help="submission notebooks or folders")
    gr.add_argument("--csv", type=Path, required=True, help="gradebook to write")
    gr.add_argument(
        "--exercises",
        type=Path,
        default=Path("exercises"),
        metavar="DIR",
        help="folder holding solutions/ (default: exercises)",
    )
    gr.add_argument(
        "--extra-checks",
        type=Path,
        metavar="DIR",
        help="instructor-only checks, DIR/<exercise_id>.py",
    )
    gr.add_argument(
        "--cell-timeout",
        type=_positive(float),
        default=30.0,
        metavar="S",
        help="seconds one cell may run (default: 30)",
    )
    gr.add_argument(
        "--timeout",
        type=_positive(float),
        default=300.0,
        metavar="S",
        help="seconds of cell time per notebook, re-runs included (default: 300)",
    )
    gr.add_argument(
        "--jobs",
        type=_positive(int),
        default=2,
        metavar="N",
        help="pytest runs at a time (default: 2)",
    )
    return main_parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "release":
            return _release(args.exercises, args.check)
        grade(
            args.paths,
            args.csv,
            exercises_dir=args.exercises,
            extra_checks=args.extra_checks,
            cell_timeout=args.cell_timeout,
            timeout=args.timeout,
            jobs=args.jobs,
            echo=lambda line: print(line, flush=True),
        )
    except (GradingError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no gradebook written", file=sys.stderr)
        return 130
    return 0


def _release(exercises: Path, check: bool) -> int:
    if check:
        stale = stale_copies(exercises)
        for path in stale:
            print(f"stale: {path}")
        if stale:
            print("run `python -m vizlib.grading release` to regenerate them")
        return 1 if stale else 0
    written = release(exercises)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("every student copy is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
