"""The optional packages of the emulation lessons, loaded only when a helper needs them. Lesson 06.

unicorn (QEMU's CPU emulator as a library) runs guest code, capstone disassembles it and keystone
assembles it. A missing one raises `EmulatorMissing` with the command that installs it, so
`import vizlib.emulation` always works and a lesson can say what is missing instead of failing.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from vizlib.emulation.errors import EmulatorMissing
from vizlib.i18n import N_, _

# Import name -> how to install it (names on PyPI and conda-forge, as in pyproject's
# `emulation` extra and environment.yml; keystone has no conda-forge package). Shown through
# `_()`, like ALL_AT_ONCE.
INSTALL = {
    "unicorn": N_("`pip install unicorn` (or `conda install -c conda-forge unicorn`)"),
    "capstone": N_("`pip install capstone` (or `conda install -c conda-forge capstone`)"),
    "keystone": N_("`pip install keystone-engine`"),
}
ALL_AT_ONCE = N_("`pip install unicorn capstone keystone-engine`, then restart the kernel")


def load(module: str) -> ModuleType:
    """Import `module` (e.g. "unicorn.ppc_const"), or raise EmulatorMissing. Lesson 06."""
    package = module.split(".")[0]
    if package not in INSTALL:
        raise ValueError(
            _(
                "module must belong to one of {allowed}; got {module}",
                allowed=sorted(INSTALL),
                module=repr(module),
            )
        )
    try:
        return importlib.import_module(module)
    except ImportError:
        hint = _(
            "install it with {command}; or all three: {all}",
            command=_(INSTALL[package]),
            all=_(ALL_AT_ONCE),
        )
        raise EmulatorMissing(package, hint) from None


def versions() -> dict[str, str | None]:
    """The installed version of each optional package, None when missing. Lesson 06."""
    found: dict[str, str | None] = {}
    for package in INSTALL:
        try:
            found[package] = str(getattr(load(package), "__version__", "installed"))
        except EmulatorMissing:
            found[package] = None
    return found
