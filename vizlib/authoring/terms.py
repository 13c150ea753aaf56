"""The Chinese edition speaks the glossary's words: `problems(english, chinese)` says where not.

- A translation whose English uses a glossary term (`shadow page table`) uses the glossary's
  Chinese term (影子页表), not a synonym; where the English says only the abbreviation (`EPT`), the
  same abbreviation will do. Spaces do not count (虚拟 CPU is 虚拟 CPU);
- it never uses the other names the glossary lists under `also` (准虚拟化 for 半虚拟化), which a
  reader may know but the course does not use;
- Chinese already in the English (a quote of the seed article, a term shown beside its English)
  stays word for word, so the article is quoted in its original words.
Code spans, link targets and placeholders are left out: they are the same in every language.
"""

from __future__ import annotations

import re
from functools import lru_cache

from vizlib.course import Term, glossary

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+(?:[\w,，、]*[\u3400-\u9fff\uf900-\ufaff]+)*")
_CODE = re.compile(r"`[^`]*`|\]\([^)]*\)|<[^>]+>|{\w*}")
_PAREN = re.compile(r"\s*[(（]([^)）]*)[)）]")
_ENDINGS = "(?:s|es|ed|ing|ped|ping)?"


def _prose(text: str) -> str:
    """`text` without code spans, link targets and HTML tags."""
    return _CODE.sub(" ", text)


def english_forms(term: Term) -> list[str]:
    """How English text names `term`: "virtual machine (VM)" -> virtual machine, VM."""
    main = _PAREN.sub("", term.term).strip()
    return [main, *(m.strip() for m in _PAREN.findall(term.term))]


def chinese(term: Term) -> str:
    """The Chinese a translation must use for `term`: its `zh` without the explanation in
    brackets ("快表（转换后备缓冲区）" -> 快表)."""
    return _PAREN.sub("", term.zh).strip()


@lru_cache(maxsize=256)
def _pattern(form: str) -> re.Pattern:
    flags = 0 if any(c.isupper() for c in form) else re.IGNORECASE
    return re.compile(rf"(?<![\w-]){re.escape(form)}{_ENDINGS}(?![\w])", flags)


def problems(english: str, translation: str) -> list[str]:
    """What `translation` gets wrong about the glossary's words, given its `english` source."""
    english, translation = _prose(english), _prose(translation)
    found = []
    quotes = CJK.findall(english)
    for quote in quotes:
        if quote not in translation:
            found.append(f"keeps the Chinese of the English word for word: {quote}")
    own_words = translation
    for quote in quotes:
        own_words = own_words.replace(quote, " ")
    spaced = translation.replace(" ", "")
    for term in glossary():
        name, *abbreviations = english_forms(term)
        said = [form for form in english_forms(term) if _pattern(form).search(english)]
        kept = name not in said and any(_pattern(form).search(translation) for form in said)
        if said and not kept and chinese(term).replace(" ", "") not in spaced:
            found.append(f"says {term.term!r} without {chinese(term)}")
        found += [f"uses {name}, not {chinese(term)}" for name in term.also if name in own_words]
    return found
