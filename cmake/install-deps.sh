#!/usr/bin/env bash
# Installs the Debian 12 packages that sinter's build, tests and benchmarks use.
#
#   bash cmake/install-deps.sh            # host toolchain + libraries
#   bash cmake/install-deps.sh --cross    # + aarch64 cross compiler, qemu-user, arm64 libraries
#   bash cmake/install-deps.sh --update   # run apt-get update even if nothing is missing
#   bash cmake/install-deps.sh --npm      # + npm, unless an npm command exists (face example's fetch)
#   bash cmake/install-deps.sh --bench    # + the benchmark suite's optional peers and chart:
#                                         #   libdnnl-dev, libxnnpack-dev, libpthreadpool-dev, python3-matplotlib
#
# Does nothing when every package is already installed. Installs with apt-get
# when run as root (or through passwordless sudo); otherwise prints the command
# to run and fails. SINTER_NO_INSTALL=1 skips the whole step.
set -euo pipefail

host_pkgs=(cmake ninja-build g++ libxsimd-dev doctest-dev libbenchmark-dev nlohmann-json3-dev libstb-dev)
bench_pkgs=(libdnnl-dev libxnnpack-dev libpthreadpool-dev python3-matplotlib)
cross_arch=arm64
cross_pkgs=(g++-aarch64-linux-gnu binutils-aarch64-linux-gnu python3 qemu-user "libxsimd-dev:${cross_arch}" "libbenchmark-dev:${cross_arch}")

want_cross=0
want_npm=0
want_bench=0
force_update=0
for arg in "$@"; do
  case "$arg" in
    --cross) want_cross=1 ;;
    --npm) want_npm=1 ;;
    --bench) want_bench=1 ;;
    --update) force_update=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

if [[ "${SINTER_NO_INSTALL:-0}" == 1 ]]; then
  echo "install-deps: SINTER_NO_INSTALL=1, not checking packages"
  exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: not a Debian-like system; install by hand: cmake >= 3.25, ninja, g++ >= 12," \
       "xsimd 8.1, doctest, Google Benchmark, nlohmann-json, stb (and for --cross: aarch64-linux-gnu-g++, qemu-aarch64)" >&2
  exit 0
fi

host_arch=$(dpkg --print-architecture)

# "name" means the host's (or an Architecture: all) package, "name:arch" that
# architecture's; Multi-Arch packages can be installed for several at once.
is_installed() {
  local name=${1%%:*} arch=$host_arch
  [[ "$1" == *:* ]] && arch=${1#*:}
  dpkg-query -W -f='${Architecture} ${db:Status-Status}\n' "$name" 2>/dev/null |
    grep -Eq "^($arch|all) installed$"
}

pkgs=("${host_pkgs[@]}")
if [[ $want_cross == 1 ]]; then
  pkgs+=("${cross_pkgs[@]}")
fi
if [[ $want_bench == 1 ]]; then
  pkgs+=("${bench_pkgs[@]}")
fi
# npm may come with a non-Debian nodejs build: only ask apt for it when there is none.
if [[ $want_npm == 1 ]] && ! command -v npm >/dev/null 2>&1; then
  pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  is_installed "$p" || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 && $force_update == 0 ]]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all packages present (not root: skipping apt-get update)"
    exit 0
  fi
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: as root, run: bash cmake/install-deps.sh $*" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
need_update=$force_update

if [[ $want_cross == 1 && "$host_arch" != "$cross_arch" ]] \
   && ! dpkg --print-foreign-architectures | grep -qx "$cross_arch"; then
  echo "install-deps: dpkg --add-architecture $cross_arch"
  "${SUDO[@]}" dpkg --add-architecture "$cross_arch"
  need_update=1
fi

# A fresh machine may have no package lists at all.
if [[ ${#missing[@]} -gt 0 ]] && ! compgen -G "/var/lib/apt/lists/*_Packages" >/dev/null; then
  need_update=1
fi

if [[ $need_update == 1 ]]; then
  echo "install-deps: apt-get update"
  "${SUDO[@]}" apt-get update -q
fi

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install-deps: installing ${missing[*]}"
  if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    # Stale package lists are the usual cause: refresh once and retry.
    echo "install-deps: install failed, refreshing package lists and retrying"
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi
echo "install-deps: done"
