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
from vizlib.diagrams.bt import binary_translation
from vizlib.diagrams.cloud import (
    cloud_request,
    containers_and_vms,
    course_recap,
    microvm,
    nested_virtualization,
)
from vizlib.diagrams.concepts import hardware_emulation, hypervisor_types
from vizlib.diagrams.hwassist import memory_virtualization, vm_exit_path, vmx_modes
from vizlib.diagrams.kvm import kvm_ioctl_levels
from vizlib.diagrams.pv import paravirtual_interfaces
from vizlib.diagrams.qemu import qemu_architecture
from vizlib.diagrams.trap import rings, trap_path
from vizlib.diagrams.xen import guest_types, xen_and_kvm

Figure = Callable[..., graphviz.Digraph]

# The article's figure numbers (图1-图5), in the article's order.
ARTICLE_FIGURES: dict[int, Figure] = {
    1: full_virtualization,
    2: paravirtualization,
    3: kvm_architecture,
    4: xen_architecture,
    5: kvm_qemu_relationship,
}

# Every figure drawn from its language alone, in lesson order; figures drawn from a model's result
# (event_path, page_walk, exit_sequence, split_driver's steps) are tested with their lessons.
ALL_FIGURES: dict[str, Figure] = {
    figure.__name__: figure
    for figure in (
        *ARTICLE_FIGURES.values(),
        hypervisor_types,
        hardware_emulation,
        rings,
        trap_path,
        binary_translation,
        paravirtual_interfaces,
        vmx_modes,
        vm_exit_path,
        memory_virtualization,
        qemu_architecture,
        kvm_ioctl_levels,
        guest_types,
        xen_and_kvm,
        cloud_request,
        microvm,
        nested_virtualization,
        containers_and_vms,
        course_recap,
    )
}
