"""Pure, deterministic models of the course: dataclasses in, dataclasses out."""
