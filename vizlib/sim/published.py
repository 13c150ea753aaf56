"""Every number the course's models use, written once: value, unit, kind and source. Lesson 03.

`value(key)` gives a number, `number(key)` the whole entry, `table()` all of them, in the order
they are listed here and then the fitted ones `vizlib.sim.costs` adds. A kind says where a number
comes from:

- **measured**: published in the source named (a measurement, a count, a product's figure);
- **derived**: arithmetic on other entries, shown in its source;
- **assumption**: the model's own choice where no source gives the number, with its reason;
- **fitted**: solved so that the model reproduces a published measurement (see `costs`).

Models read these entries and never retype them; `tests/test_consistency.py` checks that no
published number appears again as a literal in `vizlib` or in a lesson's code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

from vizlib.i18n import _

KINDS = ("measured", "derived", "assumption", "fitted")
MEASURED, DERIVED, ASSUMPTION, FITTED = KINDS


@dataclass(frozen=True)
class Number:
    """One entry of the table. Lesson 03."""

    key: str
    value: float
    unit: str
    kind: str
    source: str


_TABLE: dict[str, Number] = {}


def add(key: str, value: float, unit: str, kind: str, source: str) -> float:
    """Enter a number in the table once, and return its value (for `costs`' fitted entries)."""
    if key in _TABLE:
        raise ValueError(f"key {key!r} is already in the table of published numbers")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if not math.isfinite(value):
        raise ValueError(f"value of {key!r} must be a finite number; got {value!r}")
    _TABLE[key] = Number(key, value, unit, kind, source)
    return value


def number(key: str) -> Number:
    """The entry `key`, with its unit, kind and source."""
    if key not in _TABLE:
        table()  # the fitted entries arrive with vizlib.sim.costs
    if key not in _TABLE:
        raise ValueError(
            _("key must be one of the table's keys (see table()); got {key}", key=repr(key))
        )
    return _TABLE[key]


def value(key: str) -> float:
    """The value of the entry `key`."""
    return number(key).value


def table() -> MappingProxyType:
    """Every entry, key -> Number, the fitted ones of the cost model included."""
    from vizlib.sim import costs  # noqa: F401 -- adds its fitted entries

    return MappingProxyType(_TABLE)


def _derive(key: str, unit: str, formula: str, result: float) -> float:
    return add(key, result, unit, DERIVED, f"derived: {formula}")


def _grid(key: str, columns: tuple[str, ...], rows: dict, unit: str, source: str) -> None:
    """Enter a published table: one measured entry per row and column, keyed and sourced by the
    templates `key` and `source` (which name {row} and {column})."""
    for row, values in rows.items():
        for column, number_ in zip(columns, values, strict=True):
            where = {"row": row, "column": column}
            add(key.format(**where), number_, unit, MEASURED, source.format(**where))


# --- Processors ---------------------------------------------------------------------------------
_AA = "Adams & Agesen, ASPLOS 2006"
add("p4.clock", 3.8e9, "Hz", MEASURED, f"{_AA}: Pentium 4 672, 3.8 GHz")
add("core2.clock", 2.66e9, "Hz", MEASURED, f'{_AA}, Table 1 heading: "2.66GHz Core 2 Duo"')
add(
    "modern.clock",
    2.5e9,
    "Hz",
    ASSUMPTION,
    "the Xeon Platinum 8269CY of the PVM paper (SOSP 2023), as its brand string says "
    '("@ 2.50GHz"); assumption: its microseconds were measured at that clock (cloud instances '
    "turbo up to 3.2 GHz)",
)

# --- Adams & Agesen: nanobenchmarks on the Pentium 4 (native / software VMM / hardware VMM) -----
_VMMS = ("native", "software", "hardware")
_grid(
    "p4.{row}.{column}",
    _VMMS,
    {
        "syscall": (242, 2308, 246),
        "in": (3209, 216, 15826),
        "cr8write": (150, 35, 177),
        "call-ret": (11, 51, 11),
        "pgfault": (1093, 3927, 11242),
        "divzero": (889, 3223, 1014),
        "ptemod": (1, 391, 12733),
    },
    "cycles",
    _AA + ", raw-data appendix (Pentium 4): {row}, {column}",
)
add("p4.rdtsc.trap", 2030, "cycles", MEASURED, f"{_AA}: rdtsc by trap-and-emulate")
add("p4.rdtsc.callout", 1254, "cycles", MEASURED, f"{_AA}: rdtsc by a callout from translated code")
add("p4.rdtsc.in-tc", 216, "cycles", MEASURED, f"{_AA}: rdtsc emulated in the translation cache")
add("p4.cli.native", 60, "cycles", MEASURED, f"{_AA}: cli natively")
add("bt.translate", 2300, "cycles", MEASURED, f"{_AA}: the translator, per x86 instruction")
add("bt.max-tu", 12, "instructions", MEASURED, f"{_AA}: a translation unit's longest")
add("vt.vmcs-reads", 10, "count", MEASURED, f"{_AA}: VMCS reads a typical exit needs (~10)")
for _cpu, (_entry, _exit, _read, _write) in {
    "p4": (2409, 1931, 178, 171),
    "core2": (937, 1186, 52, 44),
}.items():
    _where = f"{_AA}, Table 1 ({'Pentium 4' if _cpu == 'p4' else 'Core 2 Duo'})"
    add(f"{_cpu}.vm-entry", _entry, "cycles", MEASURED, f"{_where}: VM entry")
    add(f"{_cpu}.pf-exit", _exit, "cycles", MEASURED, f"{_where}: page-fault VM exit")
    add(f"{_cpu}.vmcs-read", _read, "cycles", MEASURED, f"{_where}: VMCB read")
    add(f"{_cpu}.vmcs-write", _write, "cycles", MEASURED, f"{_where}: VMCB write")
    _derive(
        f"{_cpu}.vm-round-trip",
        "cycles",
        "page-fault VM exit + VM entry + the ~10 VMCS reads of a typical exit",
        _exit + _entry + value("vt.vmcs-reads") * _read,
    )

# --- Adams & Agesen: whole workloads --------------------------------------------------------------
add("forkwait.iterations", 40_000, "count", MEASURED, f"{_AA}: forkwait's fork/wait pairs")
_grid(
    "{row}.forkwait.{column}",
    _VMMS,
    {"p4": (6.0, 36.9, 106.4), "core2": (2.62, 18.4, 38.9)},
    "s",
    _AA + ": forkwait, {row}, {column}",
)
add("p4.specint.software", 1.04, "x", MEASURED, f"{_AA}: SPECint2000, 0-9 % slower, mean 4 %")
add("p4.specint.hardware", 1.05, "x", MEASURED, f"{_AA}: SPECint2000, mean 5 % slower")
_grid(
    "p4.{row}.{column}", _VMMS, {"compile": (265, 393, 484)}, "s", _AA + ": Linux {row}, {column}"
)

# --- Bellard (USENIX 2005 FREENIX): QEMU ---------------------------------------------------------
_QEMU = "Bellard, USENIX 2005 FREENIX"
add(
    "qemu.user-slowdown", 4, "x", MEASURED, f"{_QEMU}: user-mode QEMU ~4x native (BYTEmark integer)"
)
add("qemu.softmmu-factor", 2, "x", MEASURED, f"{_QEMU}: the soft MMU, ~2x more in full system")
add("qemu.bochs-factor", 30, "x", MEASURED, f"{_QEMU}: full-system QEMU ~30x faster than Bochs")
_derive(
    "emulation.factor",
    "x",
    "QEMU user mode ~4x native, soft MMU ~2x more (Bellard); assumption: the same on every host",
    value("qemu.user-slowdown") * value("qemu.softmmu-factor"),
)

# --- Bhargava et al. (ASPLOS 2008): two-dimensional page walks -----------------------------------
_2D = "Bhargava et al., ASPLOS 2008"
add("ept.walk-factor.low", 3.9, "x", MEASURED, f"{_2D}: 2D walk latency / native, lowest")
add("ept.walk-factor.high", 4.6, "x", MEASURED, f"{_2D}: 2D walk latency / native, highest")
_derive(
    "ept.walk-factor",
    "x",
    "midpoint of Bhargava et al.'s 3.9-4.6x (no walk caches); assumption: the same on every CPU",
    (value("ept.walk-factor.low") + value("ept.walk-factor.high")) / 2,
)
add("tlb-misses.low", 18, "per 100,000 instructions", MEASURED, f"{_2D}: fewest across workloads")
add("tlb-misses.high", 294, "per 100,000 instructions", MEASURED, f"{_2D}: most across workloads")

# --- Barham et al. (SOSP 2003): Xen ---------------------------------------------------------------
_XEN = "Barham et al., SOSP 2003"
_grid(
    "lmbench.{row}.{column}",
    ("linux", "xen"),
    {
        "null-call": (0.45, 0.46),
        "fork": (110, 198),
        "exec": (530, 768),
        "context-switch": (0.77, 1.97),
        "mmap": (68, 139),
        "page-fault": (1.42, 2.73),
    },
    "us",
    _XEN + ", Tables 3-5: lmbench {row} under {column} (native Linux, XenoLinux)",
)
add("xen.port-lines", 2995, "lines", MEASURED, f"{_XEN}, Table 2: lines of Linux changed for Xen")
add("xen.port-share", 0.0136, "share", MEASURED, f"{_XEN}, Table 2: share of x86 Linux, no drivers")
add(
    "xenolinux.batch",
    2048,
    "updates",
    MEASURED,
    f"{_XEN}: XenoLinux's batch buffer of page-table updates (its size, not a limit of Xen)",
)
add(
    "linux.mc-batch",
    32,
    "updates",
    ASSUMPTION,
    "Linux's Xen PV code flushes its multicall buffer at 32 entries (MC_BATCH, "
    "arch/x86/xen/multicalls.c); assumption: 32 page-table updates per hypercall",
)

# --- PVM paper (SOSP 2023): Xeon Platinum 8269CY ------------------------------------------------
_PVM = "PVM paper (SOSP 2023)"
_grid(
    "pvm.{row}.{column}",
    ("kvm", "nested-kvm", "pvm"),
    {
        "hypercall": (0.46, 7.43, 0.48),
        "exception": (1.66, 9.20, 2.21),
        "MSR access": (0.87, 8.18, 2.88),
        "CPUID": (0.54, 7.10, 0.51),
        "PIO": (3.79, 29.34, 12.94),
    },
    "us",
    _PVM + ", Table 1: {row}, {column}",
)
add("pvm.world-switch", 0.105, "us", MEASURED, f"{_PVM}: a single-level world switch")
add("pvm.nested-switch", 1.3, "us", MEASURED, f"{_PVM}: a nested world switch, L2 -> L1")
_grid(
    "kvm-{column}.{row}",
    ("ept", "spt"),
    {
        "getpid": (0.22, 2.09),
        "fork": (82, 505),
        "exec": (422, 1500),
        "page-fault": (0.15, 0.93),
        "protection-fault": (0.66, 3.17),
    },
    "us",
    _PVM + ", bare metal: {row} under kvm-{column}",
)

# --- Sugerman et al. (USENIX ATC 2001): VMware Workstation's emulated network card ---------------
_NIC = "Sugerman et al., USENIX ATC 2001 (733 MHz Pentium III)"
add("nic.packet", 31.63, "us", MEASURED, f"{_NIC}: one transmit started by an OUT")
add("nic.world-and-host", 30.65, "us", MEASURED, f"{_NIC}: of which world switches and the host")
add("nic.transmit", 17.55, "us", MEASURED, f"{_NIC}: of which the host driver's real transmit")
add("nic.throughput", 64, "Mb/s", MEASURED, f"{_NIC}: the CPU-bound throughput")
_derive(
    "nic.hosted-overhead",
    "us",
    "world switches and host (30.65 us) minus the real transmit (17.55 us)",
    value("nic.world-and-host") - value("nic.transmit"),
)

# --- perf kvm stat on a Linux guest (kvm@vger, 2019-10-15) ----------------------------------------
for _reason, _share in {
    "HLT": 0.75,
    "VMCALL": 0.105,
    "MSR_WRITE": 0.061,
    "EPT_VIOLATION": 0.047,
}.items():
    add(
        f"kvm-stat.{_reason}", _share, "share", MEASURED, f"perf kvm stat, kvm@vger 2019: {_reason}"
    )
add("kvm-stat.others.max", 0.013, "share", MEASURED, "perf kvm stat: every other reason below")

# --- The cost model's assumptions ---------------------------------------------------------------
add("p4.cpi", 2.5, "cycles", ASSUMPTION, "NetBurst on kernel-heavy code: cycles per instruction")
add(
    "p4.context-switch.native",
    500,
    "cycles",
    ASSUMPTION,
    "a CR3 load and TLB flush on the Pentium 4 (the refills count as TLB misses)",
)
add(
    "page-walk.native",
    40,
    "cycles",
    ASSUMPTION,
    "a native 4-level walk with its entries in the caches, the same on every CPU",
)
add(
    "pv.pte-validate",
    100,
    "cycles",
    ASSUMPTION,
    "Xen checks the frame's owner and updates a reference count per page-table update",
)
_FORKWAIT = "assumption, per fork/wait of forkwait"
add("forkwait.syscalls", 3, "events", ASSUMPTION, f"{_FORKWAIT}: fork, exit, wait4")
add("forkwait.context-switches", 2, "events", ASSUMPTION, f"{_FORKWAIT}: to the child and back")
add("forkwait.page-faults", 10, "events", ASSUMPTION, f"{_FORKWAIT}: copy-on-write faults")
add("forkwait.tlb-misses", 200, "events", ASSUMPTION, f"{_FORKWAIT}: the child's TLB starts empty")
add("forkwait.address-spaces", 1, "events", ASSUMPTION, f"{_FORKWAIT}: the child's, made by fork")
