"""Assemble the course's 16-bit NASM listings with keystone. Lessons 07-08.

keystone (LLVM's assembler as a library) does not read NASM: in its NASM mode it takes `10` for
hex and uses 32-bit addressing for labels. So this module rewrites the small NASM subset the
course's listings use into keystone's Intel syntax: `;` comments, `bits 16` and `org` lines
(dropped: the address is an argument), `label:` lines, `db`/`dw`/`dd` with numbers, characters,
strings and labels, `$` for the current address, `byte [...]`, segment overrides `[es:...]` and
far jumps `jmp seg:offset`. It cannot fix keystone's 32-bit encodings of `push imm`, `retf` and
`call address` in 16-bit mode: the listings avoid them.
"""

from __future__ import annotations

import re

from vizlib.i18n import _

try:
    import keystone
except ImportError:
    keystone = None

DATA_DIRECTIVES = {"db": ".byte", "dw": ".short", "dd": ".long"}
_SKIPPED = re.compile(r"^\s*\[?\s*(bits\s+16|org\s+[^\]\s]+|cpu\s+\w+)\s*\]?\s*$", re.IGNORECASE)
_DATA = re.compile(r"^(\s*(?:[.\w]+:)?\s*)(db|dw|dd)\s+(.*)$", re.IGNORECASE)
_SEGMENT_OVERRIDE = re.compile(r"\[\s*([cdefgs]s)\s*:", re.IGNORECASE)
_SIZE = re.compile(r"\b(byte|word|dword)\s+\[", re.IGNORECASE)
_FAR_JUMP = re.compile(r"^(\s*)jmp(\s+\w+\s*:\s*\w+\s*)$", re.IGNORECASE)
_HERE = re.compile(r"(?<![\w'\"])\$(?![\w'\"])")


def _strip_comment(line: str) -> str:
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ";":
            return line[:i]
    return line


def _split_operands(text: str) -> list[str]:
    parts, current, quote = [], "", None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ",":
            parts.append(current.strip())
            current = ""
            continue
        current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def _data_line(prefix: str, directive: str, operands: str) -> str:
    items = []
    for operand in _split_operands(operands):
        if directive.lower() == "db" and operand[0] in "'\"" and len(operand) > 3:
            items.extend(str(b) for b in operand[1:-1].encode("latin-1"))
        else:
            items.append(operand)
    return f"{prefix}{DATA_DIRECTIVES[directive.lower()]} {', '.join(items)}"


def to_keystone(listing: str) -> str:
    """The listing rewritten in the Intel syntax keystone's default mode reads."""
    lines = []
    for raw in listing.splitlines():
        line = _strip_comment(raw).rstrip()
        if not line.strip() or _SKIPPED.match(line):
            continue
        if line.lstrip().startswith("["):  # keystone loops forever on these
            raise ValueError(
                _("listing: the directive {line} is not supported", line=repr(line.strip()))
            )
        data = _DATA.match(line)
        if data:
            lines.append(_data_line(*data.groups()))
            continue
        line = _SIZE.sub(lambda m: f"{m.group(1)} ptr [", line)
        line = _SEGMENT_OVERRIDE.sub(lambda m: f"{m.group(1)}:[", line)
        line = _FAR_JUMP.sub(r"\1ljmp\2", line)
        lines.append(_HERE.sub(".", line))
    return "\n".join(lines)


def assemble(listing: str, address: int = 0x7C00) -> bytes:
    """Machine code of a 16-bit NASM-style listing placed at `address`. Lesson 08.

    Needs keystone-engine (`pip install keystone-engine`); raises ImportError without it.
    """
    if keystone is None:
        raise ImportError(_("assemble needs keystone-engine: `pip install keystone-engine`"))
    engine = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_16)
    try:
        encoding, _count = engine.asm(to_keystone(listing), address)
    except keystone.KsError as e:
        raise ValueError(_("listing: keystone cannot assemble it: {error}", error=e)) from None
    return bytes(encoding or b"")
