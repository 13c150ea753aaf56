"""The optional packages of the emulation lessons, loaded only when a helper needs them. Lesson 06.

unicorn (QEMU's CPU emulator as a library) runs guest code, capstone disassembles it and keystone
assembles it. A missing one raises `EmulatorMissing` with the command that installs it, so
`import vizlib.emulation` always works and a lesson can say what is missing instead of failing.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from vizlib.emulation.errors import EmulatorMissing

# Import name -> how to install it (names on PyPI and conda-forge, as in pyproject's
# `emulation` extra and environment.yml; keystone has no conda-forge package).
INSTALL = {
    "unicorn": "`pip install unicorn` (or `conda install -c conda-forge unicorn`)",
    "capstone": "`pip install capstone` (or `conda install -c conda-forge capstone`)",
    "keystone": "`pip install keystone-engine`",
}
ALL_AT_ONCE = "`pip install unicorn capstone keystone-engine`, then restart the kernel"


def load(module: str) -> ModuleType:
    """Import `module` (e.g. "unicorn.ppc_const"), or raise EmulatorMissing. Lesson 06."""
    package = module.split(".")[0]
    if package not in INSTALL:
        raise ValueError(f"module must belong to one of {sorted(INSTALL)}; got {module!r}")
    try:
        return importlib.import_module(module)
    except ImportError:
        raise EmulatorMissing(
            package, f"install it with {INSTALL[package]}; or all three: {ALL_AT_ONCE}"
        ) from None


def versions() -> dict[str, str | None]:
    """The installed version of each optional package, None when missing. Lesson 06."""
    found: dict[str, str | None] = {}
    for package in INSTALL:
        try:
            found[package] = str(getattr(load(package), "__version__", "installed"))
        except EmulatorMissing:
            found[package] = None
    return found
