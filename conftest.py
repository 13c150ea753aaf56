"""A lesson of a translated edition (`notebooks/zh/`) may show no message its catalogue lacks.

nbval runs a lesson's cells in one kernel; after the last one, this asks that kernel what the
lesson showed untranslated (`vizlib.authoring.translation.UNTRANSLATED_PROBE`) and fails the
lesson's last cell when anything was, so a message that loses its translation is found even in
the cells whose outputs nbval does not compare.
"""

from __future__ import annotations

import pytest

from vizlib.authoring.editions import TRANSLATED
from vizlib.authoring.translation import UNTRANSLATED_PROBE, untranslated

PROBE_TIMEOUT = 60  # seconds


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    notebook = item.parent
    kernel = getattr(notebook, "kernel", None)
    lang = notebook.path.parent.name
    last = nextitem is None or nextitem.parent is not notebook
    if not (last and lang in TRANSLATED and kernel is not None and kernel.is_alive()):
        return
    printed = []

    def keep(message: dict) -> None:
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])

    kernel.kc.execute_interactive(
        UNTRANSLATED_PROBE, store_history=False, output_hook=keep, timeout=PROBE_TIMEOUT
    )
    shown = untranslated("".join(printed), lang)
    if shown:
        listing = "\n".join(f"  {message!r}" for message in shown)
        pytest.fail(f"{notebook.path.name} showed messages its catalogue lacks:\n{listing}", False)
