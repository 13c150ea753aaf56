"""Thin ipywidgets wiring: read the controls, call a model, draw. Each widget returns a container
whose controls survive their extreme values; its update logic is reachable without a browser."""

from vizlib.widgets.glossary import glossary_explorer
from vizlib.widgets.techniques import technique_explorer

__all__ = ["glossary_explorer", "technique_explorer"]
