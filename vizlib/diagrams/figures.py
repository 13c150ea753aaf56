"""Every figure of the course by name, and the seed article's five by number."""

from __future__ import annotations

from collections.abc import Callable

import graphviz

from vizlib.diagrams.article import (
    full_virtualization,
    kvm_architecture,
    kvm_qemu_relationship,
    paravirtualization,
    xen_architecture,
)
from vizlib.diagrams.concepts import hardware_emulation, hypervisor_types

Figure = Callable[..., graphviz.Digraph]

# The article's figure numbers (图1-图5), in the article's order.
ARTICLE_FIGURES: dict[int, Figure] = {
    1: full_virtualization,
    2: paravirtualization,
    3: kvm_architecture,
    4: xen_architecture,
    5: kvm_qemu_relationship,
}

ALL_FIGURES: dict[str, Figure] = {
    figure.__name__: figure
    for figure in (*ARTICLE_FIGURES.values(), hypervisor_types, hardware_emulation)
}
