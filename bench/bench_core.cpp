// Core kernels against the machine's single-core FMA peak: GEMM 1024^3 (linear),
// conv 3x3 56x56x64->64 pad 1 bare and with the 5-op chain (bias, scale, shift,
// residual, relu). Counters: GFLOP/s (useful FLOPs: 2*M*N*K) and % of peak, where peak
// is measured by BM_fma_peak in the same binary.
#include <benchmark/benchmark.h>

#include <random>
#include <sinter/sinter.hpp>
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

// Independent FMA chains, enough to cover latency x pipes on every ISA (4 cycles x 2
// pipes on current x86 and Cortex-A76 cores). Measured peak = the bar's denominator.
template <class Arch>
void BM_fma_peak(benchmark::State& state) {
  using B = xsimd::batch<float, Arch>;
  constexpr int chains = 16;
  B acc[chains];
  for (int i = 0; i < chains; ++i) acc[i] = B(0.001f * static_cast<float>(i));
  const B a(0.999999f), b(1e-7f);
  constexpr int iters = 1 << 12;
  for (auto _ : state) {
    for (int it = 0; it < iters; ++it) {
      s::detail::static_for<chains>([&](auto i) { acc[i] = xsimd::fma(acc[i], a, b); });
    }
    for (int i = 0; i < chains; ++i) benchmark::DoNotOptimize(acc[i]);
  }
  const double flops = 2.0 * B::size * chains * iters;
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(Arch::name());
}
BENCHMARK(BM_fma_peak<s::default_arch>)->MinTime(0.5);

void report(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_gemm_1024(benchmark::State& state) {
  const s::index_t n = state.range(0);
  auto x = random_vec(n * n, 1), w = random_vec(n * n, 2);
  std::vector<float> y(n * n);
  auto layer = s::linear(w.data(), n, n);
  std::vector<std::byte> ws(layer.workspace_size());
  for (auto _ : state) {
    layer(s::matrix<const float>(x.data(), n, n), s::matrix(y.data(), n, n), ws);
    benchmark::ClobberMemory();
  }
  report(state, 2.0 * n * n * n);
}
BENCHMARK(BM_gemm_1024)->Arg(1024)->Unit(benchmark::kMillisecond);

struct ConvCase {
  s::index_t h = 56, w = 56, cin = 64, cout = 64;
  std::vector<float> in, wt, bias, scale, shift, res, out;
  ConvCase() {
    in = random_vec(h * w * cin, 3);
    wt = random_vec(cout * 9 * cin, 4, -0.1f, 0.1f);
    bias = random_vec(cout, 5);
    scale = random_vec(cout, 6, 0.5f, 1.5f);
    shift = random_vec(cout, 7);
    res = random_vec(h * w * cout, 8);
    out.resize(h * w * cout);
  }
  double flops() const { return 2.0 * h * w * cout * 9 * cin; }
};

template <class Layer>
void run_conv(benchmark::State& state, ConvCase& c, const Layer& layer) {
  const auto in = s::nhwc<const float>(c.in.data(), 1, c.h, c.w, c.cin);
  const auto out = s::nhwc(c.out.data(), 1, c.h, c.w, c.cout);
  std::vector<std::byte> ws(layer.workspace_size(in.shape));
  for (auto _ : state) {
    layer(in, out, ws);
    benchmark::ClobberMemory();
  }
  report(state, c.flops());
}

void BM_conv3x3_56x56x64_bare(benchmark::State& state) {
  ConvCase c;
  auto layer = s::conv2d<3, 3>(s::ohwi(c.wt.data(), c.cout, 3, 3, c.cin), {.pad = 1}, s::algo::im2col);
  run_conv(state, c, layer);
}
BENCHMARK(BM_conv3x3_56x56x64_bare)->Unit(benchmark::kMicrosecond);

void BM_conv3x3_56x56x64_chain5(benchmark::State& state) {
  ConvCase c;
  auto layer = s::conv2d<3, 3>(s::ohwi(c.wt.data(), c.cout, 3, 3, c.cin), {.pad = 1}, s::algo::im2col) |
               s::add(s::per_channel(c.bias)) | s::mul(s::per_channel(c.scale)) | s::add(s::per_channel(c.shift)) |
               s::add(s::tensor(s::nhwc<const float>(c.res.data(), 1, c.h, c.w, c.cout))) | s::relu();
  run_conv(state, c, layer);
}
BENCHMARK(BM_conv3x3_56x56x64_chain5)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
