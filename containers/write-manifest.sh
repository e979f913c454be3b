#!/bin/sh
# Write a manifest of the image's environment to $1 (called by the Dockerfile as the last root step).
# The recipe itself (Dockerfile, lock.yaml, scripts) is in /opt/primus/recipe.
set -eu
out="$1"
mkdir -p "$out"
env | LC_ALL=C sort > "$out/env.txt"
pip list --format=freeze 2>/dev/null | LC_ALL=C sort > "$out/pip-freeze.txt"
dpkg-query -W -f '${Package}=${Version}\n' | LC_ALL=C sort > "$out/dpkg.txt"
python3 - "$out/image.json" <<'PY'
import json, os, platform, sys
keys = ("VARIANT", "GPU_ARCH", "PRIMUS_TURBO_COMMIT", "AITER_COMMIT", "TORCH_VERSION", "TORCHTITAN_VERSION",
        "TRITON_VERSION", "PYTHON_PINS", "WHEELHOUSE_DIGEST")
info = {key.lower(): os.environ.get(key) for key in keys}
info["python"] = platform.python_version()
try:
    import torch
    info["torch"] = torch.__version__
    info["torch_hip"] = getattr(torch.version, "hip", None)
except ImportError:
    info["torch"] = None
with open(sys.argv[1], "w") as handle:
    json.dump(info, handle, indent=2, sort_keys=True)
    handle.write("\n")
PY
echo "manifest written to $out"
