"""`python -m vizlib.authoring sync|execute|check|release|translate|zh|bench|book ...`
(see CONTRIBUTING.md)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from vizlib.authoring import execute, navigation, translation
from vizlib.course import ROOT, syllabus


def _lessons(names: list[str]) -> list[Path]:
    """The ready lessons named by id (`02`), file name or path; all of them when none is named."""
    ready = [lesson for lesson in syllabus() if lesson.ready]
    if not names:
        return [ROOT / lesson.file for lesson in ready]

    def aliases(lesson) -> set[str]:
        return {lesson.id, lesson.name, Path(lesson.file).stem, lesson.file}

    unknown = [name for name in names if not any(name in aliases(x) for x in ready)]
    if unknown:
        allowed = ", ".join(lesson.id for lesson in ready)
        raise SystemExit(f"unknown lesson(s) {', '.join(unknown)}; choose ids from: {allowed}")
    return [ROOT / x.file for x in ready if aliases(x) & set(names)]


def main(argv: list[str]) -> int:
    if argv[:1] in (["bench"], ["book"]):  # their own options: see `bench --help`, `book --help`
        module = "benchmark" if argv[0] == "bench" else "book"
        return importlib.import_module(f"vizlib.authoring.{module}").main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m vizlib.authoring")
    commands = ("sync", "execute", "check", "release", "translate", "zh")
    parser.add_argument("command", choices=commands)
    parser.add_argument("notebooks", nargs="*", help="lesson names (default: every ready lesson)")
    args = parser.parse_args(argv)
    if args.command == "release":
        from vizlib.grading.__main__ import main as grading_main

        return grading_main(["release", *args.notebooks])
    if args.command == "translate":
        return _translate(args.notebooks)
    if args.command == "zh":
        return _build("zh", args.notebooks)
    if args.command == "check":
        stale = navigation.stale()
        for name in stale:
            print(f"stale: {name} (run `python3 scripts/course.py sync`)")
        return 1 if stale else 0
    for name in navigation.sync():
        print(f"updated {name}")
    if args.command == "execute":
        lessons = _lessons(args.notebooks)
        for i, path in enumerate(lessons, 1):
            print(f"[{i}/{len(lessons)}] executing {path.name} ...", end=" ", flush=True)
            print(f"{execute.execute(path):.1f} s", flush=True)
    return 0


def _translate(names: list[str]) -> int:
    """Update every catalogue; start those of the lessons `names` (and of their exercises)."""
    start = []
    for path in _lessons(names) if names else []:
        lesson = next(x for x in syllabus() if ROOT / x.file == path)
        start += [lesson.file, lesson.exercise]
    for lang in translation.PO_LOCALES:
        for name in translation.update(lang, start):
            print(f"updated {name}")
        for item in translation.stale(lang):
            print(f"to translate: {item}")
    return 0


def _build(lang: str, names: list[str]) -> int:
    """Build `lang`'s edition (the lessons `names`, or all translated ones) and its navigation."""
    ids = [lesson.id for lesson in syllabus() if ROOT / lesson.file in _lessons(names)]
    try:
        written = translation.build(lang, ids if names else [])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"built {path.relative_to(ROOT)}")
    for name in navigation.sync():
        print(f"updated {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
