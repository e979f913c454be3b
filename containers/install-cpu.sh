#!/bin/sh
# CPU variant: a venv at $VIRTUAL_ENV with everything from /wheelhouse (--no-index: no network).
# Called by the Dockerfile; every input is a build argument. Each variant has its own script so that a
# change to one never invalidates the other's cached layers.
set -eu

if [ -z "$(ls /wheelhouse)" ]; then
    echo "install-cpu: the build context's wheelhouse/ is empty; build through primus.containers.build()" >&2
    exit 1
fi
python3 -m venv "${VIRTUAL_ENV}"
# shellcheck disable=SC2086  # PYTHON_PINS is a list of words on purpose
"${VIRTUAL_ENV}/bin/pip" install --no-cache-dir --no-index --find-links /wheelhouse \
    "torch==${TORCH_VERSION}" "triton==${TRITON_VERSION}" "torchtitan==${TORCHTITAN_VERSION}" ${PYTHON_PINS}
