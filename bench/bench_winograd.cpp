// Winograd F(2x2,3x3) against implicit im2col on ResNet-18's 3x3 stride-1 convolutions
// (pad 1, batch 1, NHWC): 56x56x64->64, 28x28x128->128, 14x14x256->256, 7x7x512->512,
// and 32x32x128->128, bare and with the 5-op chain (bias, scale, shift, residual, relu).
//
// Counters:
//   GFLOP/s   effective: the direct convolution's 2*N*OH*OW*C_out*C_in*9 flops per call,
//             whatever the algorithm computes (Winograd does 2.25x fewer in its GEMMs)
//   BM_pair_* runs both algorithms alternately in every iteration and reports each one's
//             effective GFLOP/s and winograd_speedup = t(im2col) / t(winograd), so the
//             ratio is measured under the same machine load (the machine is shared);
//             times are the thread's CPU time, like Google Benchmark's own rates.
//   BM_chain_cost_* likewise: chain_cost = t(winograd + chain) / t(winograd bare) - 1.
//
// Run one at a time, pinned:
//   taskset -c 1 bench_winograd --benchmark_filter=56x56 --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <time.h>

#include <cmath>
#include <random>
#include <sinter/sinter.hpp>
#include <vector>

namespace s = sinter;

namespace {

struct Shape {
  s::index_t h, w, cin, cout;
};

// Realistic ranges: activations after a ReLU (uniform [0, 1)), He-initialised weights,
// small per-channel bias / shift, folded batch-norm scale near 1, a residual like the input.
struct Data {
  Shape sh;
  std::vector<float> in, wt, bias, scale, shift, res, out;
  explicit Data(Shape shape) : sh(shape) {
    std::mt19937 g(42);
    std::uniform_real_distribution<float> unit(0.f, 1.f);
    std::normal_distribution<float> normal(0.f, 1.f);
    const float he = std::sqrt(2.f / (9.f * static_cast<float>(sh.cin)));
    in.resize(sh.h * sh.w * sh.cin);
    for (auto& x : in) x = unit(g);
    wt.resize(sh.cout * 9 * sh.cin);
    for (auto& x : wt) x = he * normal(g);
    bias.resize(sh.cout);
    scale.resize(sh.cout);
    shift.resize(sh.cout);
    for (auto& x : bias) x = 0.1f * normal(g);
    for (auto& x : scale) x = 1.f + 0.1f * normal(g);
    for (auto& x : shift) x = 0.1f * normal(g);
    res.resize(sh.h * sh.w * sh.cout);
    for (auto& x : res) x = unit(g);
    out.resize(sh.h * sh.w * sh.cout);
  }
  double flops() const { return 2.0 * sh.h * sh.w * sh.cout * 9.0 * sh.cin; }
  s::TensorView<const float> input() const { return s::nhwc<const float>(in.data(), 1, sh.h, sh.w, sh.cin); }
  s::TensorView<float> output() { return s::nhwc(out.data(), 1, sh.h, sh.w, sh.cout); }

  template <class Algo>
  auto bare(Algo algo) const {
    return s::conv2d<3, 3>(s::ohwi(wt.data(), sh.cout, 3, 3, sh.cin), {.pad = 1}, algo);
  }
  template <class Algo>
  auto chain(Algo algo) const {
    return bare(algo) | s::add(s::per_channel(bias)) | s::mul(s::per_channel(scale)) |
           s::add(s::per_channel(shift)) | s::add(s::tensor(s::nhwc<const float>(res.data(), 1, sh.h, sh.w, sh.cout))) |
           s::relu();
  }
};

const Shape shapes[] = {{56, 56, 64, 64}, {28, 28, 128, 128}, {14, 14, 256, 256}, {7, 7, 512, 512}, {32, 32, 128, 128}};

void set_gflops(benchmark::State& state, double flops, const char* name = "GFLOP/s") {
  state.counters[name] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

// One layer, timed alone.
template <bool Chain, class Algo>
void BM_conv(benchmark::State& state, Shape sh, Algo algo) {
  Data d(sh);
  const auto run = [&](const auto& layer) {
    std::vector<std::byte> ws(layer.workspace_size(d.input().shape));
    for (auto _ : state) {
      layer(d.input(), d.output(), ws);
      benchmark::ClobberMemory();
    }
  };
  if constexpr (Chain) run(d.chain(algo));
  else run(d.bare(algo));
  set_gflops(state, d.flops());
}

// CPU time of the calling thread: on a shared machine, time spent descheduled does not
// count (Google Benchmark's own rates use CPU time too).
double thread_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Two layers, alternately, in each iteration; reports both rates (CPU time) and their
// ratio.
template <class LayerA, class LayerB>
void run_pair(benchmark::State& state, Data& d, const LayerA& a, const LayerB& b, const char* name_a,
              const char* name_b, const char* ratio_name, bool ratio_minus_one) {
  std::vector<std::byte> ws(std::max(a.workspace_size(d.input().shape), b.workspace_size(d.input().shape)));
  double ta = 0, tb = 0;
  std::int64_t n = 0;
  for (auto _ : state) {
    const double t0 = thread_seconds();
    a(d.input(), d.output(), ws);
    benchmark::ClobberMemory();
    const double t1 = thread_seconds();
    b(d.input(), d.output(), ws);
    benchmark::ClobberMemory();
    const double t2 = thread_seconds();
    ta += t1 - t0;
    tb += t2 - t1;
    ++n;
  }
  if (n == 0) return;
  state.counters[name_a] = d.flops() * static_cast<double>(n) / ta * 1e-9;
  state.counters[name_b] = d.flops() * static_cast<double>(n) / tb * 1e-9;
  state.counters[ratio_name] = ratio_minus_one ? tb / ta - 1.0 : ta / tb;
}

template <bool Chain>
void BM_pair(benchmark::State& state, Shape sh) {
  Data d(sh);
  if constexpr (Chain)
    run_pair(state, d, d.chain(s::algo::im2col), d.chain(s::algo::winograd2x3), "im2col_GFLOP/s",
             "winograd_GFLOP/s", "winograd_speedup", false);
  else
    run_pair(state, d, d.bare(s::algo::im2col), d.bare(s::algo::winograd2x3), "im2col_GFLOP/s", "winograd_GFLOP/s",
             "winograd_speedup", false);
}

void BM_chain_cost(benchmark::State& state, Shape sh) {
  Data d(sh);
  run_pair(state, d, d.bare(s::algo::winograd2x3), d.chain(s::algo::winograd2x3), "bare_GFLOP/s", "chain5_GFLOP/s",
           "chain_cost", true);
}

std::string shape_name(const Shape& sh) {
  return std::to_string(sh.h) + "x" + std::to_string(sh.w) + "x" + std::to_string(sh.cin) + "->" +
         std::to_string(sh.cout);
}

const bool registered = [] {
  for (const Shape& sh : shapes) {
    const std::string n = shape_name(sh);
    benchmark::RegisterBenchmark(("BM_im2col_bare/" + n).c_str(), BM_conv<false, s::algo::Im2col>, sh,
                                 s::algo::im2col)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("BM_winograd_bare/" + n).c_str(), BM_conv<false, s::algo::Winograd2x3>, sh,
                                 s::algo::winograd2x3)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("BM_im2col_chain5/" + n).c_str(), BM_conv<true, s::algo::Im2col>, sh,
                                 s::algo::im2col)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("BM_winograd_chain5/" + n).c_str(), BM_conv<true, s::algo::Winograd2x3>, sh,
                                 s::algo::winograd2x3)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("BM_pair_bare/" + n).c_str(), BM_pair<false>, sh)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("BM_pair_chain5/" + n).c_str(), BM_pair<true>, sh)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("BM_chain_cost/" + n).c_str(), BM_chain_cost, sh)->Unit(benchmark::kMicrosecond);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
