"""Parameter count of a flavor with ``model.<arg>`` overrides: the model built on the meta device.

Imports torch and TorchTitan (seconds), so only what needs the number calls it: the dry run, ``primus-cli
models CONFIG`` and the memory preflight. A flavor without overrides has its count in registry.json.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from typing import Any

from primus.backends.torchtitan.model_args import apply_overrides


def count_parameters(family: str, flavor: str, overrides: dict[str, Any]) -> int:
    """Total parameters (tied weights once) of ``family``/``flavor`` with ``overrides`` applied."""
    return _count(family, flavor, json.dumps(overrides, sort_keys=True))


@functools.cache
def _count(family: str, flavor: str, overrides_json: str) -> int:
    import torch
    from torchtitan.config.job_config import JobConfig
    from torchtitan.protocols.train_spec import get_train_spec
    from torchtitan.tools.logging import logger

    logger.setLevel(logging.ERROR)  # update_from_config warns about this host (no grouped mm on CPU)
    spec = get_train_spec(family)
    args = apply_overrides(copy.deepcopy(spec.model_args[flavor]), json.loads(overrides_json))
    args.update_from_config(JobConfig())  # as the trainer and registry.json do, before building
    with torch.device("meta"):
        model = spec.model_cls(args)
    return sum(parameter.numel() for parameter in model.parameters())
