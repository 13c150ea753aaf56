"""Graphviz figures of the course, in one visual language (see `style`).

Each figure is a function `name(lang="en")` returning a `graphviz.Digraph` whose `comment` is a
one-sentence description, used as caption and alt text. Nothing here displays anything.
"""

from vizlib.diagrams.article import (
    full_virtualization,
    kvm_architecture,
    kvm_qemu_relationship,
    paravirtualization,
    xen_architecture,
)
from vizlib.diagrams.concepts import hardware_emulation, hypervisor_types
from vizlib.diagrams.figures import ALL_FIGURES, ARTICLE_FIGURES
from vizlib.diagrams.paths import event_path
from vizlib.diagrams.style import LANGS, LAYER_NAMES, LAYERS, legend

__all__ = [
    "ALL_FIGURES",
    "ARTICLE_FIGURES",
    "LANGS",
    "LAYERS",
    "LAYER_NAMES",
    "full_virtualization",
    "event_path",
    "hardware_emulation",
    "hypervisor_types",
    "kvm_architecture",
    "kvm_qemu_relationship",
    "legend",
    "paravirtualization",
    "xen_architecture",
]
