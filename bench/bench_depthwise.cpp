// Depthwise conv2d (MobileNet shapes) against the machine's memory bandwidth, and
// against the same layers through the generic conv2d path (groups = C, im2col + GEMM).
//
// Shapes (NHWC, batch 1): 3x3 112x112x32 stride 1, 3x3 112x112x64 stride 2 (TF SAME),
// 3x3 14x14x512 stride 1, 5x5 28x28x240 stride 1; each bare, with the folded
// batch-norm (mul + add per channel) + relu6 chain fused, and with the same chain run
// as a separate pass after the bare layer (unfused), with the input normalisation
// prologue (x - mean[c]) * inv_std[c] fused, plus the generic path bare and fused.
// bn3_relu6: the unfolded batch-norm (sub, mul, add per channel) + relu6 fused.
// Kernel-only shapes (bare, bn_relu6, bn3_relu6): 3x3 stride 1 32x32x32 and 32x32x64
// (L2-resident), and the depthwise layers of examples/face/detector.hpp: 256x256x32,
// 256x256x64 stride 2, 128x128x128, 64x64x256, 32x32x512, 16x16x1024.
// Paired: bare, bn_relu6 and prologue called in turn in one loop, reporting the median
// time of each and the ratios fused / bare under the same load.
// Threads: bare and bn_relu6 again, timed by the wall clock (the other benchmarks use
// the calling thread's CPU time), on 1 and 2 workers of a thread_pool (persistent
// workers): .../bare_wall/threads:2 over threads:1. On a machine shared with other
// work the 2-thread time depends on that work too.
//
// Counters:
//   GFLOP/s  2 * KH * KW per output element
//   GB/s     input read once + output written once + weights (+ per-channel operands
//            of the chains)
//   %triad   GB/s over the STREAM triad bandwidth measured in this binary on arrays
//            far larger than the caches (a layer whose data stays in L2/L3 between
//            iterations can exceed 100%)
//   %peak    GFLOP/s over the single-core FMA peak measured in this binary
// BM_triad reports that bandwidth (and the same triad on cache-sized arrays),
// BM_fma_peak that peak. Rates and the triad/peak references all use CPU time.
//
// Run one benchmark at a time, pinned:
//   taskset -c 1 ./bench_depthwise --benchmark_filter='dw3x3_112x112x32_s1/bare$'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// and the threaded ones on both cores:
//   taskset -c 0,1 ./bench_depthwise --benchmark_filter='dw3x3_112x112x32_s1/bare_wall'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <ctime>
#include <random>
#include <sinter/sinter.hpp>
#include <string>
#include <vector>

namespace s = sinter;

namespace {

std::vector<float> random_vec(std::size_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// ---------------------------------------------------------------------------------
// STREAM triad a[i] = b[i] + q * c[i] (McCalpin), floats, bytes = 3 * 4 per element
// (STREAM's convention: the write-allocate read of a is not counted).
// ---------------------------------------------------------------------------------
[[gnu::noinline]] void triad(float* a, const float* b, const float* c, float q, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) a[i] = b[i] + q * c[i];
}

/// This thread's CPU time in seconds (the clock Google Benchmark's rates use, so the
/// triad and the layers are measured alike on a shared machine).
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// Triad bandwidth in GB/s on arrays of `n` floats: median of `reps` passes.
double measure_triad(std::size_t n, int reps) {
  std::vector<float> a(n, 0.f), b(n, 1.f), c(n, 2.f);
  triad(a.data(), b.data(), c.data(), 0.5f, n);
  std::vector<double> gbs;
  for (int r = 0; r < reps; ++r) {
    const double t0 = thread_seconds();
    triad(a.data(), b.data(), c.data(), 0.5f, n);
    const double t1 = thread_seconds();
    benchmark::DoNotOptimize(a.data());
    gbs.push_back(12.0 * static_cast<double>(n) / (t1 - t0) * 1e-9);
  }
  std::nth_element(gbs.begin(), gbs.begin() + reps / 2, gbs.end());
  return gbs[static_cast<std::size_t>(reps / 2)];
}

constexpr std::size_t kTriadBig = std::size_t{32} << 20;  // 32 Mi floats = 128 MiB per array

/// The DRAM triad bandwidth, measured once per process (for the %triad counter).
double triad_gbs() {
  static const double v = measure_triad(kTriadBig, 9);
  return v;
}

void BM_triad(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<float> a(n, 0.f), b(n, 1.f), c(n, 2.f);
  for (auto _ : state) {
    triad(a.data(), b.data(), c.data(), 0.5f, n);
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(12.0 * static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
  state.SetLabel(std::to_string(12 * n >> 20) + " MiB moved per pass");
}
BENCHMARK(BM_triad)->Arg(kTriadBig)->Arg(1 << 18)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------
// FMA peak: independent FMA chains, enough to cover latency x pipes (as bench_core).
// ---------------------------------------------------------------------------------
constexpr int kChains = 16, kFmaIters = 1 << 12;

[[gnu::noinline]] void fma_chains(s::vec<>* acc) {
  const s::vec<> a(0.999999f), b(1e-7f);
  for (int it = 0; it < kFmaIters; ++it)
    s::detail::static_for<kChains>([&](auto i) { acc[i] = xsimd::fma(acc[i], a, b); });
}
constexpr double kFmaFlops = 2.0 * s::vec<>::size * kChains * kFmaIters;

/// Single-core FMA peak in GFLOP/s, measured once per process (for the %peak counter).
double peak_gflops() {
  static const double v = [] {
    s::vec<> acc[kChains];
    for (int i = 0; i < kChains; ++i) acc[i] = s::vec<>(0.001f * static_cast<float>(i));
    std::vector<double> r;
    for (int rep = 0; rep < 9; ++rep) {
      const double t0 = thread_seconds();
      for (int k = 0; k < 64; ++k) fma_chains(acc);
      r.push_back(64 * kFmaFlops / (thread_seconds() - t0) * 1e-9);
    }
    benchmark::DoNotOptimize(acc);
    std::nth_element(r.begin(), r.begin() + 4, r.end());
    return r[4];
  }();
  return v;
}

void BM_fma_peak(benchmark::State& state) {
  s::vec<> acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = s::vec<>(0.001f * static_cast<float>(i));
  for (auto _ : state) {
    fma_chains(acc);
    benchmark::DoNotOptimize(acc);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(kFmaFlops, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(s::default_arch::name());
}
BENCHMARK(BM_fma_peak);

// ---------------------------------------------------------------------------------
// Depthwise layers.
// ---------------------------------------------------------------------------------
struct Shape {
  s::index_t h, w, c, k, stride;
};
constexpr Shape k3_112_32{112, 112, 32, 3, 1};
constexpr Shape k3_112_64_s2{112, 112, 64, 3, 2};
constexpr Shape k3_14_512{14, 14, 512, 3, 1};
constexpr Shape k5_28_240{28, 28, 240, 5, 1};
// L2-resident small layers, and the depthwise layers of examples/face/detector.hpp.
constexpr Shape k3_32_32{32, 32, 32, 3, 1};
constexpr Shape k3_32_64{32, 32, 64, 3, 1};
constexpr Shape k3_256_32{256, 256, 32, 3, 1};
constexpr Shape k3_256_64_s2{256, 256, 64, 3, 2};
constexpr Shape k3_128_128{128, 128, 128, 3, 1};
constexpr Shape k3_64_256{64, 64, 256, 3, 1};
constexpr Shape k3_32_512{32, 32, 512, 3, 1};
constexpr Shape k3_16_1024{16, 16, 1024, 3, 1};
// Rows narrower than the 32-register ISAs' pixel block of 8 (MobileNet's last depthwise
// layers): sliding-window blocks of 4 pixels there.
constexpr Shape k3_7_1024{7, 7, 1024, 3, 1};
constexpr Shape k3_14_512_s2{14, 14, 512, 3, 2};

struct Data {
  Shape sh;
  s::Padding pad;
  s::Shape4 in_shape, out_shape;
  // Input and output 64-byte aligned: a std::vector's alignment depends on the process's
  // allocation history (malloc raises its mmap threshold as large blocks are freed),
  // and vectors that straddle cache lines moved the bare time by up to 1.5x between runs.
  s::aligned_buffer in, out;
  std::vector<float> w, scale, shift, mean, inv_std;
  explicit Data(Shape shape) : sh(shape) {
    pad = s::same_padding(sh.h, sh.w, sh.k, sh.k, sh.stride);
    in_shape = {1, sh.h, sh.w, sh.c};
    out_shape = {1, (sh.h + sh.stride - 1) / sh.stride, (sh.w + sh.stride - 1) / sh.stride, sh.c};
    const auto x = random_vec(static_cast<std::size_t>(sh.h * sh.w * sh.c), 1);
    in.resize(static_cast<s::index_t>(x.size()));
    std::copy(x.begin(), x.end(), in.data());
    w = random_vec(static_cast<std::size_t>(sh.k * sh.k * sh.c), 2, -0.3f, 0.3f);  // [C, K, K, 1]
    scale = random_vec(static_cast<std::size_t>(sh.c), 3, 0.5f, 1.5f);
    shift = random_vec(static_cast<std::size_t>(sh.c), 4);
    mean = random_vec(static_cast<std::size_t>(sh.c), 5);
    inv_std = random_vec(static_cast<std::size_t>(sh.c), 6, 0.5f, 2.f);
    out.resize(out_shape.h * out_shape.w * sh.c);
  }
  s::TensorView<const float> in_view() const { return s::nhwc<const float>(in.data(), in_shape); }
  s::TensorView<float> out_view() { return s::nhwc(out.data(), out_shape); }
  s::DepthwiseParams dw_params() const { return {.stride = sh.stride, .pad = pad}; }
  s::Conv2DParams conv_params() const { return {.stride = sh.stride, .pad = pad, .groups = sh.c}; }
  double flops() const { return 2.0 * static_cast<double>(sh.k * sh.k * out_shape.h * out_shape.w * sh.c); }
  /// Bytes moved with `operands` per-channel operand vectors in the chains.
  double bytes(int operands) const {
    const double elems = static_cast<double>(in.size() + out.size()) + static_cast<double>(w.size()) +
                         operands * static_cast<double>(sh.c);
    return 4.0 * elems;
  }
};

template <class Layer, class After>
void run(benchmark::State& state, Data& d, const Layer& layer, int operands, After&& after) {
  const double bw = triad_gbs(), peak = peak_gflops();
  std::vector<std::byte> ws(layer.workspace_size(d.in_shape));
  const auto in = d.in_view();
  const auto out = d.out_view();
  const double t0 = thread_seconds();
  for (auto _ : state) {
    layer(in, out, ws);
    after();
    benchmark::ClobberMemory();
  }
  const double per_iter = (thread_seconds() - t0) / static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(d.flops(), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] =
      benchmark::Counter(d.bytes(operands), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  // Percentages from this thread's CPU time per iteration (the clock of the rates).
  state.counters["%triad"] = d.bytes(operands) / per_iter * 1e-9 / bw * 100.0;
  state.counters["%peak"] = d.flops() / per_iter * 1e-9 / peak * 100.0;
  state.SetLabel("triad " + std::to_string(static_cast<int>(bw + 0.5)) + " GB/s, peak " +
                 std::to_string(static_cast<int>(peak + 0.5)) + " GFLOP/s");
}

constexpr auto nothing = [] {};

/// The folded batch-norm + relu6 as its own (vectorised) pass over the output: what an
/// engine without this fusion runs after the conv. C is a multiple of the lanes here.
void bn_relu6_pass(Data& d) {
  using B = s::vec<>;
  constexpr s::index_t L = B::size;
  const s::index_t c = d.sh.c;
  float* o = d.out.data();
  const float* sc = d.scale.data();
  const float* sf = d.shift.data();
  const std::size_t pixels = static_cast<std::size_t>(d.out.size() / c);
  const B lo(0.f), hi(6.f);
  for (std::size_t p = 0; p < pixels; ++p, o += c)
    for (s::index_t i = 0; i < c; i += L) {
      const B y = xsimd::fma(B::load_unaligned(o + i), B::load_unaligned(sc + i), B::load_unaligned(sf + i));
      xsimd::min(xsimd::max(y, lo), hi).store_unaligned(o + i);
    }
}

template <int K>
void BM_dw_bare(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto layer = s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.w.data(), sh.c, K, K), d.dw_params());
  run(state, d, layer, 0, nothing);
}

template <int K>
void BM_dw_bn_relu6(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto layer = s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.w.data(), sh.c, K, K), d.dw_params()) |
                     s::mul(s::per_channel(d.scale)) | s::add(s::per_channel(d.shift)) | s::relu6();
  run(state, d, layer, 2, nothing);
}

/// The unfolded batch-norm (x - mean[c]) * scale[c] + shift[c], then relu6, fused (the
/// face detector's layers).
template <int K>
void BM_dw_bn3_relu6(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto layer = s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.w.data(), sh.c, K, K), d.dw_params()) |
                     s::sub(s::per_channel(d.mean)) | s::mul(s::per_channel(d.scale)) |
                     s::add(s::per_channel(d.shift)) | s::relu6();
  run(state, d, layer, 3, nothing);
}

template <int K>
void BM_dw_bn_relu6_unfused(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto layer = s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.w.data(), sh.c, K, K), d.dw_params());
  run(state, d, layer, 2, [&] { bn_relu6_pass(d); });
}

/// Input normalisation fused as a prologue: (x - mean[c]) * inv_std[c], then the bare
/// layer (the input through a band buffer; see conv/depthwise.hpp).
template <int K>
void BM_dw_prologue(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto layer = s::prologue(s::sub(s::per_channel(d.mean)) | s::mul(s::per_channel(d.inv_std))) |
                     s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.w.data(), sh.c, K, K), d.dw_params());
  run(state, d, layer, 2, nothing);
}

/// Bare (Chain false) or bn_relu6 on state.range(0) workers of a thread_pool, timed by
/// the wall clock (UseRealTime): rates over elapsed time, not one thread's CPU time.
template <int K, bool Chain>
void BM_dw_threads(benchmark::State& state, Shape sh) {
  Data d(sh);
  const int threads = static_cast<int>(state.range(0));
  const auto bare = s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.w.data(), sh.c, K, K), d.dw_params());
  const s::thread_pool exec(threads);
  auto go = [&](const auto& layer) {
    std::vector<std::byte> ws(layer.workspace_size(d.in_shape, threads));
    const auto in = d.in_view();
    const auto out = d.out_view();
    for (auto _ : state) {
      layer(in, out, ws, exec);
      benchmark::ClobberMemory();
    }
  };
  if constexpr (Chain) go(bare | s::mul(s::per_channel(d.scale)) | s::add(s::per_channel(d.shift)) | s::relu6());
  else go(bare);
  state.counters["GFLOP/s"] = benchmark::Counter(d.flops(), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(d.bytes(Chain ? 2 : 0), benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
  state.SetLabel(std::to_string(threads) + " thread(s), wall clock");
}

/// Bare, bn_relu6 and prologue called in turn in every iteration (the order rotating),
/// each call timed by this thread's CPU clock: the medians and the ratios fused / bare
/// of the same run, under the same load (on a shared machine, separate benchmarks run
/// seconds apart see different loads).
template <int K>
void BM_dw_paired(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto bare = s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.w.data(), sh.c, K, K), d.dw_params());
  const auto bn = bare | s::mul(s::per_channel(d.scale)) | s::add(s::per_channel(d.shift)) | s::relu6();
  const auto pro = s::prologue(s::sub(s::per_channel(d.mean)) | s::mul(s::per_channel(d.inv_std))) | bare;
  std::vector<std::byte> ws(pro.workspace_size(d.in_shape));
  const auto in = d.in_view();
  const auto out = d.out_view();
  std::vector<double> t[3];
  auto call = [&](int which) {
    const double t0 = thread_seconds();
    if (which == 0) bare(in, out, ws);
    if (which == 1) bn(in, out, ws);
    if (which == 2) pro(in, out, ws);
    benchmark::ClobberMemory();
    t[which].push_back(thread_seconds() - t0);
  };
  int i = 0;
  for (auto _ : state) {
    for (int k = 0; k < 3; ++k) call((i + k) % 3);
    ++i;
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double tb = median(t[0]), tc = median(t[1]), tp = median(t[2]);
  state.counters["bare_us"] = tb * 1e6;
  state.counters["bn_relu6_us"] = tc * 1e6;
  state.counters["prologue_us"] = tp * 1e6;
  state.counters["bn_relu6/bare"] = tc / tb;
  state.counters["prologue/bare"] = tp / tb;
  state.SetLabel("medians of per-call CPU times; one iteration = the three calls");
}

template <int K>
void BM_generic_bare(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto layer = s::conv2d<K, K>(s::ohwi(d.w.data(), sh.c, K, K, 1), d.conv_params(), s::algo::im2col);
  run(state, d, layer, 0, nothing);
}

template <int K>
void BM_generic_bn_relu6(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto layer = s::conv2d<K, K>(s::ohwi(d.w.data(), sh.c, K, K, 1), d.conv_params(), s::algo::im2col) |
                     s::mul(s::per_channel(d.scale)) | s::add(s::per_channel(d.shift)) | s::relu6();
  run(state, d, layer, 2, nothing);
}

template <int K>
void register_shape(const std::string& name, Shape sh) {
  benchmark::RegisterBenchmark((name + "/bare").c_str(), BM_dw_bare<K>, sh)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/bn_relu6").c_str(), BM_dw_bn_relu6<K>, sh)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/bn3_relu6").c_str(), BM_dw_bn3_relu6<K>, sh)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/bn_relu6_unfused").c_str(), BM_dw_bn_relu6_unfused<K>, sh)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/prologue").c_str(), BM_dw_prologue<K>, sh)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/paired").c_str(), BM_dw_paired<K>, sh)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/bare_wall").c_str(), BM_dw_threads<K, false>, sh)
      ->ArgName("threads")
      ->Arg(1)
      ->Arg(2)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/bn_relu6_wall").c_str(), BM_dw_threads<K, true>, sh)
      ->ArgName("threads")
      ->Arg(1)
      ->Arg(2)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/generic_bare").c_str(), BM_generic_bare<K>, sh)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/generic_bn_relu6").c_str(), BM_generic_bn_relu6<K>, sh)
      ->Unit(benchmark::kMicrosecond);
}

/// Bare and the two fused chains only (the kernel's own speed across shapes).
template <int K>
void register_kernel_shape(const std::string& name, Shape sh) {
  benchmark::RegisterBenchmark((name + "/bare").c_str(), BM_dw_bare<K>, sh)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/bn_relu6").c_str(), BM_dw_bn_relu6<K>, sh)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/bn3_relu6").c_str(), BM_dw_bn3_relu6<K>, sh)->Unit(benchmark::kMicrosecond);
}

[[maybe_unused]] const bool registered = [] {
  register_shape<3>("dw3x3_112x112x32_s1", k3_112_32);
  register_shape<3>("dw3x3_112x112x64_s2", k3_112_64_s2);
  register_shape<3>("dw3x3_14x14x512_s1", k3_14_512);
  register_shape<5>("dw5x5_28x28x240_s1", k5_28_240);
  register_kernel_shape<3>("dw3x3_32x32x32_s1", k3_32_32);
  register_kernel_shape<3>("dw3x3_32x32x64_s1", k3_32_64);
  register_kernel_shape<3>("dw3x3_256x256x32_s1", k3_256_32);
  register_kernel_shape<3>("dw3x3_256x256x64_s2", k3_256_64_s2);
  register_kernel_shape<3>("dw3x3_128x128x128_s1", k3_128_128);
  register_kernel_shape<3>("dw3x3_64x64x256_s1", k3_64_256);
  register_kernel_shape<3>("dw3x3_7x7x1024_s1", k3_7_1024);
  register_kernel_shape<3>("dw3x3_14x14x512_s2", k3_14_512_s2);
  register_kernel_shape<3>("dw3x3_32x32x512_s1", k3_32_512);
  register_kernel_shape<3>("dw3x3_16x16x1024_s1", k3_16_1024);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
