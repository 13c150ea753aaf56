"""Instruction catalogues and Popek & Goldberg's Theorem 1. Lesson 02 introduces them.

An instruction is *privileged* when it traps if run in user mode and does not trap in supervisor
mode; *control-sensitive* when it changes the machine's configuration (interrupts, memory map,
devices, mode); *behaviour-sensitive* when its result depends on the mode it runs in or on where
the machine really is; *innocuous* when it is neither sensitive kind (Popek & Goldberg, CACM 1974).
Theorem 1: a VMM may be built if every sensitive instruction is privileged. The condition is
sufficient, not necessary: x86 fails it, yet VMMs were built for it by other means.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Instruction:
    """One catalogue entry: how an instruction behaves outside supervisor mode. Lesson 02."""

    name: str
    privileged: bool
    control_sensitive: bool
    behaviour_sensitive: bool
    note: str = ""

    @property
    def sensitive(self) -> bool:
        """Control- or behaviour-sensitive."""
        return self.control_sensitive or self.behaviour_sensitive

    @property
    def innocuous(self) -> bool:
        """Neither sensitive kind: safe to run directly on the real CPU."""
        return not self.sensitive

    @property
    def sensitive_unprivileged(self) -> bool:
        """Sensitive yet runs in user mode without trapping: what breaks Theorem 1."""
        return self.sensitive and not self.privileged


_ROW_FORM = "(name, privileged, control_sensitive, behaviour_sensitive[, note])"


class Catalogue(Mapping[str, Instruction]):
    """An instruction set: a read-only mapping name -> Instruction, in a fixed order. Lesson 02."""

    def __init__(self, name: str, instructions: Iterable[Instruction], note: str = "") -> None:
        self.name = name
        self.note = note
        self._entries: dict[str, Instruction] = {}
        for entry in instructions:
            if not isinstance(entry, Instruction):
                raise ValueError(f"instructions must be Instruction objects; got {entry!r}")
            if entry.name in self._entries:
                raise ValueError(f"instructions must have distinct names; {entry.name!r} repeats")
            self._entries[entry.name] = entry

    @classmethod
    def from_rows(cls, name: str, rows: Iterable[tuple], note: str = "") -> Catalogue:
        """Build a catalogue from rows of the form (name, privileged, control_sensitive,
        behaviour_sensitive[, note]), e.g. for a made-up ISA in an exercise. Lesson 02."""
        entries = []
        for row in rows:
            if not isinstance(row, tuple) or len(row) not in (4, 5):
                raise ValueError(f"rows must be tuples {_ROW_FORM}; got {row!r}")
            if not isinstance(row[0], str) or not all(isinstance(flag, bool) for flag in row[1:4]):
                raise ValueError(
                    f"rows must be {_ROW_FORM} with a str and three bools; got {row!r}"
                )
            entries.append(Instruction(*row))
        return cls(name, entries, note)

    def __getitem__(self, name: str) -> Instruction:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Catalogue({self.name!r}, {len(self)} instructions)"


@dataclass(frozen=True)
class Verdict:
    """What Theorem 1 says about a catalogue. Lesson 02.

    `virtualizable` is True when the theorem's sufficient condition holds (sensitive is a subset
    of privileged); `violations` are the sensitive, unprivileged instructions in catalogue order.
    """

    catalogue: str
    virtualizable: bool
    violations: tuple[str, ...]
    sensitive: tuple[str, ...]
    privileged: tuple[str, ...]

    @property
    def summary(self) -> str:
        """One sentence for a lesson cell."""
        if self.virtualizable:
            return (
                f"{self.catalogue}: all {len(self.sensitive)} sensitive instructions are "
                "privileged, so Theorem 1 applies: trap-and-emulate alone can build a VMM."
            )
        return (
            f"{self.catalogue}: {len(self.violations)} sensitive instructions do not trap "
            f"({', '.join(self.violations)}), so Theorem 1 does not apply: trap-and-emulate "
            "alone cannot keep the guest equivalent."
        )


def popek_goldberg(catalogue: Catalogue) -> Verdict:
    """Apply Popek & Goldberg's Theorem 1 (sensitive is a subset of privileged). Lesson 02."""
    if not isinstance(catalogue, Catalogue):
        raise ValueError(
            f"catalogue must be a Catalogue (e.g. isa.X86, isa.RISCV); got {catalogue!r}"
        )
    entries = catalogue.values()
    violations = tuple(e.name for e in entries if e.sensitive_unprivileged)
    return Verdict(
        catalogue=catalogue.name,
        virtualizable=not violations,
        violations=violations,
        sensitive=tuple(e.name for e in entries if e.sensitive),
        privileged=tuple(e.name for e in entries if e.privileged),
    )


# The x86 rows describe 32-bit protected mode before VT-x, with the guest kernel deprivileged and
# IOPL 0. Classification after Robin & Irvine (USENIX Security 2000) and Popek & Goldberg (1974);
# the CPUID and RDTSC rows as noted in them. "Privileged" means "traps outside ring 0 with IOPL 0".
_IOPL = "IOPL-sensitive: #GP when CPL > IOPL, so with IOPL 0 it traps outside ring 0"
_RING0 = "ring 0 only: #GP elsewhere"
_READS = "unprivileged: from any ring it reads the real register, so a deprivileged guest sees "
_CHECKS = "unprivileged; compares a descriptor's privilege with the CPL, so its answer depends on "
_CHECKS += "the ring the guest really runs in"

X86 = Catalogue.from_rows(
    "x86 (32-bit, before VT-x)",
    [
        ("ADD", False, False, False, "Arithmetic on registers and memory: innocuous."),
        ("MOV", False, False, False, "Move between general registers and memory: innocuous."),
        ("CLI", True, True, False, f"Clears IF (masks interrupts). {_IOPL}."),
        ("STI", True, True, False, f"Sets IF (unmasks interrupts). {_IOPL}."),
        ("HLT", True, True, False, f"Stops the CPU until the next interrupt; {_RING0}."),
        ("IN", True, True, False, f"Reads an I/O port. {_IOPL} (unless the TSS bitmap allows)."),
        ("OUT", True, True, False, f"Writes an I/O port. {_IOPL} (unless the TSS bitmap allows)."),
        ("MOV_CR0", True, True, False, f"MOV to CR0 (protection, paging, TS); {_RING0}."),
        ("MOV_FROM_CR0", True, False, True, f"MOV from CR0; {_RING0} (but see SMSW)."),
        ("MOV_CR3", True, True, False, f"MOV to CR3: switch page tables; {_RING0}."),
        ("MOV_FROM_CR3", True, False, True, f"MOV from CR3: real page-table base; {_RING0}."),
        ("LGDT", True, True, False, f"Loads the global descriptor table register; {_RING0}."),
        ("LIDT", True, True, False, f"Loads the interrupt descriptor table register; {_RING0}."),
        ("LLDT", True, True, False, f"Loads the local descriptor table register; {_RING0}."),
        ("LTR", True, True, False, f"Loads the task register; {_RING0}."),
        ("LMSW", True, True, False, f"Loads the low 16 bits of CR0; {_RING0}."),
        ("INVLPG", True, True, False, f"Drops one TLB entry; {_RING0}."),
        ("WRMSR", True, True, False, f"Writes a model-specific register; {_RING0}."),
        ("RDMSR", True, False, True, f"Reads a model-specific register; {_RING0}."),
        ("SGDT", False, False, True, f"Stores GDTR; {_READS}the VMM's table."),
        ("SIDT", False, False, True, f"Stores IDTR; {_READS}the VMM's table."),
        ("SLDT", False, False, True, f"Stores the LDT selector; {_READS}the VMM's."),
        ("STR", False, False, True, f"Stores the task register; {_READS}the VMM's."),
        ("SMSW", False, False, True, f"Stores CR0's low 16 bits; {_READS}the real PE, TS bits."),
        ("PUSHF", False, False, True, f"Pushes EFLAGS; {_READS}the real IF and IOPL."),
        (
            "POPF",
            False,
            True,
            True,
            "Loads EFLAGS; when CPL > IOPL it silently leaves IF unchanged (no trap), and IOPL "
            "changes only in ring 0.",
        ),
        ("LAR", False, False, True, f"Loads a segment's access rights; {_CHECKS}."),
        ("LSL", False, False, True, f"Loads a segment's limit; {_CHECKS}."),
        ("VERR", False, False, True, f"Verifies a segment is readable; {_CHECKS}."),
        ("VERW", False, False, True, f"Verifies a segment is writable; {_CHECKS}."),
        ("MOV_SREG", False, False, True, "MOV to/from a segment register: CS shows the CPL."),
        ("PUSH_SREG", False, False, True, "PUSH of a segment register: pushed CS shows the CPL."),
        ("POP_SREG", False, False, True, "POP of a segment register: checks depend on the CPL."),
        ("CALL_FAR", False, False, True, "Far CALL (call gates): checks depend on the CPL."),
        ("JMP_FAR", False, False, True, "Far JMP: privilege checks depend on the CPL."),
        ("RET_FAR", False, False, True, "Far RET: returns to an outer ring judged by the CPL."),
        ("INT", False, False, True, "INT n: the gate's DPL is checked against the CPL."),
        (
            "CPUID",
            False,
            False,
            True,
            "Reports the real processor's identity and features; unprivileged on pre-VT x86 "
            "(CPUID faulting came later; VT-x always exits on it).",
        ),
        (
            "RDTSC",
            False,
            False,
            False,
            "Reads the time-stamp counter; unprivileged unless CR4.TSD is set (then #GP outside "
            "ring 0). Timing is outside Popek & Goldberg's equivalence, so not sensitive here; "
            "VMMs still trap it to virtualize time (Adams & Agesen 2006).",
        ),
        (
            "SYSCALL",
            False,
            False,
            False,
            "Enters ring 0 at the entry point ring-0 software set in an MSR, like a trap, so the "
            "VMM keeps control (AMD64; 32-bit kernels use SYSENTER or INT 0x80).",
        ),
    ],
    note="32-bit protected mode, guest kernel deprivileged, IOPL 0 (Robin & Irvine 2000).",
)

# Robin & Irvine (USENIX Security 2000): the sensitive, unprivileged x86 instructions as the list
# is commonly reproduced. It has 18 mnemonics while most sources say 17 (not checked against the
# paper). PUSH, POP, CALL, JMP, INT, RET and MOV are sensitive only in the forms ROBIN_IRVINE_FORMS
# names (segment registers, far transfers, gates).
ROBIN_IRVINE = (
    *("SGDT", "SIDT", "SLDT", "SMSW", "PUSHF", "POPF"),
    *("LAR", "LSL", "VERR", "VERW", "POP", "PUSH", "CALL", "JMP", "INT", "RET", "STR", "MOV"),
)
ROBIN_IRVINE_NOTE = (
    "17 sensitive, unprivileged instructions per Robin & Irvine (USENIX Security 2000), as "
    "usually cited; the list as commonly reproduced has 18 mnemonics. PUSH, POP, CALL, JMP, "
    "INT, RET and MOV count only in their segment-register, far or gate forms."
)
ROBIN_IRVINE_FORMS = {
    "POP": "POP_SREG",
    "PUSH": "PUSH_SREG",
    "CALL": "CALL_FAR",
    "JMP": "JMP_FAR",
    "RET": "RET_FAR",
    "MOV": "MOV_SREG",
}

# RISC-V with the guest kernel run in U-mode, for contrast. Source: The RISC-V Instruction Set
# Manual, Volume II: Privileged Architecture (CSR access rules; SRET, WFI, SFENCE.VMA; counteren).
_U_TRAPS = "illegal-instruction exception in U-mode"
RISCV = Catalogue.from_rows(
    "RISC-V (supervisor subset)",
    [
        ("ADD", False, False, False, "Arithmetic: innocuous."),
        ("LW", False, False, False, "Load through the page tables the VMM controls: innocuous."),
        ("CSRRC sstatus", True, True, False, f"Clear SIE, the counterpart of CLI; {_U_TRAPS}."),
        ("CSRRS sstatus", True, True, True, f"Read or set sstatus (PUSHF, STI); {_U_TRAPS}."),
        ("CSRRW satp", True, True, False, f"Switch page tables (MOV to CR3); {_U_TRAPS}."),
        ("CSRRS satp", True, False, True, f"Read the page-table root; {_U_TRAPS}."),
        ("CSRRW stvec", True, True, False, f"Set the trap vector (LIDT); {_U_TRAPS}."),
        ("CSRRS stvec", True, False, True, f"Read the trap vector (SIDT); {_U_TRAPS}."),
        ("SRET", True, True, False, f"Return from a supervisor trap; {_U_TRAPS}."),
        ("SFENCE.VMA", True, True, False, f"Flush address translations (INVLPG); {_U_TRAPS}."),
        (
            "WFI",
            True,
            True,
            False,
            f"Wait for an interrupt (HLT); {_U_TRAPS} unless it completes within a bounded time.",
        ),
        ("ECALL", False, False, False, "Traps to the next more privileged level by design."),
        (
            "RDTIME",
            False,
            False,
            False,
            "Reads the timer; allowed in U-mode only when scounteren permits (else it traps), "
            "like RDTSC under CR4.TSD. Timing is outside equivalence.",
        ),
    ],
    note="Every CSR encodes the lowest privilege that may access it; no U-mode instruction "
    "reveals or changes supervisor state (RISC-V Privileged Architecture).",
)
