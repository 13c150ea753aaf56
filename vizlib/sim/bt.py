"""A binary translator for a small guest kernel routine, after VMware's. Lesson 03.

`parse(listing)` reads a routine of 32-bit x86 in Intel syntax, one instruction a line, with
`label:` lines. `translate(program, address)` turns the translation unit (TU) that starts at a
guest address into translated code, as Adams & Agesen (ASPLOS 2006) describe VMware's translator:
innocuous instructions are copied unchanged (IDENT); sensitive ones, as `isa.X86` classifies them,
become a few instructions that act on the virtual CPU (`CLI` -> `MOV [vcpu.IF], 0`) or a callout
into the VMM; control flow is rewritten so that it stays in translated code. A TU ends after its
first control-flow instruction, or after MAX_TU instructions.

`run(program, iterations, cache_size)` runs the routine through a translation cache keyed by guest
address: a miss translates, a hit reuses. Stores into the guest's page tables (the `traced`
symbols, which the VMM write-protects) fault until the VMM retranslates them as callouts
(adaptive binary translation). Every step is priced in Pentium 4 cycles from Adams & Agesen's
measurements, beside the same routine run natively and by an interpreter.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property

from vizlib.i18n import N_, _
from vizlib.sim import costs
from vizlib.sim.errors import not_an_integer, not_one_of
from vizlib.sim.isa import X86
from vizlib.sim.published import value

# Costs in Pentium 4 cycles (Adams & Agesen, ASPLOS 2006, Pentium 4 672), from the table of
# published numbers (vizlib.sim.published).
TRANSLATE = value("bt.translate")  # the translator, per x86 instruction
CALLOUT = value("p4.rdtsc.callout")  # rdtsc emulated by a callout from translated code
# cr8write under the software VMM, emulated inside the translation cache. assumption: every
# instruction emulated inline on the virtual CPU costs the same, but port I/O (INLINE_PORT_IO).
INLINE = value("p4.cr8write.software")
INLINE_PORT_IO = value("p4.in.software")  # `in` under the software VMM, in the cache
NATIVE_CPI = value("p4.cpi")  # assumption: cycles per ordinary instruction
NATIVE_CALL = value("p4.call-ret.native") / 2  # derived: half a call/ret pair natively
# derived: the call/ret pair translated minus natively: the return's translation-cache lookup.
RET_LOOKUP = value("p4.call-ret.software") - value("p4.call-ret.native")
NATIVE_SYSTEM = value("p4.cli.native")  # cli natively; used for every system instruction
NATIVE_PORT_IO = value("p4.in.native")  # in (port 0x80) natively; used for every port access
# derived (costs.P4.device_model): the device model's work for one emulated register access,
# paid by the translator and the interpreter alike; natively the device itself answers.
DEVICE_MODEL = costs.P4.device_model
# assumption (costs.P4.bt_hidden_fault): a store into a write-protected page table faults into the
# VMM, which emulates it, for the round trip Adams & Agesen measured for a page fault.
TRACE_FAULT = costs.P4.bt_hidden_fault
ADAPTED_STORE = value("p4.ptemod.software")  # ptemod under the software VMM: the adapted store
# derived: an interpreter runs about 240x slower than native: full-system QEMU is ~8x slower than
# native (~4x, ~2x more for the soft MMU) and ~30x faster than the Bochs interpreter (Bellard 2005).
INTERPRET = value("emulation.factor") * value("qemu.bochs-factor") * NATIVE_CPI
MAX_TU = int(value("bt.max-tu"))  # a translation unit is a basic block of at most 12 instructions
ADAPT_AFTER = 2  # assumption: the VMM retranslates a store after its second fault
# Linux/i386 of the 2.4 and 2.6 eras linked its kernel text at PAGE_OFFSET (0xc0000000) + 1 MiB
# (Gorman, Understanding the Linux Virtual Memory Manager, 2004; System.map: c0100000 T _text).
BASE_ADDRESS = 0xC010_0000
MAX_ITERATIONS = 1000
MAX_CACHE = 64

REGISTERS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "esp", "ebp")
_BASES = REGISTERS[:6]  # [esp] and [ebp] need longer encodings than the table below
CONTROL_FLOW = ("JMP", "JZ", "JNZ", "CALL", "RET")  # near forms; X86 lists the far ones
CONDITIONAL = ("JZ", "JNZ")
# Sensitive instructions the translator emulates inline on the virtual CPU, and the code it emits.
INLINE_CODE = {
    "CLI": "MOV [vcpu.IF], 0",
    "STI": "MOV [vcpu.IF], 1 ; then deliver a pending virtual interrupt",
    "PUSHF": "PUSHF ; copy vcpu.IF into the pushed IF bit",
    "POPF": "POPF without touching the real IF ; vcpu.IF := popped IF",
    "SMSW": "MOV {0}, [vcpu.CR0]",
    "STR": "MOV {0}, [vcpu.TR]",
    "SLDT": "MOV {0}, [vcpu.LDTR]",
    "MOV_FROM_CR0": "MOV {0}, [vcpu.CR0]",
    "MOV_FROM_CR3": "MOV {0}, [vcpu.CR3]",
    "IN": "MOV al, device.read(dx) ; the VMM's device model, reached from the cache",
    "OUT": "device.write(dx, al) ; the VMM's device model, reached from the cache",
}
METHODS = ("IDENT", "INLINE", "CALLOUT", "CONTROL")
KINDS = (N_("innocuous"), N_("sensitive"), N_("control flow"), N_("page-table store"))
BREAKDOWN = (
    N_("translation"),
    N_("IDENT and control flow"),
    N_("inline emulation"),
    N_("callouts"),
    N_("faults"),
    N_("device model"),
)

# Instruction forms and their lengths in bytes (32-bit mode). Operand kinds: r register,
# i number, m [register], s [symbol], c control register, l label; al, dx for port I/O.
# Source: Intel SDM vol. 2 encodings (checked against an assembler in the tests).
_ALU = ("ADD", "SUB", "CMP", "AND", "OR", "XOR")
FORMS: Mapping[tuple[str, tuple[str, ...]], int] = {
    **{(m, ()): 1 for m in ("NOP", "CLI", "STI", "HLT", "PUSHF", "POPF", "RET")},
    **{(m, ()): 2 for m in ("RDTSC", "CPUID", "RDMSR", "WRMSR")},
    **{(m, ("r",)): 1 for m in ("INC", "DEC", "PUSH", "POP")},
    **{(m, ("r", "r")): 2 for m in (*_ALU, "MOV", "TEST")},
    **{(m, ("r", "m")): 2 for m in _ALU},
    **{(m, ("r", "i")): 3 for m in _ALU},  # immediate 0-127 (one signed byte)
    ("MOV", ("r", "i")): 5,
    ("MOV", ("r", "m")): 2,
    ("MOV", ("m", "r")): 2,
    ("MOV", ("r", "s")): 6,  # 5 with eax
    ("MOV", ("s", "r")): 6,  # 5 with eax
    ("MOV", ("c", "r")): 3,
    ("MOV", ("r", "c")): 3,
    ("INVLPG", ("m",)): 3,
    ("INVLPG", ("s",)): 7,
    **{(m, ("r",)): 3 for m in ("SMSW", "STR", "SLDT")},
    ("IN", ("al", "dx")): 1,
    ("OUT", ("dx", "al")): 1,
    ("INT", ("i",)): 2,
    **{(m, ("l",)): 2 for m in ("JMP", "JZ", "JNZ")},  # short jumps: the routines are small
    ("CALL", ("l",)): 5,
}
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*\Z")


@dataclass(frozen=True)
class GuestInstruction:
    """One instruction of the guest routine. Lesson 03.

    `name` is the `isa.X86` catalogue name where there is one (`MOV cr3, eax` is MOV_CR3);
    `kind` is one of KINDS.
    """

    address: int
    text: str
    mnemonic: str
    operands: tuple[str, ...]
    name: str
    kind: str
    length: int

    @property
    def next_address(self) -> int:
        return self.address + self.length


@dataclass(frozen=True)
class Program:
    """A parsed guest routine: its instructions from BASE_ADDRESS on, and its labels. Lesson 03."""

    instructions: tuple[GuestInstruction, ...]
    labels: Mapping[str, int]
    traced: frozenset[str]

    @property
    def entry(self) -> int:
        return self.instructions[0].address

    @cached_property
    def _by_address(self) -> dict[int, GuestInstruction]:
        return {i.address: i for i in self.instructions}

    @cached_property
    def _names(self) -> dict[int, str]:
        return {where: label for label, where in reversed(self.labels.items())}

    def table(self) -> tuple[tuple[str, ...], list[tuple]]:
        """Header and rows for `vizlib.tables.show_table`: the listing with its classes, in the
        course's language (the header in English, which the table translates)."""
        header = (N_("Address"), N_("Instruction"), N_("Bytes"), N_("Class"))
        rows = [(f"{i.address:#x}", i.text, i.length, _(i.kind)) for i in self.instructions]
        return header, rows

    def at(self, address: int) -> GuestInstruction:
        """The instruction at a guest address."""
        if address not in self._by_address:
            raise ValueError(
                _(
                    "address must be the start of an instruction; got {address}",
                    address=repr(address),
                )
            )
        return self._by_address[address]

    def name_of(self, address: int) -> str:
        """The label at an address, else `label+offset` from the closest label before it."""
        if address in self._names:
            return self._names[address]
        before = [where for where in self._names if where < address]
        if not before:
            return f"{address:#x}"
        return f"{self._names[max(before)]}+{address - max(before)}"


@dataclass(frozen=True)
class TranslatedInstruction:
    """What one guest instruction became. Lesson 03.

    `method` is one of METHODS; `cycles` is the cost of one execution of the translated code (a
    conditional jump that falls through runs one more JMP; a store that faults costs TRACE_FAULT).
    """

    guest: GuestInstruction
    method: str
    code: str
    cycles: float


@dataclass(frozen=True)
class TranslationUnit:
    """The translated code of one TU, stored in the cache under the guest `address`. Lesson 03."""

    address: int
    instructions: tuple[TranslatedInstruction, ...]

    @property
    def callouts(self) -> int:
        return sum(t.method == "CALLOUT" for t in self.instructions)

    def table(self) -> tuple[tuple[str, ...], list[tuple]]:
        """Header and rows for `vizlib.tables.show_table`: guest code beside translated code (the
        words in the course's language, the code as it is)."""
        header = (
            N_("Guest address"),
            N_("Guest instruction"),
            N_("Translation"),
            N_("Translated code"),
            N_("Cycles"),
        )
        rows = [
            (f"{t.guest.address:#x}", t.guest.text, t.method, t.code, f"{t.cycles:g}")
            for t in self.instructions
        ]
        return header, rows


@dataclass(frozen=True)
class Entry:
    """One entry into a TU while the routine ran: a cache hit or a miss, and its cost. Lesson 03.

    `iteration` counts the loop's passes (1 + conditional jumps taken so far); `translated` is
    how many instructions this entry translated (0 on a hit); `cycles` includes translation.
    """

    iteration: int
    address: int
    name: str
    hit: bool
    translated: int
    faults: int
    cycles: float


@dataclass(frozen=True)
class Run:
    """A run of the routine through the translation cache, priced three ways. Lesson 03.

    `cycles` is the binary translator's total, by cause in `breakdown` (keys BREAKDOWN);
    `native_cycles` the routine on bare metal; `interpreted_cycles` under an interpreter.
    """

    iterations: int
    cache_size: int
    entries: tuple[Entry, ...]
    breakdown: dict[str, float]
    native_cycles: float
    interpreted_cycles: float
    flushes: int
    callouts: int
    faults: int
    adapted: tuple[int, ...]

    @property
    def cycles(self) -> float:
        return sum(self.breakdown.values())

    @property
    def hits(self) -> int:
        return sum(e.hit for e in self.entries)

    @property
    def misses(self) -> int:
        return len(self.entries) - self.hits

    @property
    def translated(self) -> int:
        """Instructions translated, retranslations included."""
        return sum(e.translated for e in self.entries)

    def breakdown_rows(self) -> list[tuple[str, str]]:
        """Rows for `vizlib.tables.show_table`: the cycles of each cause of `breakdown`, the cause
        in the course's language."""
        return [(_(cause), f"{cycles:,.0f}") for cause, cycles in self.breakdown.items()]

    @property
    def summary(self) -> str:
        """The run's cycles under binary translation, an interpreter and natively, in one line
        in the course's language."""
        return _(
            "binary translation {translated}, interpreter {interpreted}, native {native} cycles",
            translated=f"{self.cycles:,.0f}",
            interpreted=f"{self.interpreted_cycles:,.0f}",
            native=f"{self.native_cycles:,.0f}",
        )

    def table(self) -> tuple[tuple[str, ...], list[tuple]]:
        """Header and rows for `vizlib.tables.show_table`: one row per entry into a TU, in the
        course's language."""
        header = (
            N_("Pass"),
            N_("Unit"),
            N_("Cache"),
            N_("Instructions translated"),
            N_("Faults"),
            N_("Cycles"),
        )
        rows = []
        for e in self.entries:
            cache = _("hit") if e.hit else _("miss")
            rows.append((e.iteration, e.name, cache, e.translated, e.faults, f"{e.cycles:,.0f}"))
        return header, rows


def _operand_kind(operand: str, mnemonic: str) -> str:
    if operand in REGISTERS:
        return "r"
    if operand in ("cr0", "cr3"):
        return "c"
    if operand in ("al", "dx") and mnemonic in ("IN", "OUT"):
        return operand
    if operand.startswith("[") and operand.endswith("]"):
        inside = operand[1:-1].strip()
        if inside in _BASES:
            return "m"
        if _IDENTIFIER.match(inside) and inside not in REGISTERS:
            return "s"
        raise ValueError(
            _(
                "memory operand must be [register] ({registers}) or [symbol]",
                registers=", ".join(_BASES),
            )
        )
    try:
        value = int(operand, 0)
    except ValueError:
        if _IDENTIFIER.match(operand):
            return "l"
        raise ValueError(
            _(
                "operand {operand} is not a register, number, [memory] or label",
                operand=repr(operand),
            )
        ) from None
    high = 0xFFFFFFFF if mnemonic == "MOV" else 0xFF if mnemonic == "INT" else 127
    if not 0 <= value <= high:
        raise ValueError(
            _(
                "{mnemonic}'s immediate must be 0 to {high}; got {operand}",
                mnemonic=mnemonic,
                high=f"{high:#x}",
                operand=operand,
            )
        )
    return "i"


def _forms(mnemonic: str) -> str:
    shapes = [", ".join(kinds) or _("no operands") for m, kinds in FORMS if m == mnemonic]
    return "; ".join(shapes)


def _classify(mnemonic: str, operands: tuple[str, ...], kinds: tuple[str, ...], traced) -> tuple:
    """(catalogue name, kind) of an instruction."""
    if mnemonic in CONTROL_FLOW:
        return mnemonic, "control flow"
    name = mnemonic
    if mnemonic == "MOV" and "c" in kinds:
        register = operands[kinds.index("c")].upper()
        name = f"MOV_{register}" if kinds[0] == "c" else f"MOV_FROM_{register}"
    if mnemonic == "MOV" and kinds[0] == "s" and operands[0][1:-1].strip() in traced:
        return name, "page-table store"
    sensitive = name in X86 and X86[name].sensitive  # the others are plain ALU and stack work
    return name, "sensitive" if sensitive else "innocuous"


def parse(listing: str, traced: Iterable[str] = ("pte",)) -> Program:
    """Parse a guest routine: `label:` lines and one instruction a line, `;` comments. Lesson 03.

    `traced` names the memory symbols that are guest page-table entries: the VMM write-protects
    them, so a store into one faults. The routine must end with RET or JMP.
    """
    traced = frozenset(traced)
    instructions, labels, address = [], {}, BASE_ADDRESS
    for number, raw in enumerate(listing.splitlines(), start=1):
        text = raw.split(";", 1)[0].strip()
        where = _("listing line {number}", number=number)
        while ":" in text:
            label, _colon, text = text.partition(":")
            label, text = label.strip().lower(), text.strip()
            if not _IDENTIFIER.match(label) or label in labels or label in REGISTERS:
                raise ValueError(
                    _(
                        "{where}: label {label} must be a new name like 'loop'",
                        where=where,
                        label=repr(label),
                    )
                )
            labels[label] = address
        if not text:
            continue
        head, _space, tail = text.partition(" ")
        mnemonic = head.upper()
        operands = tuple(o.strip().lower() for o in tail.split(",")) if tail.strip() else ()
        if mnemonic not in {m for m, _kinds in FORMS}:
            problem = not_one_of("mnemonic", head, sorted({m for m, _kinds in FORMS}))
            raise ValueError(_("{where}: {problem}", where=where, problem=problem))
        try:
            kinds = tuple(_operand_kind(o, mnemonic) for o in operands)
        except ValueError as error:
            raise ValueError(_("{where}: {problem}", where=where, problem=error)) from None
        if (mnemonic, kinds) not in FORMS:
            raise ValueError(
                _(
                    "{where}: {mnemonic} takes operands: {forms}",
                    where=where,
                    mnemonic=mnemonic,
                    forms=_forms(mnemonic),
                )
            )
        length = FORMS[mnemonic, kinds] - ("eax" in operands and "s" in kinds and mnemonic == "MOV")
        name, kind = _classify(mnemonic, operands, kinds, traced)
        shown = f"{mnemonic} {', '.join(operands)}".strip()
        instructions.append(
            GuestInstruction(address, shown, mnemonic, operands, name, kind, length)
        )
        address += length
    if not instructions:
        raise ValueError(_("listing must contain at least one instruction"))
    if instructions[-1].mnemonic not in ("RET", "JMP"):
        raise ValueError(
            _("listing must end with RET or JMP, so the routine cannot run off its end")
        )
    for instruction in instructions:
        target = instruction.operands[0] if instruction.operands else None
        if instruction.mnemonic in CONTROL_FLOW and target is not None and target not in labels:
            raise ValueError(
                _(
                    "{instruction}: label {label} is not defined",
                    instruction=instruction.text,
                    label=repr(target),
                )
            )
    return Program(tuple(instructions), dict(labels), traced)


def _translate_one(program: Program, g: GuestInstruction, adapted: bool) -> TranslatedInstruction:
    name, ops = g.name, g.operands
    if g.kind == "control flow":
        target = f"[{ops[0]}']" if ops else ""
        if g.mnemonic in CONDITIONAL:
            code = f"{g.mnemonic} {target} ; JMP [{program.name_of(g.next_address)}']"
            return TranslatedInstruction(g, "CONTROL", code, NATIVE_CPI)
        if g.mnemonic == "JMP":
            return TranslatedInstruction(g, "CONTROL", f"JMP {target}", NATIVE_CPI)
        if g.mnemonic == "CALL":
            code = f"PUSH {g.next_address:#x} ; JMP {target}"  # the guest's own return address
            return TranslatedInstruction(g, "CONTROL", code, NATIVE_CALL)
        code = "POP the guest return address ; JMP to its translation (cache lookup)"
        return TranslatedInstruction(g, "CONTROL", code, NATIVE_CALL + RET_LOOKUP)
    if g.kind == "page-table store" and adapted:
        code = f"CALL vmm.write_pte({', '.join(ops)})"
        return TranslatedInstruction(g, "CALLOUT", code, ADAPTED_STORE)
    if g.kind == "page-table store":
        return TranslatedInstruction(g, "IDENT", g.text, TRACE_FAULT)
    if g.kind == "innocuous":
        return TranslatedInstruction(g, "IDENT", g.text, NATIVE_CPI)
    if name in INLINE_CODE:
        cycles = INLINE_PORT_IO if name in ("IN", "OUT") else INLINE
        return TranslatedInstruction(g, "INLINE", INLINE_CODE[name].format(*ops), cycles)
    call = {"MOV_CR0": "write_cr0", "MOV_CR3": "write_cr3"}.get(name, name.lower())
    operands = ", ".join(o for o in ops if o not in ("cr0", "cr3"))
    return TranslatedInstruction(g, "CALLOUT", f"CALL vmm.{call}({operands})", CALLOUT)


def translate(program: Program, address: int, adapted: Iterable[int] = ()) -> TranslationUnit:
    """Translate the TU that starts at a guest `address`. Lesson 03.

    `adapted` holds the addresses of page-table stores the VMM has learnt to translate as
    callouts. The TU ends after its first control-flow instruction or MAX_TU instructions.
    """
    if not isinstance(program, Program):
        raise _not_a_program(program)
    adapted = frozenset(adapted)
    g, out = program.at(address), []
    while True:
        out.append(_translate_one(program, g, g.address in adapted))
        if g.kind == "control flow" or len(out) == MAX_TU:
            return TranslationUnit(address, tuple(out))
        g = program.at(g.next_address)


def _native(g: GuestInstruction) -> float:
    if g.mnemonic in ("CALL", "RET"):
        return NATIVE_CALL
    if g.kind == "sensitive":
        return NATIVE_PORT_IO if g.mnemonic in ("IN", "OUT") else NATIVE_SYSTEM
    return NATIVE_CPI


def _count(parameter: str, value, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise not_an_integer(parameter, value, 1, high)
    return value


def _not_a_program(program) -> ValueError:
    return ValueError(
        _("program must be a Program from bt.parse(); got {program}", program=repr(program))
    )


class _Machine:
    """The state of one run. `copy()` forks it: TUs are immutable, so shallow copies do."""

    def __init__(self, program: Program, cache_size: int, adapt_after: int):
        self.program, self.cache_size, self.adapt_after = program, cache_size, adapt_after
        self.cache: dict[int, TranslationUnit] = {}
        self.adapted: set[int] = set()
        self.faults: Counter[int] = Counter()
        self.taken: Counter[int] = Counter()
        self.breakdown = dict.fromkeys(BREAKDOWN, 0.0)
        self.entries: list[Entry] = []
        self.stack: list[int] = []
        self.flushes = self.callouts = 0
        self.native = self.interpreted = 0.0
        self.pc: int | None = program.entry

    def copy(self) -> _Machine:
        twin = copy.copy(self)
        for name in ("cache", "adapted", "faults", "taken", "breakdown", "entries", "stack"):
            setattr(twin, name, copy.copy(getattr(self, name)))
        return twin

    def enter(self) -> tuple:
        """Look the TU at `pc` up (translating on a miss) and run its instructions."""
        unit, before = self.cache.get(self.pc), sum(self.breakdown.values())
        hit, translated, faults = unit is not None, 0, 0
        if unit is None:
            if len(self.cache) >= self.cache_size:
                self.cache.clear()
                self.flushes += 1
            unit = self.cache[self.pc] = translate(self.program, self.pc, self.adapted)
            translated = len(unit.instructions)
            self.breakdown["translation"] += TRANSLATE * translated
        for t in unit.instructions:
            self.native += _native(t.guest)
            self.interpreted += INTERPRET
            cause = {"INLINE": "inline emulation", "CALLOUT": "callouts"}.get(t.method)
            if t.guest.kind == "page-table store" and t.method == "IDENT":
                cause, faults = "faults", faults + 1
                self.faults[t.guest.address] += 1
                if self.faults[t.guest.address] >= self.adapt_after:
                    self.adapted.add(t.guest.address)
                    self.cache.pop(unit.address, None)  # retranslated at its next entry
            self.breakdown[cause or "IDENT and control flow"] += t.cycles
            self.callouts += t.method == "CALLOUT"
            if t.guest.mnemonic in ("IN", "OUT"):
                self.breakdown["device model"] += DEVICE_MODEL
                self.interpreted += DEVICE_MODEL
        return unit, hit, translated, faults, before

    def leave(self, entered: tuple, iterations: int) -> None:
        """Follow the TU's last instruction to the next `pc`, and record the entry."""
        unit, hit, translated, faults, before = entered
        iteration = 1 + sum(self.taken.values())
        last = unit.instructions[-1].guest
        self.pc = last.next_address
        if last.mnemonic == "CALL":
            self.stack.append(last.next_address)
        if last.mnemonic in ("JMP", "CALL"):
            self.pc = self.program.labels[last.operands[0]]
        elif last.mnemonic in CONDITIONAL and self.taken[last.address] < iterations - 1:
            self.taken[last.address] += 1
            self.pc = self.program.labels[last.operands[0]]
        elif last.mnemonic in CONDITIONAL:
            self.breakdown["IDENT and control flow"] += NATIVE_CPI  # the fall-through JMP
        elif last.mnemonic == "RET":
            self.pc = self.stack.pop() if self.stack else None
        cycles = sum(self.breakdown.values()) - before
        name = self.program.name_of(unit.address)
        self.entries.append(Entry(iteration, unit.address, name, hit, translated, faults, cycles))

    def finish(self, iterations: int, forks: dict[int, Run] | None = None) -> Run:
        """Run to the routine's end. With `forks`, also finish the run of every smaller
        iteration count where it first leaves this one: forks[n] is the run of n iterations."""
        while self.pc is not None:
            if len(self.entries) > (iterations + 1) * (len(self.program.instructions) + 1):
                raise ValueError(_("the routine must return: a loop needs a conditional jump"))
            entered = self.enter()
            last = entered[0].instructions[-1].guest
            count = self.taken[last.address]
            fork = forks is not None and last.mnemonic in CONDITIONAL and count + 1 < iterations
            if fork and count + 1 not in forks:  # the run of count + 1 falls through here
                twin = self.copy()
                twin.leave(entered, count + 1)
                forks[count + 1] = twin.finish(count + 1)
            self.leave(entered, iterations)
        return Run(
            iterations=iterations,
            cache_size=self.cache_size,
            entries=tuple(self.entries),
            breakdown=self.breakdown,
            native_cycles=self.native,
            interpreted_cycles=self.interpreted,
            flushes=self.flushes,
            callouts=self.callouts,
            faults=sum(self.faults.values()),
            adapted=tuple(sorted(self.adapted)),
        )


def _machine(program: Program, cache_size: int, adapt_after: int) -> _Machine:
    if not isinstance(program, Program):
        raise _not_a_program(program)
    _count("cache_size", cache_size, MAX_CACHE)
    _count("adapt_after", adapt_after, MAX_ITERATIONS)
    return _Machine(program, cache_size, adapt_after)


def run(
    program: Program,
    iterations: int = 10,
    cache_size: int = 8,
    adapt_after: int = ADAPT_AFTER,
) -> Run:
    """Run the routine once, its loop `iterations` times, through the translation cache. Lesson 03.

    Conditional jumps are taken `iterations - 1` times, then fall through, so a loop closed by
    one runs `iterations` times. The cache holds `cache_size` TUs; a miss when it is full flushes
    it whole, as QEMU does (Bellard 2005; assumption for VMware). A page-table store is
    retranslated as a callout after `adapt_after` faults. Behind each IN and OUT the translator
    and the interpreter also run the device model (DEVICE_MODEL cycles).
    """
    machine = _machine(program, cache_size, adapt_after)
    return machine.finish(_count("iterations", iterations, MAX_ITERATIONS))


def sweep(
    program: Program, max_iterations: int, cache_size: int = 8, adapt_after: int = ADAPT_AFTER
) -> tuple[Run, ...]:
    """`run` for 1, 2, ... `max_iterations` iterations, in one pass. Lesson 03.

    The runs share their beginning: the run of n iterations is the longest one until a
    conditional jump first falls through after n - 1 taken, so it is forked from it there.
    """
    longest = _count("max_iterations", max_iterations, MAX_ITERATIONS)
    forks: dict[int, Run] = {}
    last = _machine(program, cache_size, adapt_after).finish(longest, forks)
    return tuple(
        forks.get(n) or (last if n == longest else replace(last, iterations=n))
        for n in range(1, longest + 1)
    )


def break_even(program: Program, cache_size: int = 8, limit: int = 200) -> int | None:
    """The fewest loop iterations for which translating costs no more cycles than interpreting;
    None if there is none up to `limit`. Lesson 03."""
    for r in sweep(program, limit, cache_size):
        if r.cycles <= r.interpreted_cycles:
            return r.iterations
    return None


EXAMPLES = {
    # Map a run of pages: for each, load the new entry, store it into the page table and drop the
    # old translation from the TLB, with interrupts masked throughout.
    "map-pages": """\
map_pages:              ; esi -> new entries, ecx = how many
    PUSHF               ; save the flags, IF included
    CLI                 ; mask interrupts
loop:
    MOV eax, [esi]      ; the next page-table entry
    CALL set_pte
    ADD esi, 4
    DEC ecx
    JNZ loop
    POPF                ; restore IF
    RET
set_pte:
    MOV [pte], eax      ; a store into a page table: the VMM write-protects it
    INVLPG [edi]        ; drop the old translation from the TLB
    RET
""",
    # Sum an array with interrupts masked: ordinary work between two sensitive instructions.
    "sum-array": """\
sum_array:              ; esi -> array, ecx = length
    PUSHF
    CLI
    XOR eax, eax
loop:
    ADD eax, [esi]
    ADD esi, 4
    DEC ecx
    JNZ loop
    POPF
    RET
""",
    # Send bytes to the serial port, one OUT per byte.
    "serial-out": """\
serial_out:             ; esi -> bytes, ecx = how many
    MOV edx, 0x3f8      ; the first serial port
loop:
    MOV eax, [esi]
    OUT dx, al
    ADD esi, 1
    DEC ecx
    JNZ loop
    RET
""",
}
