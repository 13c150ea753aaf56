"""`python -m vizlib.grading release|grade|merge|secret ...`: see the package docstring."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from vizlib import i18n
from vizlib.i18n import _

from . import gradebook
from .exercise import installed_exercises
from .grader import GradingError, grade
from .release import release, release_roster, stale_copies
from .report import write_report
from .roster import default_secret, make_secret


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
    secret = {
        "type": Path,
        "metavar": "FILE",
        "help": f"the course secret students' variants come from (default: {default_secret()})",
    }
    roster = {
        "type": Path,
        "metavar": "CSV",
        "help": "the class roster: a column `student` (ids), optionally `language` (en, zh)",
    }
    language = {
        "choices": i18n.LANGUAGES,
        "default": i18n.SOURCE,
        "help": "the language of the messages, gradebook and report (default: en)",
    }
    rel = commands.add_parser(
        "release", help="regenerate the student copies from solutions/, or one per student"
    )
    rel.add_argument(
        "names", nargs="*", metavar="EXERCISE", help="with --roster: these exercises (04, ...)"
    )
    rel.add_argument("--check", action="store_true", help="only list stale copies (exit 1 if any)")
    rel.add_argument("--exercises", **exercises)
    rel.add_argument("--roster", **roster)
    rel.add_argument("--out", type=Path, metavar="DIR", help="with --roster: DIR/<student>/")
    rel.add_argument("--secret", **secret)
    rel.add_argument("--language", **language)
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
    gr.add_argument("--roster", **roster)
    gr.add_argument("--secret", **secret)
    gr.add_argument("--language", **language)
    mg = commands.add_parser("merge", help="join the gradebooks of several shards")
    mg.add_argument("gradebooks", nargs="+", type=Path, metavar="CSV")
    mg.add_argument("--csv", type=Path, required=True, help="the joined gradebook")
    mg.add_argument("--summary", type=Path, metavar="CSV", help="also: one row per student")
    mg.add_argument("--report", type=Path, metavar="HTML", help="also: an HTML report")
    mg.add_argument("--language", **language)
    se = commands.add_parser("secret", help="make the course secret (once per class)")
    se.add_argument("--secret", **{**secret, "help": f"where (default: {default_secret()})"})
    se.add_argument("--language", **language)
    return main_parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.language != i18n.language():
        i18n.set_language(args.language)
    try:
        if args.command == "secret":
            print(
                _(
                    "wrote the course secret {path}: keep it, and keep it private",
                    path=make_secret(args.secret),
                )
            )
            return 0
        if args.command == "release":
            return _release(args)
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
            roster=args.roster,
            secret=args.secret,
            echo=lambda line: print(line, flush=True),
        )
    except (GradingError, ValueError) as error:
        print(_("error: {error}", error=error), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(_("interrupted: no gradebook written"), file=sys.stderr)
        return 130
    return 0


def _shown(path: Path) -> str:
    """`path` relative to the working folder when it lies below it."""
    return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)


def _release(args: argparse.Namespace) -> int:
    exercises = args.exercises or installed_exercises()
    if args.roster is not None:
        if args.out is None or args.check:
            raise ValueError(_("release --roster needs --out DIR (and no --check)"))
        written = release_roster(exercises, args.roster, args.out, args.secret, args.names)
        students = {path.parent for path in written}
        print(
            _(
                "wrote {count} copies for {students} students in {folder}",
                count=len(written),
                students=len(students),
                folder=_shown(args.out),
            )
        )
        return 0
    if args.names or args.out is not None:
        raise ValueError(_("exercise names and --out go with --roster"))
    if args.check:
        stale = stale_copies(exercises)
        for path in stale:
            print(_("stale: {path}", path=_shown(path)))
        if stale:
            print(_("run `python -m vizlib.grading release` to regenerate them"))
        return 1 if stale else 0
    written = release(exercises)
    for path in written:
        print(_("wrote {path}", path=_shown(path)))
    if not written:
        print(_("every student copy is up to date"))
    return 0


def _merge(args: argparse.Namespace) -> int:
    missing = [str(path) for path in args.gradebooks if not path.is_file()]
    if missing:
        raise ValueError(_("no such gradebook: {paths}", paths=", ".join(missing)))
    rows = gradebook.merge(args.gradebooks)
    gradebook.write_csv(rows, args.csv)
    if args.summary:
        gradebook.write_summary(rows, args.summary)
    if args.report:
        write_report(rows, args.report)
    print(
        _(
            "merged {count} gradebooks, {rows} rows: {path}",
            count=len(args.gradebooks),
            rows=len(rows),
            path=args.csv,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
