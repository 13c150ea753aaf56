"""`python -m vizlib.authoring sync|execute|check [NOTEBOOK...]` (see CONTRIBUTING.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vizlib.authoring import execute, navigation
from vizlib.course import ROOT, syllabus


def _lessons(names: list[str]) -> list[Path]:
    ready = [ROOT / lesson.file for lesson in syllabus() if lesson.ready]
    if not names:
        return ready
    chosen = [p for p in ready if p.name in names or p.stem in names or str(p) in names]
    unknown = set(names) - {n for p in chosen for n in (p.name, p.stem, str(p))}
    if unknown:
        allowed = ", ".join(p.stem for p in ready)
        raise SystemExit(f"unknown lesson(s) {', '.join(sorted(unknown))}; choose from: {allowed}")
    return chosen


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m vizlib.authoring")
    parser.add_argument("command", choices=("sync", "execute", "check", "release"))
    parser.add_argument("notebooks", nargs="*", help="lesson names (default: every ready lesson)")
    args = parser.parse_args(argv)
    if args.command == "release":
        from vizlib.grading.__main__ import main as grading_main

        return grading_main(["release", *args.notebooks])
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
