// bench/common.hpp - what the benchmark binaries share: the machine's limits (FMA peak,
// memory bandwidth) as denominators, counters, paired timing for ratios measured in one
// run, the shape sets, and test data.
//
// Conventions (every binary):
//   * Rates use the thread's CPU time (Google Benchmark's default clock for rates), so
//     time spent descheduled on a shared machine does not count.
//   * FLOPs are the direct algorithm's useful FLOPs (conv: 2 * N*OH*OW*C_out*KH*KW*C_in
//     / groups), whatever the algorithm computes: Winograd's GFLOP/s are "effective".
//   * Bytes are what a layer must move at least: input read once, weights read once,
//     output written once, plus each operand once (per-channel vectors and tensors).
//   * %peak divides by the single-core FMA peak of the build's SIMD architecture and
//     %bw by the single-core STREAM triad bandwidth on arrays far larger than the caches,
//     both measured by the binary itself on first use (best rates, as STREAM reports;
//     bench_machine reports them), or
//     taken from SINTER_BENCH_PEAK_GFLOPS / SINTER_BENCH_DRAM_GBS when set (bench/report.py
//     sets them from bench_machine's run so that every binary divides by the same values).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <random>
#include <sinter/sinter.hpp>
#include <string>
#include <vector>

namespace bench {

namespace s = sinter;
using s::index_t;

// ---------------------------------------------------------------------------------
// Time and data
// ---------------------------------------------------------------------------------

/// CPU time of the calling thread in seconds.
inline double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

inline std::vector<float> uniform(std::size_t n, unsigned seed, float lo, float hi) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

inline std::vector<float> normal(std::size_t n, unsigned seed, float sigma) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

inline double env_double(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  return end != v && d > 0 ? d : fallback;
}

// ---------------------------------------------------------------------------------
// Machine limits
// ---------------------------------------------------------------------------------

/// FMA throughput kernel: `chains` independent accumulators, enough to cover FMA latency
/// x pipes on every target (4 cycles x 2 pipes on current x86 and Cortex-A76 cores need
/// 8). Without FMA instructions (SSE4.2) xsimd::fma is a mul and an add: the same 2 FLOPs.
inline constexpr int kFmaChains = 16;
inline constexpr int kFmaIters = 1 << 12;

template <class Arch>
[[gnu::noinline]] void fma_chains(xsimd::batch<float, Arch>* acc) {
  using B = xsimd::batch<float, Arch>;
  const B a(0.999999f), b(1e-7f);
  for (int it = 0; it < kFmaIters; ++it)
    s::detail::static_for<kFmaChains>([&](auto i) { acc[i] = xsimd::fma(acc[i], a, b); });
}

template <class Arch>
constexpr double fma_chains_flops() {
  return 2.0 * xsimd::batch<float, Arch>::size * kFmaChains * kFmaIters;
}

/// Single-core FMA peak of `Arch` in GFLOP/s: the best of `reps` timings of ~1 ms each
/// (a peak is an upper bound: on a shared machine, interrupted or slowed timings only
/// err low; STREAM likewise reports its best rate).
template <class Arch>
double measure_fma_peak(int reps = 15) {
  using B = xsimd::batch<float, Arch>;
  alignas(64) B acc[kFmaChains];
  for (int i = 0; i < kFmaChains; ++i) acc[i] = B(0.001f * static_cast<float>(i));
  fma_chains<Arch>(acc);
  double best = 0;
  for (int rep = 0; rep < reps; ++rep) {
    const double t0 = thread_seconds();
    for (int k = 0; k < 128; ++k) fma_chains<Arch>(acc);
    best = std::max(best, 128 * fma_chains_flops<Arch>() / (thread_seconds() - t0) * 1e-9);
  }
  benchmark::DoNotOptimize(acc);
  return best;
}

/// The %peak denominator: SINTER_BENCH_PEAK_GFLOPS, else measured once per process for
/// the build's SIMD architecture (the one the kernels use).
inline double peak_gflops() {
  static const double v = env_double("SINTER_BENCH_PEAK_GFLOPS", 0) > 0 ? env_double("SINTER_BENCH_PEAK_GFLOPS", 0)
                                                                       : measure_fma_peak<s::default_arch>();
  return v;
}

/// Streaming kernels over float arrays, vectorised with the build's SIMD architecture.
/// Byte counts follow STREAM (McCalpin): bytes the program reads plus bytes it writes;
/// the write-allocate read of a written line is not counted.
enum class Stream { Read, Write, Triad };

namespace detail {
using V = s::vec<>;
inline constexpr std::size_t kLanes = V::size;

/// sum of a[0..n) with 4 independent accumulators (n a multiple of 4 * lanes).
[[gnu::noinline]] inline float stream_read(const float* a, std::size_t n) {
  V s0(0.f), s1(0.f), s2(0.f), s3(0.f);
  for (std::size_t i = 0; i < n; i += 4 * kLanes) {
    s0 += V::load_aligned(a + i);
    s1 += V::load_aligned(a + i + kLanes);
    s2 += V::load_aligned(a + i + 2 * kLanes);
    s3 += V::load_aligned(a + i + 3 * kLanes);
  }
  return xsimd::hadd((s0 + s1) + (s2 + s3));
}
/// a[i] = q.
[[gnu::noinline]] inline void stream_write(float* a, float q, std::size_t n) {
  const V v(q);
  for (std::size_t i = 0; i < n; i += kLanes) v.store_aligned(a + i);
}
/// a[i] = b[i] + q * c[i] (STREAM triad).
[[gnu::noinline]] inline void stream_triad(float* a, const float* b, const float* c, float q, std::size_t n) {
  const V vq(q);
  for (std::size_t i = 0; i < n; i += kLanes)
    xsimd::fma(vq, V::load_aligned(c + i), V::load_aligned(b + i)).store_aligned(a + i);
}
}  // namespace detail

/// Arrays for the streaming kernels: `mib` MiB each (three for the triad), touched once
/// so the first timed pass does not count page faults.
struct StreamArrays {
  std::size_t n;
  s::aligned_buffer a, b, c;
  explicit StreamArrays(double mib)
      : n(std::max<std::size_t>(64, static_cast<std::size_t>(mib * (1 << 20) / sizeof(float))) / 64 * 64),
        a(static_cast<index_t>(n)),
        b(static_cast<index_t>(n)),
        c(static_cast<index_t>(n)) {
    std::fill_n(a.data(), n, 0.f);
    std::fill_n(b.data(), n, 1.f);
    std::fill_n(c.data(), n, 2.f);
  }
  /// One pass; returns the bytes it moved.
  double pass(Stream k) {
    switch (k) {
      case Stream::Read: {
        const float r = detail::stream_read(a.data(), n);
        benchmark::DoNotOptimize(r);
        return 4.0 * static_cast<double>(n);
      }
      case Stream::Write:
        detail::stream_write(a.data(), 1.f, n);
        benchmark::ClobberMemory();
        return 4.0 * static_cast<double>(n);
      case Stream::Triad:
        detail::stream_triad(a.data(), b.data(), c.data(), 0.5f, n);
        benchmark::ClobberMemory();
        return 12.0 * static_cast<double>(n);
    }
    return 0;
  }
};

/// Per-array size of the DRAM measurements in MiB: SINTER_BENCH_STREAM_MIB, default 256
/// (8x a 32 MiB L3 slice; the triad allocates three such arrays).
inline double stream_mib() { return env_double("SINTER_BENCH_STREAM_MIB", 256); }

/// Bandwidth of `k` in GB/s on arrays of `mib` MiB: the best of `reps` passes (STREAM's
/// "best rate").
inline double measure_stream(Stream k, double mib, int reps = 7) {
  StreamArrays arr(mib);
  arr.pass(k);
  double best = 0;
  for (int i = 0; i < reps; ++i) {
    const double t0 = thread_seconds();
    const double bytes = arr.pass(k);
    best = std::max(best, bytes / (thread_seconds() - t0) * 1e-9);
  }
  return best;
}

/// The %bw denominator: SINTER_BENCH_DRAM_GBS, else the triad measured once per process
/// on arrays of stream_mib() MiB.
inline double dram_gbs() {
  static const double v = env_double("SINTER_BENCH_DRAM_GBS", 0) > 0 ? env_double("SINTER_BENCH_DRAM_GBS", 0)
                                                                     : measure_stream(Stream::Triad, stream_mib());
  return v;
}

// ---------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------

/// The work of one call: useful FLOPs and the bytes it must move at least.
struct Work {
  double flops = 0;
  double bytes = 0;
};

/// Counters of a benchmark whose iterations are one call each, timed by Google
/// Benchmark: GFLOP/s, %peak, MB (per call), GB/s, %bw. `mem_bound` adds %bw.
inline void set_counters(benchmark::State& state, Work w, bool mem_bound = false, const std::string& prefix = "") {
  using C = benchmark::Counter;
  if (w.flops > 0) {
    state.counters[prefix + "GFLOP/s"] = C(w.flops * 1e-9, C::kIsIterationInvariantRate);
    state.counters[prefix + "%peak"] = C(w.flops * 1e-9 * 100 / peak_gflops(), C::kIsIterationInvariantRate);
  }
  if (w.bytes > 0) {
    state.counters[prefix + "MB"] = C(w.bytes * 1e-6);
    state.counters[prefix + "GB/s"] = C(w.bytes * 1e-9, C::kIsIterationInvariantRate);
    if (mem_bound) state.counters[prefix + "%bw"] = C(w.bytes * 1e-9 * 100 / dram_gbs(), C::kIsIterationInvariantRate);
  }
}

/// One of the computations a paired benchmark runs in each iteration.
struct Variant {
  std::string name;
  std::function<void()> run;
  Work work{};
  bool mem_bound = false;
  int cores = 1;  ///< cores it runs on: %peak divides by this many cores' FMA peak
};

/// A ratio reported by run_paired: time(num) / time(den), as counter `name`.
struct Ratio {
  std::string name;
  std::size_t num, den;
};

/// The clock of a paired benchmark: the calling thread's CPU time (the default, see the
/// conventions above), or wall time for variants that run on other threads too.
enum class Clock { thread_cpu, wall };

inline double wall_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// Runs every variant once per iteration, each as a batch of calls of about 1 ms
/// (reading the thread's CPU clock is a system call of a microsecond or more: a batch
/// keeps it under 0.5% of the time it measures), starting with a different variant each
/// time so that none always runs after the same predecessor. Reports per variant
/// "<name>:us" (time per call), GFLOP/s, %peak, GB/s (and %bw for memory-bound ones),
/// plus the requested time ratios. Ratios measured this way share the machine's load,
/// which on a shared machine is what makes them comparable; Google Benchmark's own time
/// column is the sum over the variants' batches.
inline void run_paired(benchmark::State& state, const std::vector<Variant>& vs, const std::vector<Ratio>& ratios,
                       Clock clock = Clock::thread_cpu) {
  const auto now = clock == Clock::wall ? wall_seconds : thread_seconds;
  const std::size_t n = vs.size();
  constexpr double kBatchSeconds = 1e-3;
  std::vector<int> batch(n, 1);
  for (std::size_t i = 0; i < n; ++i) {
    vs[i].run();  // warm-up: page faults, lazy allocations
    const double t0 = now();
    vs[i].run();
    const double t = now() - t0;
    batch[i] = static_cast<int>(std::clamp(std::ceil(kBatchSeconds / std::max(t, 1e-9)), 1.0, 10000.0));
  }
  std::vector<double> t(n, 0.0);
  std::size_t first = 0;
  std::int64_t iters = 0;
  for (auto _ : state) {
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t i = (first + j) % n;
      const double t0 = now();
      for (int r = 0; r < batch[i]; ++r) {
        vs[i].run();
        benchmark::ClobberMemory();
      }
      t[i] += now() - t0;
    }
    first = (first + 1) % n;
    ++iters;
  }
  if (iters == 0) return;
  std::vector<double> per_call(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double sec = t[i] / static_cast<double>(iters * batch[i]);
    per_call[i] = sec;
    const Work& w = vs[i].work;
    const std::string& p = vs[i].name;
    state.counters[p + ":us"] = sec * 1e6;
    if (w.flops > 0) {
      state.counters[p + ":GFLOP/s"] = w.flops / sec * 1e-9;
      state.counters[p + ":%peak"] = w.flops / sec * 1e-9 * 100 / (peak_gflops() * vs[i].cores);
    }
    if (w.bytes > 0) {
      state.counters[p + ":GB/s"] = w.bytes / sec * 1e-9;
      if (vs[i].mem_bound) state.counters[p + ":%bw"] = w.bytes / sec * 1e-9 * 100 / dram_gbs();
    }
  }
  for (const Ratio& r : ratios) state.counters[r.name] = per_call[r.num] / per_call[r.den];
}

/// Largest |a - b| over max(|b|) (0 when equal): how far `a` is from the reference `b`.
inline double max_rel_diff(const float* a, const float* b, std::size_t n) {
  double d = 0, m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
    m = std::max(m, std::abs(static_cast<double>(b[i])));
  }
  return m > 0 ? d / m : d;
}

// ---------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------

/// A layer of a shape set: conv2d (groups 1), depthwise conv2d (channel multiplier 1) or
/// linear (M x K input, N outputs: h = M, cin = K, cout = N). NHWC, batch 1.
struct LayerShape {
  enum Kind { Conv, Depthwise, Linear } kind = Conv;
  std::string set;  ///< resnet18, mobilenet_v1, face, motivating, ksweep
  index_t h = 1, w = 1, cin = 1, cout = 1, k = 1, stride = 1;
  s::Padding pad{};

  index_t oh() const { return kind == Linear ? h : s::conv_out_size(h, k, stride, 1, pad.top, pad.bottom); }
  index_t ow() const { return kind == Linear ? 1 : s::conv_out_size(w, k, stride, 1, pad.left, pad.right); }
  index_t out_c() const { return kind == Depthwise ? cin : cout; }
  std::size_t in_size() const { return static_cast<std::size_t>(h * w * cin); }
  std::size_t out_size() const { return static_cast<std::size_t>(oh() * ow() * out_c()); }
  std::size_t weight_size() const {
    return static_cast<std::size_t>(kind == Depthwise ? k * k * cin : kind == Linear ? cin * cout : cout * k * k * cin);
  }
  double flops() const {
    const double taps = kind == Linear ? static_cast<double>(cin) : kind == Depthwise ? k * k : k * k * cin;
    return 2.0 * static_cast<double>(oh()) * static_cast<double>(ow()) * static_cast<double>(out_c()) * taps;
  }
  /// Input + weights + output; with the 4-op chain (scale, shift per channel, a residual
  /// tensor, relu) also 2 * C_out + the residual.
  double bytes(bool chain4 = false) const {
    double b = static_cast<double>(in_size() + weight_size() + out_size());
    if (chain4) b += static_cast<double>(2 * out_c()) + static_cast<double>(out_size());
    return 4.0 * b;
  }
  /// Whether the 3x3 layer can run Winograd F(2x2, 3x3).
  bool winograd_ok() const { return kind == Conv && k == 3 && stride == 1; }

  /// e.g. conv3x3_s2_56x56x64-128, pw_56x56x64-256, dw3x3_s1_112x112x32, linear_4x4096-4096.
  std::string name() const {
    const auto sz = [](index_t a, index_t b, index_t c) {
      return std::to_string(a) + "x" + std::to_string(b) + "x" + std::to_string(c);
    };
    const std::string pads = pad.top == 0 && pad.bottom == 0 && pad.left == 0 && pad.right == 0 && k > 1 ? "_valid" : "";
    switch (kind) {
      case Linear:
        return "linear_" + std::to_string(h) + "x" + std::to_string(cin) + "-" + std::to_string(cout);
      case Depthwise:
        return "dw" + std::to_string(k) + "x" + std::to_string(k) + "_s" + std::to_string(stride) + "_" +
               sz(h, w, cin) + pads;
      case Conv:
        break;
    }
    if (k == 1) return std::string(stride == 1 ? "pw_" : "pw_s2_") + sz(h, w, cin) + "-" + std::to_string(cout);
    return "conv" + std::to_string(k) + "x" + std::to_string(k) + "_s" + std::to_string(stride) + "_" +
           sz(h, w, cin) + "-" + std::to_string(cout) + pads;
  }
};

namespace detail {
inline LayerShape conv(const char* set, index_t hw, index_t cin, index_t cout, index_t k, index_t stride,
                       bool same = true) {
  LayerShape l{LayerShape::Conv, set, hw, hw, cin, cout, k, stride, {}};
  if (same) l.pad = s::same_padding(hw, hw, k, k, stride);
  return l;
}
/// PyTorch-style symmetric padding k / 2 (ResNet-18's convs).
inline LayerShape conv_sym(const char* set, index_t hw, index_t cin, index_t cout, index_t k, index_t stride) {
  LayerShape l{LayerShape::Conv, set, hw, hw, cin, cout, k, stride, {}};
  l.pad = s::Padding(k / 2);
  return l;
}
inline LayerShape dw(const char* set, index_t hw, index_t c, index_t k, index_t stride) {
  LayerShape l{LayerShape::Depthwise, set, hw, hw, c, c, k, stride, {}};
  l.pad = s::same_padding(hw, hw, k, k, stride);
  return l;
}
inline LayerShape linear(const char* set, index_t m, index_t k, index_t n) {
  return {LayerShape::Linear, set, m, 1, k, n, 1, 1, {}};
}
}  // namespace detail

/// ResNet-18 (224x224 input, batch 1): every distinct conv (stem 7x7/2, the 3x3 convs of
/// the four stages, the 1x1/2 downsampling shortcuts) and the classifier.
inline std::vector<LayerShape> resnet18() {
  using namespace detail;
  const char* s = "resnet18";
  return {conv_sym(s, 224, 3, 64, 7, 2),   conv_sym(s, 56, 64, 64, 3, 1),   conv_sym(s, 56, 64, 128, 3, 2),
          conv_sym(s, 28, 128, 128, 3, 1), conv_sym(s, 56, 64, 128, 1, 2),  conv_sym(s, 28, 128, 256, 3, 2),
          conv_sym(s, 14, 256, 256, 3, 1), conv_sym(s, 28, 128, 256, 1, 2), conv_sym(s, 14, 256, 512, 3, 2),
          conv_sym(s, 7, 512, 512, 3, 1),  conv_sym(s, 14, 256, 512, 1, 2), linear(s, 1, 512, 1000)};
}

/// MobileNet-v1 1.0 (224x224 input, TF 'SAME' padding): the stem, every distinct
/// depthwise 3x3 and pointwise layer, and the classifier.
inline std::vector<LayerShape> mobilenet_v1() {
  using namespace detail;
  const char* s = "mobilenet_v1";
  return {conv(s, 224, 3, 32, 3, 2), dw(s, 112, 32, 3, 1),    conv(s, 112, 32, 64, 1, 1),  dw(s, 112, 64, 3, 2),
          conv(s, 56, 64, 128, 1, 1), dw(s, 56, 128, 3, 1),   conv(s, 56, 128, 128, 1, 1), dw(s, 56, 128, 3, 2),
          conv(s, 28, 128, 256, 1, 1), dw(s, 28, 256, 3, 1),  conv(s, 28, 256, 256, 1, 1), dw(s, 28, 256, 3, 2),
          conv(s, 14, 256, 512, 1, 1), dw(s, 14, 512, 3, 1),  conv(s, 14, 512, 512, 1, 1), dw(s, 14, 512, 3, 2),
          conv(s, 7, 512, 1024, 1, 1), dw(s, 7, 1024, 3, 1),  conv(s, 7, 1024, 1024, 1, 1), linear(s, 1, 1024, 1000)};
}

/// The examples' face networks (examples/face/): the recognition ResNet's stem and
/// block convs at 150x150 input ('valid' stride-2 convs), the SSD MobileNet-v1
/// detector's largest layers at 512x512, and the landmark net's first block at 112x112.
inline std::vector<LayerShape> face() {
  using namespace detail;
  const char* s = "face";
  return {conv(s, 150, 3, 32, 7, 2, false), conv(s, 35, 32, 32, 3, 1),    conv(s, 35, 32, 64, 3, 2, false),
          conv(s, 17, 64, 64, 3, 1),        conv(s, 17, 64, 128, 3, 2, false), conv(s, 8, 128, 128, 3, 1),
          conv(s, 512, 3, 32, 3, 2),        dw(s, 256, 32, 3, 1),          conv(s, 256, 32, 64, 1, 1),
          dw(s, 32, 512, 3, 1),             conv(s, 32, 512, 512, 1, 1),   conv(s, 112, 3, 32, 3, 2),
          dw(s, 56, 32, 3, 1),              conv(s, 56, 32, 32, 1, 1)};
}

/// The shapes of the motivating material: ops on a (1, 32, 32, 128) tensor, the
/// (4, 4096) x (4096, 4096) linear layer, and issue 4's memory-bound layers.
inline std::vector<LayerShape> motivating() {
  using namespace detail;
  const char* s = "motivating";
  return {conv(s, 32, 128, 128, 3, 1), conv(s, 32, 128, 128, 1, 1), dw(s, 32, 128, 3, 1),
          linear(s, 4, 4096, 4096),    dw(s, 28, 240, 5, 1),         conv(s, 56, 64, 256, 1, 1),
          linear(s, 1024, 1024, 1024)};
}

/// The kernel-size sweep at 512 channels, pad 0: 1x1 at 128x128, 3x3 at 44x44, 5x5 at
/// 26x26, 7x7 at 18x18.
inline std::vector<LayerShape> ksweep() {
  using namespace detail;
  const char* s = "ksweep";
  return {conv(s, 128, 512, 512, 1, 1, false), conv(s, 44, 512, 512, 3, 1, false), conv(s, 26, 512, 512, 5, 1, false),
          conv(s, 18, 512, 512, 7, 1, false)};
}

/// Conv2DParams of a layer with dilation 1 and groups 1.
inline s::Conv2DParams conv_params(index_t stride, s::Padding pad) {
  s::Conv2DParams p;
  p.stride = s::HW(stride);
  p.dilation = s::HW(1);
  p.pad = pad;
  p.groups = 1;
  return p;
}
/// DepthwiseParams of a layer with dilation 1.
inline s::DepthwiseParams depthwise_params(index_t stride, s::Padding pad) {
  s::DepthwiseParams p;
  p.stride = s::HW(stride);
  p.dilation = s::HW(1);
  p.pad = pad;
  return p;
}

// ---------------------------------------------------------------------------------
// Test data of a layer
// ---------------------------------------------------------------------------------

/// Inputs after a ReLU (uniform [0, 1)), He-initialised weights (OHWI for conv, [C, K,
/// K] for depthwise, [N x K] for linear), the folded batch-norm scale near 1 and shift
/// near 0 (per output channel), a residual like the input; output buffers.
struct LayerData {
  LayerShape sh;
  std::vector<float> in, wt, scale, shift, res, out, out2;
  explicit LayerData(const LayerShape& shape) : sh(shape) {
    const index_t fan_in = sh.kind == LayerShape::Depthwise ? sh.k * sh.k : sh.kind == LayerShape::Linear ? sh.cin
                                                                                                          : sh.k * sh.k * sh.cin;
    in = uniform(sh.in_size(), 1, 0.f, 1.f);
    wt = normal(sh.weight_size(), 2, std::sqrt(2.f / static_cast<float>(fan_in)));
    scale = uniform(static_cast<std::size_t>(sh.out_c()), 3, 0.8f, 1.2f);
    shift = uniform(static_cast<std::size_t>(sh.out_c()), 4, -0.2f, 0.2f);
    res = uniform(sh.out_size(), 5, 0.f, 1.f);
    out.assign(sh.out_size(), 0.f);
    out2.assign(sh.out_size(), 0.f);
  }
  s::TensorView<const float> input() const { return s::nhwc<const float>(in.data(), 1, sh.h, sh.w, sh.cin); }
  s::TensorView<float> output(std::vector<float>& o) { return s::nhwc(o.data(), 1, sh.oh(), sh.ow(), sh.out_c()); }
  s::TensorView<const float> residual() const {
    return s::nhwc<const float>(res.data(), 1, sh.oh(), sh.ow(), sh.out_c());
  }
  s::MatrixView<const float> x() const { return s::matrix<const float>(in.data(), sh.h, sh.cin); }
  s::MatrixView<float> y(std::vector<float>& o) { return s::matrix(o.data(), sh.h, sh.cout); }
  s::MatrixView<const float> residual_matrix() const { return s::matrix<const float>(res.data(), sh.h, sh.cout); }
};

/// The chain of the fusion benchmarks and the peers: folded batch-norm (scale, shift per
/// output channel), a residual add, ReLU. oneDNN runs it as post-ops binary_mul,
/// binary_add, sum, eltwise_relu; XNNPACK as separate multiply / add operators, the ReLU
/// fused into the last add's clamp.
template <class Layer>
auto with_chain4(Layer&& layer, const LayerData& d) {
  return std::forward<Layer>(layer) | s::mul(s::per_channel(d.scale)) | s::add(s::per_channel(d.shift)) |
         s::add(s::tensor(d.residual())) | s::relu();
}
template <class Layer>
auto with_chain4_matrix(Layer&& layer, const LayerData& d) {
  return std::forward<Layer>(layer) | s::mul(s::per_channel(d.scale)) | s::add(s::per_channel(d.shift)) |
         s::add(s::tensor(d.residual_matrix())) | s::relu();
}

/// A layer with its workspace, callable with no arguments (for Variant::run).
template <class Layer>
struct Bound {
  Layer layer;
  s::TensorView<const float> in;
  s::TensorView<float> out;
  std::vector<std::byte> ws;
  Bound(Layer l, s::TensorView<const float> i, s::TensorView<float> o)
      : layer(std::move(l)), in(i), out(o), ws(layer.workspace_size(i.shape)) {}
  void operator()() const { layer(in, out, s::workspace(const_cast<std::byte*>(ws.data()), ws.size())); }
};

/// Wraps `layer` (built for d's input and output `o`) as a shared callable.
template <class Layer>
std::function<void()> bind(Layer layer, LayerData& d, std::vector<float>& o) {
  auto b = std::make_shared<Bound<Layer>>(std::move(layer), d.input(), d.output(o));
  return [b] { (*b)(); };
}

/// Registers, for every conv and depthwise layer of the ResNet-18, MobileNet-v1,
/// motivating and kernel-size sets, a benchmark "<set>/<layer>" that calls
/// compare(state, data, bare, fused): `bare` the sinter layer (conv2d with
/// algo::automatic, or depthwise_conv2d), `fused` the same layer with with_chain4. The
/// peer benchmarks (bench/peers/) time a library beside sinter this way.
template <class Compare>
void register_peer_layers(Compare compare) {
  const auto conv = [compare]<index_t K>(const LayerShape& sh) {
    return benchmark::RegisterBenchmark((sh.set + "/" + sh.name()).c_str(), [compare, sh](benchmark::State& state) {
      LayerData d(sh);
      const auto make = [&] {
        return s::conv2d<K, K>(s::ohwi(d.wt.data(), sh.cout, K, K, sh.cin), conv_params(sh.stride, sh.pad),
                               s::algo::automatic);
      };
      compare(state, d, make(), with_chain4(make(), d));
    });
  };
  const auto depthwise = [compare]<index_t K>(const LayerShape& sh) {
    return benchmark::RegisterBenchmark((sh.set + "/" + sh.name()).c_str(), [compare, sh](benchmark::State& state) {
      LayerData d(sh);
      const auto make = [&] {
        return s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.wt.data(), sh.cin, K, K),
                                         depthwise_params(sh.stride, sh.pad));
      };
      compare(state, d, make(), with_chain4(make(), d));
    });
  };
  for (const auto& set : {resnet18(), mobilenet_v1(), motivating(), ksweep()})
    for (const LayerShape& sh : set) {
      benchmark::internal::Benchmark* b = nullptr;
      if (sh.kind == LayerShape::Depthwise && sh.k == 3) b = depthwise.template operator()<3>(sh);
      if (sh.kind == LayerShape::Depthwise && sh.k == 5) b = depthwise.template operator()<5>(sh);
      if (sh.kind == LayerShape::Conv && sh.k == 1) b = conv.template operator()<1>(sh);
      if (sh.kind == LayerShape::Conv && sh.k == 3) b = conv.template operator()<3>(sh);
      if (sh.kind == LayerShape::Conv && sh.k == 5) b = conv.template operator()<5>(sh);
      if (sh.kind == LayerShape::Conv && sh.k == 7) b = conv.template operator()<7>(sh);
      if (b) b->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace bench
