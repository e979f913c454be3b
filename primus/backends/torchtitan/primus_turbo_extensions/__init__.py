"""Primus extensions to TorchTitan 0.2.2's JobConfig (see ``config_extension``).

The package path is the one Primus's own presets name in ``experimental.custom_args_module``, so real Primus
configs work unchanged.
"""
