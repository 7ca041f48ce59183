#!/usr/bin/env bash
# Builds the native release build of sinter's examples, runs the fused
# convolution and depthwise-separable block examples, then the face detection +
# recognition demo on face-api's six sample photos (models and photos fetched with
# npm into ~/.cache/sinter/face-api on first run):
#
#   bash examples/run.sh [arguments for face_demo, e.g. --check or photos]
#
# Installs missing Debian packages first (when root; SINTER_NO_INSTALL=1 skips
# that). The build lives in build/native (CMake preset "native", -march=native).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${SINTER_JOBS:-2}

bash cmake/install-deps.sh --npm

if [[ ! -f examples/fused_conv.cpp ]]; then
  echo "examples/fused_conv.cpp does not exist yet: nothing to run"
  exit 0
fi

cmake --preset native
cmake --build --preset native -j "$jobs" --target fused_conv separable_block face_demo

echo "==== build/native/examples/fused_conv ===="
build/native/examples/fused_conv

echo "==== build/native/examples/separable_block ===="
build/native/examples/separable_block

echo "==== build/native/examples/face_demo $* ===="
exec build/native/examples/face_demo --out build/native/face_demo_out "$@"
