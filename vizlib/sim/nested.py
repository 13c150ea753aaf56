"""Nested virtualization: what one guest exit costs when the hypervisor itself runs in a VM.

Lesson 10. L0 is the hypervisor on the hardware, L1 a virtual machine of L0 that runs a hypervisor
of its own, L2 a virtual machine of L1. With VT-x only L0 runs in root mode, so every exit of L2
reaches L0 first; L0 reflects it into L1, and L1's handler, whose VMX instructions trap in
non-root mode, comes back to L0 again before L2 resumes: exits multiply. PVM (SOSP 2023) runs L2
without VT-x, guest kernel and user in ring 3 of L1's VM, so an L2 exit is a switch inside L1's
VM that L0 never sees. Costs are the PVM paper's measurements; `trace` lays out the steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Integral, Real
from types import MappingProxyType

from vizlib.i18n import N_, _
from vizlib.sim.errors import not_a_bool, not_an_integer, not_one_of
from vizlib.sim.published import value

SETUPS = ("kvm", "nested-kvm", "pvm")
SETUP_LABELS = MappingProxyType(
    {
        "kvm": N_("KVM on bare metal"),
        "nested-kvm": N_("nested KVM (L2 guest)"),
        "pvm": N_("PVM, nested (L2 guest)"),
    }
)
OPERATIONS = (N_("hypercall"), N_("exception"), N_("MSR access"), N_("CPUID"), N_("PIO"))
EVENTS = (*OPERATIONS, N_("hidden page fault"))

TABLE1 = "PVM paper (SOSP 2023), Table 1, Xeon Platinum 8269CY"
# PVM paper (SOSP 2023), Table 1, microseconds per round trip, in the order of SETUPS:
# KVM bare metal / KVM nested (L2) / PVM nested.
PUBLISHED_US = MappingProxyType(
    {op: tuple(value(f"pvm.{op}.{setup}") for setup in SETUPS) for op in OPERATIONS}
)
WORLD_SWITCH_US = value("pvm.world-switch")  # PVM paper: a single-level world switch
NESTED_SWITCH_US = value("pvm.nested-switch")  # PVM paper: a nested world switch, L2 -> L1
# Adams & Agesen (ASPLOS 2006): a typical exit needs ~10 VMCS reads (VMware's VMM; assumed of
# L1's KVM too).
VMCS_ACCESSES = int(value("vt.vmcs-reads"))
MAX_VMCS_ACCESSES = 1000  # a bound for the parameter, far above any real handler
PAGE_FAULT_SPT_US = value("kvm-spt.page-fault")  # PVM paper, bare metal: under shadow paging
HIDDEN_FAULT_SOURCE = (
    "derived: PVM paper page fault under kvm-spt (0.93 us) plus the setup's extra cost of an "
    "exception over bare metal (Table 1); assumption: a hidden fault pays what an exception pays"
)

# What the guest does, and what the hypervisor that handles it does, per event.
_WHAT = {
    "hypercall": (N_("makes a hypercall"), N_("handles the hypercall")),
    "exception": (
        N_("takes an exception the hypervisor intercepts"),
        N_("handles the exception and delivers it to the guest kernel"),
    ),
    "MSR access": (N_("reads a model-specific register (RDMSR)"), N_("emulates the register read")),
    "CPUID": (N_("executes CPUID"), N_("emulates CPUID: fills in the guest's registers")),
    "PIO": (
        N_("writes an emulated device's I/O port (OUT)"),
        N_("passes the access to its device model in user space (QEMU) and back"),
    ),
    "hidden page fault": (
        N_("touches a page its own page table maps but the shadow table does not yet"),
        N_("walks the guest's page table and fills in the shadow entry"),
    ),
}


@dataclass(frozen=True)
class RoundTripStep:
    """One step of an event's round trip: who runs, what it does (in the course's language), its
    VM exits to L0. Lesson 10."""

    level: str
    action: str
    l0_exits: int = 0


@dataclass(frozen=True)
class Trace:
    """One guest event under one setup: the steps, and what the round trip costs. Lesson 10."""

    event: str
    setup: str
    steps: tuple[RoundTripStep, ...]
    cost_us: float
    source: str

    @property
    def l0_exits(self) -> int:
        """Hardware VM exits to L0 during the round trip (those every round trip needs; a real
        L1 handler may cause more)."""
        return sum(step.l0_exits for step in self.steps)

    def rows(self) -> tuple[tuple[int, str, str, int], ...]:
        """(step number, level, action, exits to L0) for a table."""
        return tuple((i, s.level, s.action, s.l0_exits) for i, s in enumerate(self.steps, 1))


@dataclass(frozen=True)
class PagingScheme:
    """How the memory of an L2 guest is virtualized when the hardware walks two dimensions only.

    Lesson 10.
    """

    name: str
    l1_builds: str
    l0_builds: str
    processor_walks: str
    l2_page_table_write: str
    used_by: str

    def row(self) -> tuple[str, ...]:
        """Its fields in order, in the course's language, for a table."""
        return tuple(_(getattr(self, f.name)) for f in fields(self))


# Hardware walks at most two dimensions (guest tables x EPT, lesson 05); the third is flattened
# in software. Ben-Yehuda et al. (OSDI 2010) describe both ways for KVM; PVM (SOSP 2023) uses
# shadow paging in L1 on L0's EPT.
PAGING_SCHEMES = (
    PagingScheme(
        N_("EPT on EPT"),
        N_("an EPT for L2 (EPT12), as if it had the hardware"),
        N_("a shadow EPT (EPT02): EPT12 composed with its own EPT01"),
        N_("L2's page tables x EPT02"),
        N_("a plain store, no exit; L1's writes to EPT12 trap to L0"),
        N_("nested KVM when L0 offers L1 EPT"),
    ),
    PagingScheme(
        N_("shadow on EPT"),
        N_("shadow page tables for L2 (L2-virtual -> L1-physical)"),
        N_("nothing new: its EPT for L1 (EPT01)"),
        N_("L1's shadow tables x EPT01"),
        N_("traps to L1 (under nested KVM by way of L0), like every hidden page fault"),
        N_("PVM; nested KVM when L1 gets no EPT"),
    ),
)


def setup_name(setup: str | None) -> str:
    """The setup `setup` (one of SETUPS, or None: no KVM, or cannot tell) in words, in the course's
    language. Lesson 10."""
    if setup is None:
        return _("no KVM, or cannot tell")
    return _(SETUP_LABELS[_choice("setup", setup, SETUPS)])


def event_name(event: str) -> str:
    """The event `event` (one of EVENTS) in the course's language. Lesson 10."""
    return _(_choice("event", event, EVENTS))


def _choice(parameter: str, value, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise not_one_of(parameter, value, allowed)
    return value


def cost_us(event: str, setup: str) -> float:
    """Microseconds one round trip of `event` takes under `setup`. Lesson 10.

    The PVM paper's Table 1 for OPERATIONS; for a hidden page fault (shadow paging only: kvm-spt
    on bare metal, shadow on EPT nested) the bare-metal kvm-spt page fault plus the setup's extra
    cost of an exception (HIDDEN_FAULT_SOURCE).
    """
    _choice("event", event, EVENTS)
    index = SETUPS.index(_choice("setup", setup, SETUPS))
    if event == "hidden page fault":
        exception = PUBLISHED_US["exception"]
        return PAGE_FAULT_SPT_US + (exception[index] - exception[0])
    return PUBLISHED_US[event][index]


def published(event: str, setup: str) -> bool:
    """True when `cost_us(event, setup)` is a published measurement, not derived. Lesson 10."""
    _choice("event", event, EVENTS)
    _choice("setup", setup, SETUPS)
    return event in OPERATIONS or setup == "kvm"


def source(event: str, setup: str) -> str:
    """Where `cost_us(event, setup)` comes from. Lesson 10."""
    if published(event, setup):
        return TABLE1 if event in OPERATIONS else "PVM paper (SOSP 2023): page fault, kvm-spt"
    return HIDDEN_FAULT_SOURCE


def slowdown(event: str, setup: str) -> float:
    """How many times longer `event` takes under `setup` than on bare-metal KVM. Lesson 10."""
    return cost_us(event, setup) / cost_us(event, "kvm")


def _accesses(value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        value = None
    if value is None or not 0 <= value <= MAX_VMCS_ACCESSES:
        raise not_an_integer("vmcs_accesses", value, 0, MAX_VMCS_ACCESSES)
    return value


def trace(
    event: str,
    setup: str,
    *,
    vmcs_shadowing: bool = False,
    vmcs_accesses: int = VMCS_ACCESSES,
) -> Trace:
    """The round trip of one guest event under `setup`, step by step, said in the course's
    language. Lesson 10.

    Under nested KVM, L1's handler reads and writes L2's VMCS `vmcs_accesses` times; without
    VMCS shadowing (`vmcs_shadowing=False`) each VMREAD or VMWRITE is a VM exit to L0, with it
    none is. The other setups ignore both parameters.
    """
    cost = cost_us(event, setup)
    accesses = _accesses(vmcs_accesses)
    if not isinstance(vmcs_shadowing, bool):
        raise not_a_bool("vmcs_shadowing", vmcs_shadowing)
    does, handles = (_(words) for words in _WHAT[event])
    if setup == "kvm":
        steps = (
            RoundTripStep("L1", _("the guest {does}: a VM exit to L0", does=does), 1),
            RoundTripStep("L0", _("KVM {handles}", handles=handles)),
            RoundTripStep("L0", _("KVM enters the guest again (VMRESUME)")),
        )
    elif setup == "nested-kvm":
        reads = (
            _("served by the shadow VMCS (for the fields L0 shadows), no exit")
            if vmcs_shadowing
            else _("each one a VM exit to L0 and back")
        )
        steps = (
            RoundTripStep(
                "L2",
                _("the guest {does}: a VM exit to L0, the only level in root mode", does=does),
                1,
            ),
            RoundTripStep(
                "L0",
                _(
                    "L0 finds that L1 asked for this exit: copies it into L1's VMCS for L2 "
                    "(VMCS12) and enters L1"
                ),
            ),
            RoundTripStep(
                "L1",
                _(
                    "L1's KVM reads the exit and updates L2's state: {count} VMREAD / VMWRITE "
                    "instructions, {reads}",
                    count=accesses,
                    reads=reads,
                ),
                0 if vmcs_shadowing else accesses,
            ),
            RoundTripStep("L1", _("L1's KVM {handles}", handles=handles)),
            RoundTripStep(
                "L1",
                _(
                    "L1 resumes L2 with VMRESUME: a VM exit to L0, since VMX instructions trap "
                    "in non-root mode"
                ),
                1,
            ),
            RoundTripStep(
                "L0",
                _("L0 merges VMCS12 into the VMCS that really runs L2 (VMCS02) and enters L2"),
            ),
        )
    else:
        steps = (
            RoundTripStep(
                "L2",
                _(
                    "the guest {does}: it runs in ring 3 of L1's VM, so this traps into PVM in "
                    "L1's kernel, a switch inside L1's VM, no VM exit",
                    does=does,
                ),
            ),
            RoundTripStep("L1", _("PVM {handles}", handles=handles)),
            RoundTripStep("L1", _("PVM switches back to L2 in ring 3, no VM exit")),
        )
    return Trace(event, setup, steps, cost, source(event, setup))


def l0_exits(setup: str, *, vmcs_shadowing: bool = False, vmcs_accesses: int = VMCS_ACCESSES):
    """VM exits to L0 for one guest exit handled by the guest's own hypervisor. Lesson 10.

    The same for every event: 1 on bare metal, 2 + `vmcs_accesses` under nested KVM without VMCS
    shadowing (2 with it), 0 under PVM.
    """
    chosen = trace("CPUID", setup, vmcs_shadowing=vmcs_shadowing, vmcs_accesses=vmcs_accesses)
    return chosen.l0_exits


def cpu_share(event: str, setup: str, per_second: float) -> float:
    """Seconds of a CPU per second spent in `per_second` round trips of `event`. Lesson 10.

    Above 1.0 the guest cannot make that many: the exits alone would need more than one CPU.
    """
    value = per_second
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < math.inf:
        raise ValueError(
            _("per_second must be a finite number >= 0; got {value}", value=repr(per_second))
        )
    return value * cost_us(event, setup) * 1e-6


def setup_for_host(
    *,
    kvm_usable: bool,
    hardware_assist: bool | None,
    in_vm: bool | None,
    nested_pvm: bool | None,
) -> str | None:
    """Which of SETUPS a guest started on this host runs under; None: no KVM, or cannot tell.

    Lesson 10 passes the fields of `vizlib.system.probe()`'s report.
    """
    if not kvm_usable:
        return None
    if nested_pvm:
        return "pvm"
    if hardware_assist and in_vm is not None:
        return "nested-kvm" if in_vm else "kvm"
    return None
