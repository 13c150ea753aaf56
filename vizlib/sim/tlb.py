"""A translation lookaside buffer (TLB) in front of the page walker. Lesson 05.

The TLB caches recent translations, one entry per page, and evicts the least recently used. Only a
miss walks the page tables, so the references a walk costs (`paging.reference_count`) are paid per
miss, not per access. Without VPIDs (virtual-processor identifiers) a processor cannot tell one
address space's entries from another's across a VM exit and entry, so it flushes the TLB at each;
`flush_every` models that.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Integral, Real

from vizlib.i18n import _
from vizlib.sim.errors import not_an_integer

MAX_ENTRIES = 4096  # illustrative upper bound for the widgets; real TLBs hold tens to thousands


@dataclass(frozen=True)
class TlbStats:
    """Hits and misses of one run of an access stream through a TLB. Lesson 05."""

    entries: int
    accesses: int
    hits: int
    misses: int

    @property
    def hit_rate(self) -> float:
        """Hits / accesses (0 for an empty stream)."""
        return self.hits / self.accesses if self.accesses else 0.0

    def references_per_access(self, references_per_walk: int) -> float:
        """Page-walk memory references per access, when each miss costs a full walk."""
        return self.misses * references_per_walk / self.accesses if self.accesses else 0.0


def _integer(parameter: str, value, low: int, high: int | None = None) -> int:
    bad = isinstance(value, bool) or not isinstance(value, Integral)
    if bad or value < low or (high is not None and value > high):
        if high is not None:
            raise not_an_integer(parameter, value, low, high)
        raise ValueError(
            _(
                "{parameter} must be an integer from {low}; got {value}",
                parameter=parameter,
                low=low,
                value=repr(value),
            )
        )
    return int(value)


def access_stream(length: int, pages: int, *, skew: float = 1.5, seed: int = 0) -> tuple[int, ...]:
    """A seeded stream of `length` page numbers drawn from `pages` pages. Lesson 05.

    The k-th most popular page is drawn with a weight of 1 / k**skew (Zipf's law; skew 0 is
    uniform, assumption: programs reuse a few pages much more than the rest).
    """
    length = _integer("length", length, 0)
    pages = _integer("pages", pages, 1)
    if isinstance(skew, bool) or not isinstance(skew, Real) or not 0 <= skew <= 4:
        raise ValueError(_("skew must be a number from 0 to 4; got {skew}", skew=repr(skew)))
    rng = random.Random(seed)
    order = list(range(pages))
    rng.shuffle(order)  # popularity does not follow address order
    weights = [1 / rank**skew for rank in range(1, pages + 1)]
    return tuple(rng.choices(order, weights=weights, k=length))


def run_tlb(stream: Iterable[int], entries: int, *, flush_every: int | None = None) -> TlbStats:
    """Run page numbers through an LRU TLB of `entries` entries. Lesson 05.

    `flush_every` empties the TLB after every that many accesses (a VM exit and entry without
    VPIDs); None never flushes.
    """
    entries = _integer("entries", entries, 1, MAX_ENTRIES)
    if flush_every is not None:
        flush_every = _integer("flush_every", flush_every, 1)
    cache: OrderedDict[int, None] = OrderedDict()
    accesses = hits = 0
    for page in stream:
        if flush_every and accesses and accesses % flush_every == 0:
            cache.clear()
        accesses += 1
        if page in cache:
            hits += 1
            cache.move_to_end(page)
            continue
        cache[page] = None
        if len(cache) > entries:
            cache.popitem(last=False)
    return TlbStats(entries, accesses, hits, accesses - hits)
