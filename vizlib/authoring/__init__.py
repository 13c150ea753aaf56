"""Repository commands for authors: generated navigation, README contents, stored lesson outputs.

Run them through `python3 scripts/course.py sync|execute|check`; see CONTRIBUTING.md.
"""
