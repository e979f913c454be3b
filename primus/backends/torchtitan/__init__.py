"""TorchTitan 0.2.2 backend: launch command, train stage (torch-free here; torch loads in the workers).

``launch_command(bundle, env=...)`` gives the exact ``torchrun`` argv; ``train(bundle, dry_run=...)`` runs
it, resumably. The worker side lives in ``entry`` (CPU patches, TorchTitan's Trainer with Primus's
TrainSpec builders), ``mock_data``, ``trainer`` and ``turbo``.
"""

from primus.backends.torchtitan.launch import LaunchSettings, launch_command, launch_settings
from primus.backends.torchtitan.runner import train

__all__ = ["LaunchSettings", "launch_command", "launch_settings", "train"]
