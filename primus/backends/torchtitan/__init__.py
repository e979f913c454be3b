"""TorchTitan 0.2.2 backend: launch command, train stage (torch-free here; torch loads in the workers).

Stages use it as one object, ``backend.BACKEND`` (the ``primus.backend.Backend`` interface, found with
``primus.backend.backend_for("torchtitan")``); nothing outside this package imports its modules.
``launch_command(bundle, env=...)`` gives the exact ``torchrun`` argv; ``train(bundle, dry_run=...)`` runs
it, resumably. The worker side lives in ``entry`` (CPU patches, TorchTitan's Trainer with Primus's
TrainSpec builders), ``mock_data``, ``trainer`` and ``turbo``.

The names are loaded on first use, so a worker importing ``primus.backends.torchtitan.entry`` (or the
validator importing the config extension) does not pay for the launcher's imports.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BACKEND": "primus.backends.torchtitan.backend",
    "LaunchSettings": "primus.backends.torchtitan.launch",
    "launch_command": "primus.backends.torchtitan.launch",
    "launch_settings": "primus.backends.torchtitan.launch",
    "train": "primus.backends.torchtitan.runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
