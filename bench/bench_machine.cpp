// The machine's limits, measured by the bench itself so every other figure can be read
// as a fraction of them on whatever machine runs it (an ARM board included):
//
//   BM_fma_peak/<arch>        single-core FMA throughput of each SIMD architecture the
//                             build enables (GFLOP/s, 2 FLOPs per lane per FMA; without
//                             FMA instructions, SSE4.2, a mul and an add). The build's
//                             own architecture (the one the kernels use) is the %peak
//                             denominator of the other binaries.
//   BM_stream/<kind>/<where>  single-core memory bandwidth (GB/s; STREAM's byte counts:
//                             read 4, write 4, triad 12 bytes per element; the
//                             write-allocate read is not counted) on arrays of
//                             SINTER_BENCH_STREAM_MIB MiB each ("dram": default 256, far
//                             larger than the caches; the triad's is the %bw
//                             denominator), and on 0.25 MiB arrays ("cache") for
//                             comparison.
// Both report the best timed chunk (a peak is an upper bound: interrupted or slowed
// chunks only err low; STREAM reports its best rate too) and the mean as *_mean.
//
// Run pinned, one binary at a time:
//   taskset -c 1 bench_machine --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <algorithm>
#include <map>

#include "common.hpp"

namespace {

using namespace bench;

// Each iteration: 128 calls of the FMA kernel (~1 ms), timed with the thread's CPU clock.
template <class Arch>
void BM_fma_peak(benchmark::State& state) {
  using B = xsimd::batch<float, Arch>;
  alignas(64) B acc[kFmaChains];
  for (int i = 0; i < kFmaChains; ++i) acc[i] = B(0.001f * static_cast<float>(i));
  constexpr int calls = 128;
  double best = 0;
  for (auto _ : state) {
    const double t0 = thread_seconds();
    for (int k = 0; k < calls; ++k) fma_chains<Arch>(acc);
    best = std::max(best, calls * fma_chains_flops<Arch>() / (thread_seconds() - t0) * 1e-9);
    benchmark::DoNotOptimize(acc);
  }
  state.counters["GFLOP/s"] = best;
  state.counters["GFLOP/s_mean"] =
      benchmark::Counter(calls * fma_chains_flops<Arch>() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["lanes"] = static_cast<double>(B::size);
  state.counters["kernel_arch"] = std::is_same_v<Arch, s::default_arch> ? 1 : 0;
  state.SetLabel(Arch::name());
}

// Each iteration: passes over the arrays worth at least 32 MB (one pass for DRAM-sized
// arrays), timed with the thread's CPU clock.
void BM_stream(benchmark::State& state, Stream kind, double mib) {
  // Allocated and touched once per size and process: Google Benchmark calls this
  // function once per round of its iteration-count estimate and per repetition.
  static std::map<double, StreamArrays> cache;
  StreamArrays& arr = cache.try_emplace(mib, mib).first->second;
  const double pass_bytes = arr.pass(kind);
  const int passes = std::max(1, static_cast<int>(32e6 / pass_bytes));
  const double bytes = passes * pass_bytes;
  double best = 0;
  for (auto _ : state) {
    const double t0 = thread_seconds();
    for (int p = 0; p < passes; ++p) arr.pass(kind);
    best = std::max(best, bytes / (thread_seconds() - t0) * 1e-9);
  }
  state.counters["GB/s"] = best;
  state.counters["GB/s_mean"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["MiB/array"] = mib;
}

// The architectures a peak is reported for, where the build enables them: one per vector
// width and FMA availability. The kernels' own (s::default_arch, e.g. avx512bw) has the
// same vectors as the member of this list it derives from; it is registered as well.
template <class Arch>
void register_peak() {
  if constexpr (xsimd::supported_architectures::contains<Arch>())
    benchmark::RegisterBenchmark(("BM_fma_peak/" + std::string(Arch::name())).c_str(), BM_fma_peak<Arch>);
}

const bool registered = [] {
  register_peak<s::default_arch>();
  if constexpr (!std::is_same_v<s::default_arch, xsimd::avx512f>) register_peak<xsimd::avx512f>();
  if constexpr (!std::is_same_v<s::default_arch, xsimd::fma3<xsimd::avx2>>) register_peak<xsimd::fma3<xsimd::avx2>>();
  if constexpr (!std::is_same_v<s::default_arch, xsimd::fma3<xsimd::sse4_2>>)
    register_peak<xsimd::fma3<xsimd::sse4_2>>();
  if constexpr (!std::is_same_v<s::default_arch, xsimd::sse4_2>) register_peak<xsimd::sse4_2>();
  if constexpr (!std::is_same_v<s::default_arch, xsimd::neon64>) register_peak<xsimd::neon64>();

  const double big = stream_mib();
  const std::pair<const char*, Stream> kinds[] = {{"read", Stream::Read}, {"write", Stream::Write}, {"triad", Stream::Triad}};
  for (const auto& [name, kind] : kinds) {
    for (const double mib : {big, 0.25}) {
      std::string n = "BM_stream/" + std::string(name) + "/" + (mib < 1 ? std::string("cache") : std::string("dram"));
      benchmark::RegisterBenchmark(n.c_str(), BM_stream, kind, mib)->Unit(benchmark::kMillisecond);
    }
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
