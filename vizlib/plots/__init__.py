"""Matplotlib figures drawn from model results; each function returns a closed Figure."""

from vizlib.plots.choosing import nested_costs, technique_bars, workload_grid
from vizlib.plots.costs import (
    pte_update_costs,
    slowdown_breakdown,
    technique_slowdowns,
    translation_payoff,
)
from vizlib.plots.hwassist import crossover_map, exit_timeline, tlb_references, world_switches
from vizlib.plots.machine import accelerator_times, device_exits, exit_profile
from vizlib.plots.qemu import emulation_speeds, translation_amortization, translation_cache
from vizlib.plots.trap import technique_costs
from vizlib.plots.xen import ring_notifications

__all__ = [
    "accelerator_times",
    "crossover_map",
    "device_exits",
    "emulation_speeds",
    "exit_profile",
    "exit_timeline",
    "nested_costs",
    "pte_update_costs",
    "ring_notifications",
    "slowdown_breakdown",
    "technique_bars",
    "technique_costs",
    "technique_slowdowns",
    "tlb_references",
    "translation_amortization",
    "translation_cache",
    "translation_payoff",
    "workload_grid",
    "world_switches",
]
