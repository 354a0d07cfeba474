"""The code location's domains, one package per layer, each exposing its `defs` (assembled in definitions.py)."""
