"""Reproducible TorchTitan pre-training driven by layered Primus experiment configs."""

__version__ = "0.1.0"
