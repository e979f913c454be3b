"""Frozen, content-addressed run bundles: freeze, hash, check, diff, load.

A bundle is ``runs/<exp_name>/<hash>/`` holding resolved.yaml, job_config.toml, provenance.json, lock.json
and manifest.json (see docs/CONTRACTS.md). It is written atomically, never overwritten, and holds all a
trainer needs, so a run can be repeated from the bundle alone. Importing this package never imports torch.
"""

from primus.bundle.check import (
    BundleProblem,
    FrozenBundle,
    bundle_backend,
    check_bundle,
    load_bundle,
    read_resolved,
)
from primus.bundle.diff import MISSING, KeyDiff, diff_bundles, format_diff
from primus.bundle.hashing import bundle_path, compute_hash
from primus.bundle.writer import freeze, render_bundle

#: The name primus/cli/ uses for ``bundle_path``.
compute_bundle_path = bundle_path

__all__ = [
    "MISSING",
    "BundleProblem",
    "FrozenBundle",
    "KeyDiff",
    "bundle_backend",
    "bundle_path",
    "check_bundle",
    "compute_bundle_path",
    "compute_hash",
    "diff_bundles",
    "format_diff",
    "freeze",
    "load_bundle",
    "read_resolved",
    "render_bundle",
]
