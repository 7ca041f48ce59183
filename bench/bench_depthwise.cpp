// Depthwise conv2d (MobileNet shapes) against the machine's memory bandwidth, and
// against the same layers through the generic conv2d path (groups = C, im2col + GEMM).
//
// Shapes (NHWC, batch 1): 3x3 112x112x32 stride 1, 3x3 112x112x64 stride 2 (TF SAME),
// 3x3 14x14x512 stride 1, 5x5 28x28x240 stride 1; each bare, with the folded
// batch-norm (mul + add per channel) + relu6 chain fused, and with the same chain run
// as a separate pass after the bare layer (unfused), plus the generic path bare and
// fused.
//
// Counters:
//   GFLOP/s  2 * KH * KW per output element
//   GB/s     input read once + output written once + weights (+ per-channel operands)
//   %triad   GB/s over the STREAM triad bandwidth measured in this binary on arrays
//            far larger than the caches (a layer whose data stays in L2/L3 between
//            iterations can exceed 100%)
// BM_triad reports that bandwidth (and the same triad on cache-sized arrays).
//
// Run one benchmark at a time, pinned:
//   taskset -c 1 ./bench_depthwise --benchmark_filter='dw3x3_112x112x32_s1/bare$'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
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

/// Triad bandwidth in GB/s on arrays of `n` floats: median of `reps` passes.
double measure_triad(std::size_t n, int reps) {
  std::vector<float> a(n, 0.f), b(n, 1.f), c(n, 2.f);
  triad(a.data(), b.data(), c.data(), 0.5f, n);
  std::vector<double> gbs;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    triad(a.data(), b.data(), c.data(), 0.5f, n);
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(a.data());
    gbs.push_back(12.0 * static_cast<double>(n) / std::chrono::duration<double>(t1 - t0).count() * 1e-9);
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
// Depthwise layers.
// ---------------------------------------------------------------------------------
struct Shape {
  s::index_t h, w, c, k, stride;
};
constexpr Shape k3_112_32{112, 112, 32, 3, 1};
constexpr Shape k3_112_64_s2{112, 112, 64, 3, 2};
constexpr Shape k3_14_512{14, 14, 512, 3, 1};
constexpr Shape k5_28_240{28, 28, 240, 5, 1};

struct Data {
  Shape sh;
  s::Padding pad;
  s::Shape4 in_shape, out_shape;
  std::vector<float> in, w, scale, shift, out;
  explicit Data(Shape shape) : sh(shape) {
    pad = s::same_padding(sh.h, sh.w, sh.k, sh.k, sh.stride);
    in_shape = {1, sh.h, sh.w, sh.c};
    out_shape = {1, (sh.h + sh.stride - 1) / sh.stride, (sh.w + sh.stride - 1) / sh.stride, sh.c};
    in = random_vec(static_cast<std::size_t>(sh.h * sh.w * sh.c), 1);
    w = random_vec(static_cast<std::size_t>(sh.k * sh.k * sh.c), 2, -0.3f, 0.3f);  // [C, K, K, 1]
    scale = random_vec(static_cast<std::size_t>(sh.c), 3, 0.5f, 1.5f);
    shift = random_vec(static_cast<std::size_t>(sh.c), 4);
    out.resize(static_cast<std::size_t>(out_shape.h * out_shape.w * sh.c));
  }
  s::TensorView<const float> in_view() const { return s::nhwc<const float>(in.data(), in_shape); }
  s::TensorView<float> out_view() { return s::nhwc(out.data(), out_shape); }
  s::DepthwiseParams dw_params() const { return {.stride = sh.stride, .pad = pad}; }
  s::Conv2DParams conv_params() const { return {.stride = sh.stride, .pad = pad, .groups = sh.c}; }
  double flops() const { return 2.0 * static_cast<double>(sh.k * sh.k * out_shape.h * out_shape.w * sh.c); }
  double bytes(bool chain) const {
    const double elems = static_cast<double>(in.size() + out.size() + w.size()) + (chain ? 2.0 * sh.c : 0.0);
    return 4.0 * elems;
  }
};

template <class Layer, class After>
void run(benchmark::State& state, Data& d, const Layer& layer, bool chain, After&& after) {
  const double bw = triad_gbs();
  std::vector<std::byte> ws(layer.workspace_size(d.in_shape));
  const auto in = d.in_view();
  const auto out = d.out_view();
  for (auto _ : state) {
    layer(in, out, ws);
    after();
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(d.flops(), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] =
      benchmark::Counter(d.bytes(chain), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  // %triad = GB/s / triad GB/s * 100, computed from the same rate.
  state.counters["%triad"] = benchmark::Counter(d.bytes(chain) * 1e-9 / bw * 100.0,
                                                benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("triad " + std::to_string(static_cast<int>(bw + 0.5)) + " GB/s");
}

constexpr auto nothing = [] {};

/// The folded batch-norm + relu6 as its own pass over the output (what an engine
/// without fusion runs after the conv).
void bn_relu6_pass(Data& d) {
  const s::index_t c = d.sh.c;
  float* o = d.out.data();
  const float* sc = d.scale.data();
  const float* sf = d.shift.data();
  const std::size_t pixels = d.out.size() / static_cast<std::size_t>(c);
  for (std::size_t p = 0; p < pixels; ++p, o += c)
    for (s::index_t i = 0; i < c; ++i) o[i] = std::min(std::max(o[i] * sc[i] + sf[i], 0.f), 6.f);
}

template <int K>
void BM_dw_bare(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto layer = s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.w.data(), sh.c, K, K), d.dw_params());
  run(state, d, layer, false, nothing);
}

template <int K>
void BM_dw_bn_relu6(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto layer = s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.w.data(), sh.c, K, K), d.dw_params()) |
                     s::mul(s::per_channel(d.scale)) | s::add(s::per_channel(d.shift)) | s::relu6();
  run(state, d, layer, true, nothing);
}

template <int K>
void BM_dw_bn_relu6_unfused(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto layer = s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.w.data(), sh.c, K, K), d.dw_params());
  run(state, d, layer, true, [&] { bn_relu6_pass(d); });
}

template <int K>
void BM_generic_bare(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto layer = s::conv2d<K, K>(s::ohwi(d.w.data(), sh.c, K, K, 1), d.conv_params(), s::algo::im2col);
  run(state, d, layer, false, nothing);
}

template <int K>
void BM_generic_bn_relu6(benchmark::State& state, Shape sh) {
  Data d(sh);
  const auto layer = s::conv2d<K, K>(s::ohwi(d.w.data(), sh.c, K, K, 1), d.conv_params(), s::algo::im2col) |
                     s::mul(s::per_channel(d.scale)) | s::add(s::per_channel(d.shift)) | s::relu6();
  run(state, d, layer, true, nothing);
}

template <int K>
void register_shape(const std::string& name, Shape sh) {
  benchmark::RegisterBenchmark((name + "/bare").c_str(), BM_dw_bare<K>, sh)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/bn_relu6").c_str(), BM_dw_bn_relu6<K>, sh)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/bn_relu6_unfused").c_str(), BM_dw_bn_relu6_unfused<K>, sh)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/generic_bare").c_str(), BM_generic_bare<K>, sh)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/generic_bn_relu6").c_str(), BM_generic_bn_relu6<K>, sh)
      ->Unit(benchmark::kMicrosecond);
}

[[maybe_unused]] const bool registered = [] {
  register_shape<3>("dw3x3_112x112x32_s1", k3_112_32);
  register_shape<3>("dw3x3_112x112x64_s2", k3_112_64_s2);
  register_shape<3>("dw3x3_14x14x512_s1", k3_14_512);
  register_shape<5>("dw5x5_28x28x240_s1", k5_28_240);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
