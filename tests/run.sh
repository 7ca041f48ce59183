#!/usr/bin/env bash
# sinter's test command:
#
#   bash tests/run.sh
#
# Installs missing Debian packages (when root), then for every build this
# machine can run: configure (CMake preset), build, run the unit tests with
# ctest, and start the first benchmark of each bench binary for a moment to
# prove it runs; the first x86 build also checks the face example's networks
# against face-api on its sample photos (fetched with npm, cached). Builds, in
# order:
#
#   avx512   -march=x86-64-v4   (only if the CPU runs it: AVX-512 F/BW/CD/DQ/VL)
#   avx2     -march=x86-64-v3   (only if the CPU runs it: AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT)
#   sse42    -march=x86-64-v2   (SSE4.2, SSSE3, POPCNT, CX16)
#   asan     -march=native, AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan     -march=native, ThreadSanitizer; only the executor tests (test_*threads*)
#   aarch64  cross-compiled NEON build, tests and benchmarks run under qemu-aarch64
#
# Benchmarks and examples are built in the first x86 build that runs (the
# widest ISA) and in the aarch64 build; the other builds build the tests only.
#
# Environment:
#   SINTER_TEST_BUILDS="avx2 aarch64"  run only these builds (default: all above)
#   SINTER_JOBS=N                      parallel compile and test jobs (default: 2)
#   SINTER_TEST_CLEAN=1                delete each build directory first
#   SINTER_NO_INSTALL=1                never call apt-get
#
# Exits non-zero if any build, test or benchmark run fails.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

jobs=${SINTER_JOBS:-2}
all_builds="avx512 avx2 sse42 asan tsan aarch64"
requested=${SINTER_TEST_BUILDS:-$all_builds}

builds=()
for b in $requested; do
  case "$b" in
    sse4.2) b=sse42 ;;
  esac
  case " $all_builds " in
    *" $b "*) builds+=("$b") ;;
    *) echo "tests/run.sh: unknown build '$b' in SINTER_TEST_BUILDS (known: $all_builds)" >&2; exit 2 ;;
  esac
done

section() { printf '\n==== %s ====\n' "$*"; }

# ---------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------
want_cross=0
for b in "${builds[@]}"; do [[ $b == aarch64 ]] && want_cross=1; done
section "dependencies"
if [[ $want_cross == 1 ]]; then
  bash cmake/install-deps.sh --cross --npm || exit 1
else
  bash cmake/install-deps.sh --npm || exit 1
fi
# face-api's models and sample photos (npm registry, cached, SHA-256 pinned): the face
# networks are checked against face-api's own results after the first x86 build.
face_assets_ok=1
if ! bash examples/face/fetch_assets.sh; then
  echo "tests/run.sh: retrying the face-api fetch once" >&2
  sleep 5
  bash examples/face/fetch_assets.sh || face_assets_ok=0
fi

# ---------------------------------------------------------------------------
# What this machine can run
# ---------------------------------------------------------------------------
cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
host_machine=$(uname -m)

# glibc's loader reports which x86-64 micro-architecture levels the CPU runs
# (it asks CPUID itself; /proc/cpuinfo under some hypervisors omits flags such
# as abm/LZCNT that the levels need). Empty when it cannot tell.
glibc_levels=$(/lib64/ld-linux-x86-64.so.2 --help 2>/dev/null |
               sed -n 's/^ *\(x86-64-v[0-9]\) (supported.*/\1/p' | tr '\n' ' ')

missing_cpu_flags() {  # prints the flags of "$@" that /proc/cpuinfo lacks
  local f out=()
  for f in "$@"; do [[ "$cpu_flags" == *" $f "* ]] || out+=("$f"); done
  echo "${out[*]}"
}

# Prints why x86-64 level $1 (2, 3 or 4) cannot run here, or nothing.
lacks_x86_level() {
  if [[ -n "$glibc_levels" ]]; then
    [[ " $glibc_levels" == *" x86-64-v$1 "* ]] || echo "CPU does not run x86-64-v$1"
    return
  fi
  local lacking
  case "$1" in
    4) lacking=$(missing_cpu_flags avx512f avx512bw avx512cd avx512dq avx512vl) ;;
    3) lacking=$(missing_cpu_flags avx avx2 fma bmi1 bmi2 f16c movbe) ;;
    2) lacking=$(missing_cpu_flags ssse3 sse4_1 sse4_2 popcnt cx16) ;;
  esac
  [[ -n "$lacking" ]] && echo "CPU lacks: $lacking"
}

# Prints why build $1 cannot run here, or nothing if it can.
cannot_run() {
  case "$1" in
    avx512|avx2|sse42|asan|tsan)
      if [[ $host_machine != x86_64 ]]; then echo "host is $host_machine, not x86_64"; return; fi ;;
  esac
  case "$1" in
    avx512) lacks_x86_level 4 ;;
    avx2)   lacks_x86_level 3 ;;
    sse42)  lacks_x86_level 2 ;;
    asan|tsan) ;;
    aarch64)
      local t
      for t in aarch64-linux-gnu-g++ qemu-aarch64; do
        command -v "$t" >/dev/null 2>&1 || { echo "$t not installed (bash cmake/install-deps.sh --cross)"; return; }
      done ;;
  esac
}

# ---------------------------------------------------------------------------
# One build
# ---------------------------------------------------------------------------
declare -A status seconds detail
tests_passed=0
tests_failed=0
x86_extras_done=0

run_benches() {  # $1 = build name; starts the first benchmark of each binary
  local b=$1 bin first filter n=0 emu=()
  [[ $b == aarch64 ]] && emu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
  shopt -s nullglob
  for bin in "build/$b"/bench/bench_*; do
    [[ -f "$bin" && -x "$bin" ]] || continue
    first=$("${emu[@]}" "$bin" --benchmark_list_tests 2>/dev/null | head -n1)
    if [[ -z "$first" ]]; then
      echo "FAILED: $bin --benchmark_list_tests listed nothing"
      return 1
    fi
    # Anchor the name and escape regex metacharacters so exactly one runs.
    filter="^$(printf '%s' "$first" | sed 's/[][\.*^$+?(){}|]/\\&/g')\$"
    echo "-- $bin: $first"
    if ! timeout 300 "${emu[@]}" "$bin" --benchmark_filter="$filter" --benchmark_min_time=0.001; then
      echo "FAILED: $bin --benchmark_filter='$filter'"
      return 1
    fi
    n=$((n + 1))
  done
  shopt -u nullglob
  echo "-- $n benchmark binar$([[ $n == 1 ]] && echo y || echo ies) started"
  bench_count=$n
}

# The face example's detector, landmarks and recognition networks on face-api's six
# sample photos, for each algorithm choice of the recognition net's 3x3 convs and on 2
# threads: the same faces as face-api itself (IoU >= 0.95, committed fixture
# examples/face/faceapi_samples.json) and the same outputs as the plain reference
# networks (examples/face/reference.hpp) within face_demo's stated tolerances.
face_check() {  # $1 = build name
  local b=$1 exe="build/$1/examples/face_demo" log="build/$1/face-check-output.txt" run
  if [[ $face_assets_ok != 1 ]]; then
    echo "FAILED: face-api's package could not be fetched (examples/face/fetch_assets.sh)"
    return 1
  fi
  for run in "--algo auto" "--algo im2col" "--algo winograd" "--algo auto --threads 2"; do
    echo "-- face_demo --check $run"
    # shellcheck disable=SC2086  # $run is several arguments
    if ! timeout 600 "$exe" --check --faceapi examples/face/faceapi_samples.json --no-images --repeat 1 $run \
         >"$log" 2>&1; then
      tail -n 40 "$log"
      echo "FAILED: $exe --check $run"
      return 1
    fi
    grep -E '^(vs face-api|check vs plain)' "$log"
  done
}

slowest_steps() {  # $1 = build name; the slowest compile steps recorded by ninja
  local log="build/$1/.ninja_log"
  [[ -f "$log" ]] || return 0
  echo "-- slowest compile steps of $1 (last build of each file):"
  awk -F'\t' 'NR > 1 && $4 ~ /\.o$/ { t[$4] = ($2 - $1) / 1000 }
               END { for (f in t) printf "   %7.1fs  %s\n", t[f], f }' "$log" |
    sort -rn | head -n 5
}

run_build() {
  local b=$1 t0=$SECONDS extras=OFF ctest_log summary arch why
  why=$(cannot_run "$b")
  if [[ -n "$why" ]]; then
    status[$b]=SKIP; seconds[$b]=0; detail[$b]=$why
    section "$b: skipped ($why)"
    return 0
  fi

  case "$b" in
    aarch64) extras=ON ;;
    avx512|avx2|sse42)
      if [[ $x86_extras_done == 0 ]]; then extras=ON; x86_extras_done=1; fi ;;
  esac

  if [[ "${SINTER_TEST_CLEAN:-0}" == 1 ]]; then rm -rf "build/$b"; fi

  local launcher=()
  if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

  section "$b: configure"
  if ! cmake --preset "$b" -DSINTER_BUILD_TESTS=ON \
         -DSINTER_BUILD_BENCH=$extras -DSINTER_BUILD_EXAMPLES=$extras "${launcher[@]}"; then
    status[$b]=FAIL; seconds[$b]=$((SECONDS - t0)); detail[$b]="configure failed"
    return 1
  fi

  section "$b: build (-j$jobs)"
  # -k 0: report every file that fails to compile, not just the first.
  local TIMEFORMAT="-- $b build: %0Rs wall, %0Us user + %0Ss system CPU" build_rc
  # The aarch64 build cross-compiles the tests, the examples and the benchmark binaries a
  # board needs first (peak, bandwidth, GEMM/conv, Winograd, depthwise, threads, face
  # networks); the heavier sweep binaries (bench_conv, bench_fusion, bench_chain_*,
  # bench_prologue) are built for x86 only here, to keep CI within its time limit.
  local targets=()
  if [[ $b == aarch64 ]]; then
    targets=(--target sinter_tests sinter_examples bench_core bench_machine bench_winograd bench_depthwise
             bench_threads bench_face)
  fi
  time { cmake --build --preset "$b" -j "$jobs" "${targets[@]}" -- -k 0; build_rc=$?; }
  if [[ $build_rc != 0 ]]; then
    status[$b]=FAIL; seconds[$b]=$((SECONDS - t0)); detail[$b]="build failed"
    return 1
  fi
  local t_build=$((SECONDS - t0))
  slowest_steps "$b"

  section "$b: test"
  ctest_log="build/$b/ctest-output.txt"
  ctest --preset "$b" -j "$jobs" 2>&1 | tee "$ctest_log"
  local ctest_rc=${PIPESTATUS[0]}
  summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$ctest_log" | tail -n1)
  if [[ $summary =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    tests_failed=$((tests_failed + BASH_REMATCH[1]))
    tests_passed=$((tests_passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
  fi
  arch=$(grep -ho 'xsimd arch: [^,]*' "build/$b/Testing/Temporary/LastTest.log" 2>/dev/null | head -n1)
  if [[ $ctest_rc != 0 ]]; then
    status[$b]=FAIL; seconds[$b]=$((SECONDS - t0))
    detail[$b]="tests failed: ${summary:-ctest exit $ctest_rc}"
    return 1
  fi
  if [[ $summary =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    detail[$b]="${BASH_REMATCH[2]}/${BASH_REMATCH[2]} tests passed"
  else
    detail[$b]="tests passed"
  fi
  detail[$b]+="${arch:+; $arch}; build ${t_build}s"

  if [[ $extras == ON ]]; then
    section "$b: benchmarks (first case of each binary)"
    bench_count=0
    if ! run_benches "$b"; then
      status[$b]=FAIL; seconds[$b]=$((SECONDS - t0)); detail[$b]+="; benchmark run failed"
      return 1
    fi
    detail[$b]+="; $bench_count bench binaries ran; examples built"
    if [[ $b != aarch64 ]]; then
      section "$b: face networks vs face-api and the plain reference (six sample photos)"
      if ! face_check "$b"; then
        status[$b]=FAIL; seconds[$b]=$((SECONDS - t0)); detail[$b]+="; face check failed"
        return 1
      fi
      detail[$b]+="; face networks checked (4 runs)"
    fi
  fi

  if [[ $b == aarch64 ]]; then
    # The NEON micro-kernel's inner K loop, from its machine code: >= 75% fmla and
    # no instruction added by a 5-op epilogue chain.
    section "aarch64: micro-kernel instruction mix"
    if ! { aarch64-linux-gnu-g++ -std=c++20 -O2 -march=armv8-a -I include -c bench/tools/microkernel_tu.cpp \
             -o "build/$b/microkernel_tu.o" &&
           python3 bench/tools/microkernel_mix.py aarch64-linux-gnu-objdump "build/$b/microkernel_tu.o"; }; then
      status[$b]=FAIL; seconds[$b]=$((SECONDS - t0)); detail[$b]+="; micro-kernel instruction mix below the bar"
      return 1
    fi
    detail[$b]+="; micro-kernel mix checked"
  fi

  status[$b]=PASS; seconds[$b]=$((SECONDS - t0))
  return 0
}

t_all=$SECONDS
for b in "${builds[@]}"; do
  run_build "$b"
done

# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------
section "summary"
n_pass=0 n_fail=0 n_skip=0
for b in "${builds[@]}"; do
  printf '  %-8s %-4s %5ss  %s\n' "$b" "${status[$b]}" "${seconds[$b]}" "${detail[$b]}"
  case "${status[$b]}" in
    PASS) n_pass=$((n_pass + 1)) ;;
    FAIL) n_fail=$((n_fail + 1)) ;;
    SKIP) n_skip=$((n_skip + 1)) ;;
  esac
done
echo "  total    $((SECONDS - t_all))s; builds: $n_pass passed, $n_fail failed, $n_skip skipped"
echo "tests: $tests_passed passed, $tests_failed failed"

if [[ $n_fail -gt 0 || $n_pass -eq 0 ]]; then
  exit 1
fi
exit 0
