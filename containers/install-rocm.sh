#!/bin/sh
# ROCm variant: keep the base image's ROCm torch; build aiter and Primus-Turbo for $GPU_ARCH from their git
# repositories at the pinned commits; torchtitan and the pinned packages from PyPI (or /wheelhouse when the
# build context has wheels). Called by the Dockerfile; every input is a build argument.
set -eu

checkout() {
    # $1 repository URL, $2 commit, $3 folder. Submodules at the commits the pinned tree records.
    git clone --filter=blob:none "$1" "$3"
    git -C "$3" checkout --quiet "$2"
    git -C "$3" submodule update --init --recursive
}

src=/tmp/primus-src
torch_version=$(python3 -c 'import torch; print(torch.__version__)')
# aiter first: Primus-Turbo imports it. Kernels are compiled for GPU_ARCH only (GPU_ARCHS, PYTORCH_ROCM_ARCH).
checkout "${AITER_REPO}" "${AITER_COMMIT}" "$src/aiter"
(cd "$src/aiter" && PREBUILD_KERNELS=0 pip install --no-cache-dir --no-build-isolation .)
checkout "${PRIMUS_TURBO_REPO}" "${PRIMUS_TURBO_COMMIT}" "$src/Primus-Turbo"
(cd "$src/Primus-Turbo" && pip install --no-cache-dir --no-build-isolation .)
rm -rf "$src"

find_links=""
if [ -n "$(ls /wheelhouse)" ]; then find_links="--find-links /wheelhouse"; fi
# Holding torch at the base's version keeps pip from swapping in a CUDA build from PyPI.
# shellcheck disable=SC2086  # find_links, PYTHON_PINS and ROCM_PINS are lists of words on purpose
pip install --no-cache-dir $find_links "torch==${torch_version}" "torchtitan==${TORCHTITAN_VERSION}" ${PYTHON_PINS} ${ROCM_PINS}
# find_spec locates the packages without importing them: importing aiter or primus_turbo may probe for a GPU,
# which a build machine need not have.
python3 -c 'import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in ("aiter", "primus_turbo", "torchtitan", "torchao")) else 1)'
