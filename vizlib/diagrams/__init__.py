"""Graphviz figures of the course, in one visual language (see `style`).

Each figure is a function `name(lang=None)` returning a `graphviz.Digraph` whose `comment` is a
one-sentence description, used as caption and alt text; without `lang` it draws in the course's
language (`vizlib.i18n.set_language`). Nothing here displays anything.
"""

from vizlib.diagrams.article import (
    full_virtualization,
    kvm_architecture,
    kvm_qemu_relationship,
    paravirtualization,
    xen_architecture,
)
from vizlib.diagrams.bt import binary_translation
from vizlib.diagrams.cloud import (
    cloud_request,
    containers_and_vms,
    course_recap,
    microvm,
    nested_virtualization,
)
from vizlib.diagrams.concepts import hardware_emulation, hypervisor_types
from vizlib.diagrams.figures import ALL_FIGURES, ARTICLE_FIGURES
from vizlib.diagrams.hwassist import memory_virtualization, page_walk, vm_exit_path, vmx_modes
from vizlib.diagrams.kvm import exit_sequence, kvm_ioctl_levels
from vizlib.diagrams.paths import event_path
from vizlib.diagrams.pv import paravirtual_interfaces
from vizlib.diagrams.qemu import qemu_architecture
from vizlib.diagrams.style import LANGS, LAYER_NAMES, LAYERS, legend
from vizlib.diagrams.trap import rings, trap_path
from vizlib.diagrams.xen import guest_types, split_driver, xen_and_kvm

__all__ = [
    "ALL_FIGURES",
    "ARTICLE_FIGURES",
    "LANGS",
    "LAYERS",
    "LAYER_NAMES",
    "binary_translation",
    "cloud_request",
    "containers_and_vms",
    "course_recap",
    "full_virtualization",
    "guest_types",
    "event_path",
    "exit_sequence",
    "hardware_emulation",
    "hypervisor_types",
    "kvm_architecture",
    "kvm_ioctl_levels",
    "kvm_qemu_relationship",
    "legend",
    "memory_virtualization",
    "microvm",
    "nested_virtualization",
    "page_walk",
    "paravirtual_interfaces",
    "paravirtualization",
    "qemu_architecture",
    "rings",
    "split_driver",
    "trap_path",
    "vm_exit_path",
    "vmx_modes",
    "xen_and_kvm",
    "xen_architecture",
]
