// Prologue fusion (element-wise ops on a conv's input, run where the kernel reads it)
// against the same layer without the prologue, on the im2col/GEMM path.
//
// Shapes (NHWC, batch 1, single thread):
//   pointwise 1x1 56x56x128->128, 14x14x512->512, 56x56x64->256, prologue
//             sub(per_channel(mean)) | mul(per_channel(inv_std)) (input normalisation);
//   stem      the face detector's first layer: 512x512x3 -> 32, 3x3 stride 2, TF SAME
//             padding, epilogue add(per_channel(bias)) | relu6, with the detector's
//             prologue div(constant<127.5>) | sub(constant<1>) (examples/face/detector.hpp)
//             and with a per-channel normalisation sub(per_channel) | mul(per_channel).
//
// Benchmarks:
//   BM_fma_peak         the single-core FMA peak (independent FMA chains, as bench_core);
//                       the %peak counters divide by this, measured once per process
//   BM_bare/<shape>     the layer without prologue alone: GFLOP/s and %peak
//   BM_pair/<shape>     the bare layer and the fused layer alternately in each iteration
//                       (same machine load): bare_GFLOP/s, fused_GFLOP/s, bare_%peak,
//                       fused_%peak and fused/bare = t(fused) / t(bare) (the bar: <= 1.05)
//   BM_unfused/<shape>  the prologue as its own pass into a temporary tensor, then the bare
//                       layer, against the fused layer: unfused/fused = t(unfused) / t(fused)
// All times are the calling thread's CPU time (Google Benchmark's rates use it too).
// GFLOP/s counts the convolution's 2 * OH * OW * C_out * KH * KW * C_in flops only.
//
// Run one at a time, pinned:
//   taskset -c 1 ./bench_prologue --benchmark_filter='BM_pair/stem' --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <random>
#include <sinter/sinter.hpp>
#include <string>
#include <vector>

namespace s = sinter;

namespace {

double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// ---------------------------------------------------------------------------------
// FMA peak: 16 independent FMA chains cover latency x pipes on current x86 and ARM cores.
// ---------------------------------------------------------------------------------
constexpr int kChains = 16, kFmaIters = 1 << 12;
constexpr double kFmaFlops = 2.0 * s::vec<>::size * kChains * kFmaIters;

[[gnu::noinline]] void fma_chains(s::vec<>* acc) {
  const s::vec<> a(0.999999f), b(1e-7f);
  for (int it = 0; it < kFmaIters; ++it)
    s::detail::static_for<kChains>([&](auto i) { acc[i] = xsimd::fma(acc[i], a, b); });
}

/// The peak in GFLOP/s (median of 9 timings), measured once per process.
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
BENCHMARK(BM_fma_peak)->MinTime(0.5);

// ---------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------
struct Case {
  std::string name;
  s::index_t h, w, cin, cout, k, stride;
  bool same;      // TF SAME padding (else none)
  bool detector;  // the detector's stem prologue (else per-channel normalisation)
};

const Case cases[] = {
    {"pointwise_56x56x128->128", 56, 56, 128, 128, 1, 1, false, false},
    {"pointwise_14x14x512->512", 14, 14, 512, 512, 1, 1, false, false},
    {"pointwise_56x56x64->256", 56, 56, 64, 256, 1, 1, false, false},
    {"stem_512x512x3->32_detector", 512, 512, 3, 32, 3, 2, true, true},
    {"stem_512x512x3->32_per_channel", 512, 512, 3, 32, 3, 2, true, false},
};

struct Data {
  Case c;
  s::Conv2DParams p;
  s::Shape4 in_shape, out_shape;
  std::vector<float> in, tmp, wt, mean, inv_std, bias, out;

  explicit Data(const Case& cs) : c(cs) {
    std::mt19937 g(7);
    std::uniform_real_distribution<float> pix(0.f, 255.f);
    std::normal_distribution<float> normal(0.f, 1.f);
    p.stride = cs.stride;
    if (cs.same) p.pad = s::same_padding(cs.h, cs.w, cs.k, cs.k, cs.stride);
    in_shape = {1, cs.h, cs.w, cs.cin};
    const s::index_t oh = (cs.h + p.pad.top + p.pad.bottom - cs.k) / cs.stride + 1;
    const s::index_t ow = (cs.w + p.pad.left + p.pad.right - cs.k) / cs.stride + 1;
    out_shape = {1, oh, ow, cs.cout};
    in.resize(static_cast<std::size_t>(cs.h * cs.w * cs.cin));
    for (auto& x : in) x = pix(g);
    tmp.resize(in.size());
    const float he = std::sqrt(2.f / static_cast<float>(cs.k * cs.k * cs.cin));
    wt.resize(static_cast<std::size_t>(cs.cout * cs.k * cs.k * cs.cin));
    for (auto& x : wt) x = he * normal(g);
    for (s::index_t i = 0; i < cs.cin; ++i) {
      mean.push_back(128.f + 10.f * normal(g));
      inv_std.push_back(1.f / (60.f + 5.f * std::abs(normal(g))));
    }
    for (s::index_t i = 0; i < cs.cout; ++i) bias.push_back(0.1f * normal(g));
    out.resize(static_cast<std::size_t>(oh * ow * cs.cout));
  }
  double flops() const {
    return 2.0 * static_cast<double>(out_shape.h * out_shape.w * c.cout) * static_cast<double>(c.k * c.k * c.cin);
  }
  s::TensorView<const float> input() const { return s::nhwc<const float>(in.data(), in_shape); }
  s::TensorView<float> output() { return s::nhwc(out.data(), out_shape); }

  auto conv() const {
    return s::conv2d(s::ohwi(wt.data(), c.cout, c.k, c.k, c.cin), p, s::algo::im2col) |
           s::add(s::per_channel(bias)) | s::relu6();
  }
  auto normalise() const { return s::sub(s::per_channel(mean)) | s::mul(s::per_channel(inv_std)); }
  auto detector_norm() const { return s::div(s::constant<127.5f>) | s::sub(s::constant<1.f>); }

  /// The prologue as its own pass over the input (plain loop, auto-vectorised), into tmp.
  void prologue_pass() {
    const std::size_t n = in.size(), cin = static_cast<std::size_t>(c.cin);
    if (c.detector) {
      for (std::size_t i = 0; i < n; ++i) tmp[i] = in[i] / 127.5f - 1.f;
    } else {
      for (std::size_t i = 0; i < n; i += cin)
        for (std::size_t ch = 0; ch < cin; ++ch) tmp[i + ch] = (in[i + ch] - mean[ch]) * inv_std[ch];
    }
  }
};

void set_peak(benchmark::State& state, const char* name, double gflops) {
  state.counters[name] = gflops / peak_gflops() * 100.0;
}

void BM_bare(benchmark::State& state, const Case& cs) {
  Data d(cs);
  const auto layer = d.conv();
  std::vector<std::byte> ws(layer.workspace_size(d.in_shape));
  const double t0 = thread_seconds();
  for (auto _ : state) {
    layer(d.input(), d.output(), ws);
    benchmark::ClobberMemory();
  }
  const double per_iter = (thread_seconds() - t0) / static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(d.flops(), benchmark::Counter::kIsIterationInvariantRate);
  set_peak(state, "%peak", d.flops() / per_iter * 1e-9);
  state.SetLabel("peak " + std::to_string(static_cast<int>(peak_gflops() + 0.5)) + " GFLOP/s");
}

/// Runs `a` then `b` in every iteration; reports both rates, %peak and t(b) / t(a).
template <class A, class B>
void run_pair(benchmark::State& state, Data& d, A&& a, B&& b, const char* na, const char* nb, const char* ratio) {
  peak_gflops();
  double ta = 0, tb = 0;
  std::int64_t n = 0;
  for (auto _ : state) {
    const double t0 = thread_seconds();
    a();
    benchmark::ClobberMemory();
    const double t1 = thread_seconds();
    b();
    benchmark::ClobberMemory();
    const double t2 = thread_seconds();
    ta += t1 - t0;
    tb += t2 - t1;
    ++n;
  }
  if (n == 0) return;
  const double ga = d.flops() * static_cast<double>(n) / ta * 1e-9, gb = d.flops() * static_cast<double>(n) / tb * 1e-9;
  state.counters[std::string(na) + "_GFLOP/s"] = ga;
  state.counters[std::string(nb) + "_GFLOP/s"] = gb;
  set_peak(state, (std::string(na) + "_%peak").c_str(), ga);
  set_peak(state, (std::string(nb) + "_%peak").c_str(), gb);
  state.counters[ratio] = tb / ta;
}

template <class Layer>
std::vector<std::byte> workspace_for(const Layer& l, const Data& d) {
  return std::vector<std::byte>(l.workspace_size(d.in_shape));
}

void BM_pair(benchmark::State& state, const Case& cs) {
  Data d(cs);
  const auto bare = d.conv();
  const auto go = [&](const auto& fused) {
    auto wb = workspace_for(bare, d), wf = workspace_for(fused, d);
    run_pair(
        state, d, [&] { bare(d.input(), d.output(), wb); }, [&] { fused(d.input(), d.output(), wf); }, "bare", "fused",
        "fused/bare");
  };
  if (cs.detector) go(s::prologue(d.detector_norm()) | d.conv());
  else go(s::prologue(d.normalise()) | d.conv());
}

void BM_unfused(benchmark::State& state, const Case& cs) {
  Data d(cs);
  const auto bare = d.conv();
  const auto go = [&](const auto& fused) {
    auto wb = workspace_for(bare, d), wf = workspace_for(fused, d);
    const auto tmp_in = s::nhwc<const float>(d.tmp.data(), d.in_shape);
    run_pair(
        state, d, [&] { fused(d.input(), d.output(), wf); },
        [&] {
          d.prologue_pass();
          bare(tmp_in, d.output(), wb);
        },
        "fused", "unfused", "unfused/fused");
  };
  if (cs.detector) go(s::prologue(d.detector_norm()) | d.conv());
  else go(s::prologue(d.normalise()) | d.conv());
}

const bool registered = [] {
  for (const Case& cs : cases) {
    benchmark::RegisterBenchmark(("BM_bare/" + cs.name).c_str(), BM_bare, cs)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("BM_pair/" + cs.name).c_str(), BM_pair, cs)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("BM_unfused/" + cs.name).c_str(), BM_unfused, cs)->Unit(benchmark::kMicrosecond);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
