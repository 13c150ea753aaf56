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

from vizlib.i18n import N_, _


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

    @property
    def shown_note(self) -> str:
        """The note in the course's language."""
        return _(self.note) if self.note else ""


def kind(entry: Instruction) -> str:
    """The class of `entry` in the course's language: innocuous, privileged, or sensitive but
    unprivileged (what breaks Theorem 1), that one in bold. Lesson 02."""
    if entry.innocuous:
        return _("innocuous")
    return _("privileged") if entry.privileged else _("**sensitive, not privileged**")


_ROW_FORM = "(name, privileged, control_sensitive, behaviour_sensitive[, note])"


class Catalogue(Mapping[str, Instruction]):
    """An instruction set: a read-only mapping name -> Instruction, in a fixed order. Lesson 02."""

    def __init__(self, name: str, instructions: Iterable[Instruction], note: str = "") -> None:
        self.name = name
        self.note = note
        self._entries: dict[str, Instruction] = {}
        for entry in instructions:
            if not isinstance(entry, Instruction):
                raise ValueError(
                    _("instructions must be Instruction objects; got {entry}", entry=repr(entry))
                )
            if entry.name in self._entries:
                raise ValueError(
                    _(
                        "instructions must have distinct names; {name} repeats",
                        name=repr(entry.name),
                    )
                )
            self._entries[entry.name] = entry

    @classmethod
    def from_rows(cls, name: str, rows: Iterable[tuple], note: str = "") -> Catalogue:
        """Build a catalogue from rows of the form (name, privileged, control_sensitive,
        behaviour_sensitive[, note]), e.g. for a made-up ISA in an exercise. Lesson 02."""
        entries = []
        for row in rows:
            if not isinstance(row, tuple) or len(row) not in (4, 5):
                raise ValueError(
                    _("rows must be tuples {form}; got {row}", form=_ROW_FORM, row=repr(row))
                )
            if not isinstance(row[0], str) or not all(isinstance(flag, bool) for flag in row[1:4]):
                raise ValueError(
                    _(
                        "rows must be {form} with a str and three bools; got {row}",
                        form=_ROW_FORM,
                        row=repr(row),
                    )
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
        """One sentence for a lesson cell, in the course's language."""
        if self.virtualizable:
            return _(
                "{catalogue}: all {count} sensitive instructions are privileged, so Theorem 1 "
                "applies: trap-and-emulate alone can build a VMM.",
                catalogue=_(self.catalogue),
                count=len(self.sensitive),
            )
        return _(
            "{catalogue}: {count} sensitive instructions do not trap ({names}), so Theorem 1 "
            "does not apply: trap-and-emulate alone cannot keep the guest equivalent.",
            catalogue=_(self.catalogue),
            count=len(self.violations),
            names=", ".join(self.violations),
        )


def popek_goldberg(catalogue: Catalogue) -> Verdict:
    """Apply Popek & Goldberg's Theorem 1 (sensitive is a subset of privileged). Lesson 02."""
    if not isinstance(catalogue, Catalogue):
        raise ValueError(
            _(
                "catalogue must be a Catalogue (e.g. isa.X86, isa.RISCV); got {catalogue}",
                catalogue=repr(catalogue),
            )
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
X86 = Catalogue.from_rows(
    N_("x86 (32-bit, before VT-x)"),
    [
        ("ADD", False, False, False, N_("Arithmetic on registers and memory: innocuous.")),
        ("MOV", False, False, False, N_("Move between general registers and memory: innocuous.")),
        (
            "CLI",
            True,
            True,
            False,
            N_(
                "Clears IF (masks interrupts). IOPL-sensitive: #GP when CPL > IOPL, so with IOPL "
                "0 it traps outside ring 0."
            ),
        ),
        (
            "STI",
            True,
            True,
            False,
            N_(
                "Sets IF (unmasks interrupts). IOPL-sensitive: #GP when CPL > IOPL, so with IOPL "
                "0 it traps outside ring 0."
            ),
        ),
        (
            "HLT",
            True,
            True,
            False,
            N_("Stops the CPU until the next interrupt; ring 0 only: #GP elsewhere."),
        ),
        (
            "IN",
            True,
            True,
            False,
            N_(
                "Reads an I/O port. IOPL-sensitive: #GP when CPL > IOPL, so with IOPL 0 it traps "
                "outside ring 0 (unless the TSS bitmap allows)."
            ),
        ),
        (
            "OUT",
            True,
            True,
            False,
            N_(
                "Writes an I/O port. IOPL-sensitive: #GP when CPL > IOPL, so with IOPL 0 it "
                "traps outside ring 0 (unless the TSS bitmap allows)."
            ),
        ),
        (
            "MOV_CR0",
            True,
            True,
            False,
            N_("MOV to CR0 (protection, paging, TS); ring 0 only: #GP elsewhere."),
        ),
        (
            "MOV_FROM_CR0",
            True,
            False,
            True,
            N_("MOV from CR0; ring 0 only: #GP elsewhere (but see SMSW)."),
        ),
        (
            "MOV_CR3",
            True,
            True,
            False,
            N_("MOV to CR3: switch page tables; ring 0 only: #GP elsewhere."),
        ),
        (
            "MOV_FROM_CR3",
            True,
            False,
            True,
            N_("MOV from CR3: real page-table base; ring 0 only: #GP elsewhere."),
        ),
        (
            "LGDT",
            True,
            True,
            False,
            N_("Loads the global descriptor table register; ring 0 only: #GP elsewhere."),
        ),
        (
            "LIDT",
            True,
            True,
            False,
            N_("Loads the interrupt descriptor table register; ring 0 only: #GP elsewhere."),
        ),
        (
            "LLDT",
            True,
            True,
            False,
            N_("Loads the local descriptor table register; ring 0 only: #GP elsewhere."),
        ),
        ("LTR", True, True, False, N_("Loads the task register; ring 0 only: #GP elsewhere.")),
        (
            "LMSW",
            True,
            True,
            False,
            N_("Loads the low 16 bits of CR0; ring 0 only: #GP elsewhere."),
        ),
        ("INVLPG", True, True, False, N_("Drops one TLB entry; ring 0 only: #GP elsewhere.")),
        (
            "WRMSR",
            True,
            True,
            False,
            N_("Writes a model-specific register; ring 0 only: #GP elsewhere."),
        ),
        (
            "RDMSR",
            True,
            False,
            True,
            N_("Reads a model-specific register; ring 0 only: #GP elsewhere."),
        ),
        (
            "SGDT",
            False,
            False,
            True,
            N_(
                "Stores GDTR; unprivileged: from any ring it reads the real register, so a "
                "deprivileged guest sees the VMM's table."
            ),
        ),
        (
            "SIDT",
            False,
            False,
            True,
            N_(
                "Stores IDTR; unprivileged: from any ring it reads the real register, so a "
                "deprivileged guest sees the VMM's table."
            ),
        ),
        (
            "SLDT",
            False,
            False,
            True,
            N_(
                "Stores the LDT selector; unprivileged: from any ring it reads the real "
                "register, so a deprivileged guest sees the VMM's."
            ),
        ),
        (
            "STR",
            False,
            False,
            True,
            N_(
                "Stores the task register; unprivileged: from any ring it reads the real "
                "register, so a deprivileged guest sees the VMM's."
            ),
        ),
        (
            "SMSW",
            False,
            False,
            True,
            N_(
                "Stores CR0's low 16 bits; unprivileged: from any ring it reads the real "
                "register, so a deprivileged guest sees the real PE, TS bits."
            ),
        ),
        (
            "PUSHF",
            False,
            False,
            True,
            N_(
                "Pushes EFLAGS; unprivileged: from any ring it reads the real register, so a "
                "deprivileged guest sees the real IF and IOPL."
            ),
        ),
        (
            "POPF",
            False,
            True,
            True,
            N_(
                "Loads EFLAGS; when CPL > IOPL it silently leaves IF unchanged (no trap), and "
                "IOPL changes only in ring 0."
            ),
        ),
        (
            "LAR",
            False,
            False,
            True,
            N_(
                "Loads a segment's access rights; unprivileged; compares a descriptor's "
                "privilege with the CPL, so its answer depends on the ring the guest really runs "
                "in."
            ),
        ),
        (
            "LSL",
            False,
            False,
            True,
            N_(
                "Loads a segment's limit; unprivileged; compares a descriptor's privilege with "
                "the CPL, so its answer depends on the ring the guest really runs in."
            ),
        ),
        (
            "VERR",
            False,
            False,
            True,
            N_(
                "Verifies a segment is readable; unprivileged; compares a descriptor's privilege "
                "with the CPL, so its answer depends on the ring the guest really runs in."
            ),
        ),
        (
            "VERW",
            False,
            False,
            True,
            N_(
                "Verifies a segment is writable; unprivileged; compares a descriptor's privilege "
                "with the CPL, so its answer depends on the ring the guest really runs in."
            ),
        ),
        ("MOV_SREG", False, False, True, N_("MOV to/from a segment register: CS shows the CPL.")),
        (
            "PUSH_SREG",
            False,
            False,
            True,
            N_("PUSH of a segment register: pushed CS shows the CPL."),
        ),
        (
            "POP_SREG",
            False,
            False,
            True,
            N_("POP of a segment register: checks depend on the CPL."),
        ),
        ("CALL_FAR", False, False, True, N_("Far CALL (call gates): checks depend on the CPL.")),
        ("JMP_FAR", False, False, True, N_("Far JMP: privilege checks depend on the CPL.")),
        ("RET_FAR", False, False, True, N_("Far RET: returns to an outer ring judged by the CPL.")),
        ("INT", False, False, True, N_("INT n: the gate's DPL is checked against the CPL.")),
        (
            "CPUID",
            False,
            False,
            True,
            N_(
                "Reports the real processor's identity and features; unprivileged on pre-VT x86 "
                "(CPUID faulting came later; VT-x always exits on it)."
            ),
        ),
        (
            "RDTSC",
            False,
            False,
            False,
            N_(
                "Reads the time-stamp counter; unprivileged unless CR4.TSD is set (then #GP "
                "outside ring 0). Timing is outside Popek & Goldberg's equivalence, so not "
                "sensitive here; VMMs still trap it to virtualize time (Adams & Agesen 2006)."
            ),
        ),
        (
            "SYSCALL",
            False,
            False,
            False,
            N_(
                "Enters ring 0 at the entry point ring-0 software set in an MSR, like a trap, so "
                "the VMM keeps control (AMD64; 32-bit kernels use SYSENTER or INT 0x80)."
            ),
        ),
    ],
    note=N_("32-bit protected mode, guest kernel deprivileged, IOPL 0 (Robin & Irvine 2000)."),
)

# Robin & Irvine (USENIX Security 2000): the sensitive, unprivileged x86 instructions as the list
# is commonly reproduced. It has 18 mnemonics while most sources say 17 (not checked against the
# paper). PUSH, POP, CALL, JMP, INT, RET and MOV are sensitive only in the forms ROBIN_IRVINE_FORMS
# names (segment registers, far transfers, gates).
ROBIN_IRVINE = (
    *("SGDT", "SIDT", "SLDT", "SMSW", "PUSHF", "POPF"),
    *("LAR", "LSL", "VERR", "VERW", "POP", "PUSH", "CALL", "JMP", "INT", "RET", "STR", "MOV"),
)
ROBIN_IRVINE_NOTE = N_(
    "17 sensitive, unprivileged instructions per Robin & Irvine (USENIX Security 2000), as "
    "usually cited; the list as commonly reproduced has 18 mnemonics. PUSH, POP, CALL, JMP, "
    "INT, RET and MOV count only in their segment-register, far or gate forms."
)


def robin_irvine() -> str:
    """Robin & Irvine's list as commonly reproduced, after ROBIN_IRVINE_NOTE, in the course's
    language. Lesson 02."""
    return _(
        "{note}\n{count} mnemonics: {names}",
        note=_(ROBIN_IRVINE_NOTE),
        count=len(ROBIN_IRVINE),
        names=", ".join(ROBIN_IRVINE),
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
RISCV = Catalogue.from_rows(
    N_("RISC-V (supervisor subset)"),
    [
        ("ADD", False, False, False, N_("Arithmetic: innocuous.")),
        (
            "LW",
            False,
            False,
            False,
            N_("Load through the page tables the VMM controls: innocuous."),
        ),
        (
            "CSRRC sstatus",
            True,
            True,
            False,
            N_("Clear SIE, the counterpart of CLI; illegal-instruction exception in U-mode."),
        ),
        (
            "CSRRS sstatus",
            True,
            True,
            True,
            N_("Read or set sstatus (PUSHF, STI); illegal-instruction exception in U-mode."),
        ),
        (
            "CSRRW satp",
            True,
            True,
            False,
            N_("Switch page tables (MOV to CR3); illegal-instruction exception in U-mode."),
        ),
        (
            "CSRRS satp",
            True,
            False,
            True,
            N_("Read the page-table root; illegal-instruction exception in U-mode."),
        ),
        (
            "CSRRW stvec",
            True,
            True,
            False,
            N_("Set the trap vector (LIDT); illegal-instruction exception in U-mode."),
        ),
        (
            "CSRRS stvec",
            True,
            False,
            True,
            N_("Read the trap vector (SIDT); illegal-instruction exception in U-mode."),
        ),
        (
            "SRET",
            True,
            True,
            False,
            N_("Return from a supervisor trap; illegal-instruction exception in U-mode."),
        ),
        (
            "SFENCE.VMA",
            True,
            True,
            False,
            N_("Flush address translations (INVLPG); illegal-instruction exception in U-mode."),
        ),
        (
            "WFI",
            True,
            True,
            False,
            N_(
                "Wait for an interrupt (HLT); illegal-instruction exception in U-mode unless it "
                "completes within a bounded time."
            ),
        ),
        ("ECALL", False, False, False, N_("Traps to the next more privileged level by design.")),
        (
            "RDTIME",
            False,
            False,
            False,
            N_(
                "Reads the timer; allowed in U-mode only when scounteren permits (else it "
                "traps), like RDTSC under CR4.TSD. Timing is outside equivalence."
            ),
        ),
    ],
    note=N_(
        "Every CSR encodes the lowest privilege that may access it; no U-mode instruction "
        "reveals or changes supervisor state (RISC-V Privileged Architecture)."
    ),
)
