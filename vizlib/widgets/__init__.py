"""Thin ipywidgets wiring: read the controls, call a model, draw. Each widget returns a container
whose controls survive their extreme values; its update logic is reachable without a browser."""

from vizlib.widgets.bt import translation_payoff_explorer
from vizlib.widgets.choosing import workload_builder
from vizlib.widgets.glossary import glossary_explorer
from vizlib.widgets.hwassist import crossover_explorer, exit_timeline_explorer, page_walk_explorer
from vizlib.widgets.kvm import device_explorer, exit_explorer
from vizlib.widgets.pv import batch_explorer
from vizlib.widgets.qemu import block_explorer, cache_explorer
from vizlib.widgets.techniques import technique_explorer
from vizlib.widgets.trap import trap_explorer
from vizlib.widgets.xen import request_stepper, ring_explorer

__all__ = [
    "batch_explorer",
    "block_explorer",
    "cache_explorer",
    "crossover_explorer",
    "device_explorer",
    "exit_explorer",
    "exit_timeline_explorer",
    "glossary_explorer",
    "page_walk_explorer",
    "request_stepper",
    "ring_explorer",
    "technique_explorer",
    "trap_explorer",
    "translation_payoff_explorer",
    "workload_builder",
]
