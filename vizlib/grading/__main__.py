"""`python -m vizlib.grading release|grade|merge ...`: see the package docstring."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from . import gradebook
from .exercise import installed_exercises
from .grader import GradingError, grade
from .release import release, stale_copies
from .report import write_report


def _positive(kind: type) -> object:
    def parse(text: str) -> float | int:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _shard(text: str) -> tuple[int, int]:
    found = re.fullmatch(r"(\d+)/(\d+)", text)
    if not found or not 1 <= int(found[1]) <= int(found[2]):
        raise argparse.ArgumentTypeError(f"must be K/N with 1 <= K <= N, got {text}")
    return int(found[1]), int(found[2])


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="python -m vizlib.grading", description="Release and grade the course's exercises."
    )
    commands = main_parser.add_subparsers(dest="command", required=True)
    exercises = {
        "type": Path,
        "metavar": "DIR",
        "help": "folder holding solutions/ (default: the installed course's)",
    }
    rel = commands.add_parser("release", help="regenerate the student copies from solutions/")
    rel.add_argument("--check", action="store_true", help="only list stale copies (exit 1 if any)")
    rel.add_argument("--exercises", **exercises)
    gr = commands.add_parser("grade", help="grade submissions into a CSV gradebook")
    gr.add_argument("paths", nargs="+", metavar="PATH", help="submission notebooks or folders")
    gr.add_argument("--csv", type=Path, required=True, help="gradebook to write")
    gr.add_argument("--summary", type=Path, metavar="CSV", help="also: one row per student")
    gr.add_argument("--report", type=Path, metavar="HTML", help="also: an HTML report")
    gr.add_argument("--exercises", **exercises)
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
    gr.add_argument(
        "--shard",
        type=_shard,
        default=(1, 1),
        metavar="K/N",
        help="grade only the K-th of N shares of the submissions",
    )
    gr.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run submissions without the sandbox (every row says so)",
    )
    mg = commands.add_parser("merge", help="join the gradebooks of several shards")
    mg.add_argument("gradebooks", nargs="+", type=Path, metavar="CSV")
    mg.add_argument("--csv", type=Path, required=True, help="the joined gradebook")
    mg.add_argument("--summary", type=Path, metavar="CSV", help="also: one row per student")
    mg.add_argument("--report", type=Path, metavar="HTML", help="also: an HTML report")
    return main_parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "release":
            return _release(args.exercises or installed_exercises(), args.check)
        if args.command == "merge":
            return _merge(args)
        grade(
            args.paths,
            args.csv,
            exercises_dir=args.exercises,
            extra_checks=args.extra_checks,
            cell_timeout=args.cell_timeout,
            timeout=args.timeout,
            jobs=args.jobs,
            sandboxed=not args.no_sandbox,
            shard=args.shard,
            summary=args.summary,
            report=args.report,
            echo=lambda line: print(line, flush=True),
        )
    except (GradingError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no gradebook written", file=sys.stderr)
        return 130
    return 0


def _shown(path: Path) -> str:
    """`path` relative to the working folder when it lies below it."""
    return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)


def _release(exercises: Path, check: bool) -> int:
    if check:
        stale = stale_copies(exercises)
        for path in stale:
            print(f"stale: {_shown(path)}")
        if stale:
            print("run `python -m vizlib.grading release` to regenerate them")
        return 1 if stale else 0
    written = release(exercises)
    for path in written:
        print(f"wrote {_shown(path)}")
    if not written:
        print("every student copy is up to date")
    return 0


def _merge(args: argparse.Namespace) -> int:
    missing = [str(path) for path in args.gradebooks if not path.is_file()]
    if missing:
        raise ValueError(f"no such gradebook: {', '.join(missing)}")
    rows = gradebook.merge(args.gradebooks)
    gradebook.write_csv(rows, args.csv)
    if args.summary:
        gradebook.write_summary(rows, args.summary)
    if args.report:
        write_report(rows, args.report)
    print(f"merged {len(args.gradebooks)} gradebooks, {len(rows)} rows: {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
