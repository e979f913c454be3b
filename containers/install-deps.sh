#!/bin/sh
# Install the training stack inside the image build (called by the Dockerfile; all inputs are build args).
#   VARIANT=cpu   venv at $VIRTUAL_ENV, everything from /wheelhouse with --no-index (no network).
#   VARIANT=rocm  keep the base image's ROCm torch; build aiter and Primus-Turbo for $GPU_ARCH at the pinned
#                 commits; torchtitan and the pinned packages from the wheelhouse when it has them, else PyPI.
set -eu

pins() {
    # torch is pinned only on CPU: the ROCm base ships its own ROCm build, which must not be replaced.
    echo "torchtitan==${TORCHTITAN_VERSION} ${PYTHON_PINS}"
}

install_cpu() {
    if [ -z "$(ls /wheelhouse)" ]; then
        echo "install-deps: VARIANT=cpu needs wheels in the build context's wheelhouse/ (it is empty)" >&2
        exit 1
    fi
    python3 -m venv "${VIRTUAL_ENV}"
    # shellcheck disable=SC2046  # the pins are words on purpose
    "${VIRTUAL_ENV}/bin/pip" install --no-cache-dir --no-index --find-links /wheelhouse \
        "torch==${TORCH_VERSION}" "triton==${TRITON_VERSION}" $(pins)
}

build_from_git() {
    # $1 repository URL, $2 commit, $3 checkout folder
    git clone --filter=blob:none "$1" "$3"
    git -C "$3" checkout --quiet "$2"
    git -C "$3" submodule update --init --recursive --depth 1
}

install_rocm() {
    torch_version=$(python3 -c 'import torch; print(torch.__version__)')
    src=/tmp/primus-src
    mkdir -p "$src"
    # aiter first: Primus-Turbo imports it. Both compile kernels for GPU_ARCH only.
    build_from_git "${AITER_REPO}" "${AITER_COMMIT}" "$src/aiter"
    (cd "$src/aiter" && PREBUILD_KERNELS=0 pip install --no-cache-dir --no-build-isolation .)
    build_from_git "${PRIMUS_TURBO_REPO}" "${PRIMUS_TURBO_COMMIT}" "$src/Primus-Turbo"
    (cd "$src/Primus-Turbo" && pip install --no-cache-dir --no-build-isolation .)
    rm -rf "$src"
    # Holding torch at the base's version keeps pip from swapping in a CUDA build from PyPI.
    find_links=""
    if [ -n "$(ls /wheelhouse)" ]; then find_links="--find-links /wheelhouse"; fi
    # shellcheck disable=SC2046,SC2086  # pins and find_links are words on purpose
    pip install --no-cache-dir $find_links "torch==${torch_version}" $(pins)
    python3 -c 'import primus_turbo, torchtitan'
}

case "${VARIANT}" in
    cpu) install_cpu ;;
    rocm) install_rocm ;;
    *) echo "install-deps: VARIANT must be cpu or rocm, got '${VARIANT}'" >&2; exit 1 ;;
esac
