#!/usr/bin/env bash
# Builds the native release build of sinter's examples and runs the fused
# convolution example:
#
#   bash examples/run.sh [arguments for fused_conv]
#
# Installs missing Debian packages first (when root; SINTER_NO_INSTALL=1 skips
# that). The build lives in build/native (CMake preset "native", -march=native).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${SINTER_JOBS:-2}

bash cmake/install-deps.sh

if [[ ! -f examples/fused_conv.cpp ]]; then
  echo "examples/fused_conv.cpp does not exist yet: nothing to run"
  exit 0
fi

cmake --preset native
cmake --build --preset native -j "$jobs" --target fused_conv

echo "==== build/native/examples/fused_conv $* ===="
exec build/native/examples/fused_conv "$@"
