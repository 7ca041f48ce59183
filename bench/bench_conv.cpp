// Every kernel and algorithm on the shape sets, against the machine's limits.
//
// One benchmark per layer, named <set>/<layer>, e.g. resnet18/conv3x3_s1_56x56x64-64
// (sets: resnet18, mobilenet_v1, face, motivating, ksweep; see common.hpp). Each runs
// its variants alternately in every iteration (run_paired), so their ratios are
// measured under the same machine load:
//   bare      the layer alone, algo::Automatic (the "best algorithm": Winograd
//             F(2x2,3x3) or im2col, the label says which), or the depthwise / linear
//             kernel
//   fused     the same with the chain scale, shift (per channel) + residual (tensor) +
//             ReLU fused in its epilogue
//   im2col, winograd   (3x3 stride-1 convs) the two algorithms bare, forced
// Counters per variant (<variant>:<counter>): us (per call), GFLOP/s (direct-conv FLOPs:
// Winograd's are effective), %peak, GB/s (input + weights + output, + operands for
// fused), %bw (depthwise and small-M linear: memory-bound). Ratios:
//   fused/bare           the price of the fused chain
//   im2col/winograd      Winograd's speedup
// Data between iterations stays in the caches where it fits (as in a network whose
// layers' activations fit in L2/L3); %bw can then exceed 100%.
//
// Run pinned, one binary at a time, e.g.
//   taskset -c 1 bench_conv --benchmark_filter='resnet18/' --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
#include "common.hpp"

namespace {

using namespace bench;

template <index_t K, class Algo>
auto make_conv(const LayerData& d, Algo algo) {
  return s::conv2d<K, K>(s::ohwi(d.wt.data(), d.sh.cout, K, K, d.sh.cin), conv_params(d.sh.stride, d.sh.pad), algo);
}

template <index_t K>
void BM_conv(benchmark::State& state, LayerShape sh) {
  LayerData d(sh);
  const Work bare_w{sh.flops(), sh.bytes()}, fused_w{sh.flops(), sh.bytes(true)};
  std::vector<Variant> vs{
      {"bare", bind(make_conv<K>(d, s::algo::automatic), d, d.out), bare_w},
      {"fused", bind(with_chain4(make_conv<K>(d, s::algo::automatic), d), d, d.out2), fused_w},
  };
  std::vector<Ratio> ratios{{"fused/bare", 1, 0}};
  std::string label = "auto=im2col";
  if constexpr (K == 3) {
    if (sh.winograd_ok()) {
      vs.push_back({"im2col", bind(make_conv<K>(d, s::algo::im2col), d, d.out), bare_w});
      vs.push_back({"winograd", bind(make_conv<K>(d, s::algo::winograd2x3), d, d.out), bare_w});
      ratios.push_back({"im2col/winograd", 2, 3});
    }
    if (s::conv::winograd2x3_preferred(K, K, sh.cin, sh.cout, conv_params(sh.stride, sh.pad)))
      label = "auto=winograd2x3";
  }
  run_paired(state, vs, ratios);
  state.SetLabel(label);
}

template <index_t K>
void BM_depthwise(benchmark::State& state, LayerShape sh) {
  LayerData d(sh);
  const auto make = [&] {
    return s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.wt.data(), sh.cin, K, K), depthwise_params(sh.stride, sh.pad));
  };
  run_paired(state,
             {{"bare", bind(make(), d, d.out), {sh.flops(), sh.bytes()}, true},
              {"fused", bind(with_chain4(make(), d), d, d.out2), {sh.flops(), sh.bytes(true)}, true}},
             {{"fused/bare", 1, 0}});
  state.SetLabel("depthwise direct");
}

template <class Layer>
std::function<void()> bind_linear(Layer layer, LayerData& d, std::vector<float>& o) {
  struct B {
    Layer layer;
    s::MatrixView<const float> x;
    s::MatrixView<float> y;
    std::vector<std::byte> ws;
  };
  auto b = std::make_shared<B>(B{std::move(layer), d.x(), d.y(o), {}});
  b->ws.resize(b->layer.workspace_size());
  return [b] { b->layer(b->x, b->y, s::workspace(b->ws.data(), b->ws.size())); };
}

void BM_linear(benchmark::State& state, LayerShape sh) {
  LayerData d(sh);
  const auto make = [&] { return s::linear(d.wt.data(), sh.cout, sh.cin); };
  const bool mem_bound = sh.h <= 16;  // weights read once per few rows: bandwidth-bound
  run_paired(state,
             {{"bare", bind_linear(make(), d, d.out), {sh.flops(), sh.bytes()}, mem_bound},
              {"fused", bind_linear(with_chain4_matrix(make(), d), d, d.out2), {sh.flops(), sh.bytes(true)}, mem_bound}},
             {{"fused/bare", 1, 0}});
  state.SetLabel("gemm");
}

void register_layer(const LayerShape& sh) {
  const std::string name = sh.set + "/" + sh.name();
  benchmark::internal::Benchmark* b = nullptr;
  switch (sh.kind) {
    case LayerShape::Linear:
      b = benchmark::RegisterBenchmark(name.c_str(), BM_linear, sh);
      break;
    case LayerShape::Depthwise:
      if (sh.k == 3) b = benchmark::RegisterBenchmark(name.c_str(), BM_depthwise<3>, sh);
      if (sh.k == 5) b = benchmark::RegisterBenchmark(name.c_str(), BM_depthwise<5>, sh);
      break;
    case LayerShape::Conv:
      if (sh.k == 1) b = benchmark::RegisterBenchmark(name.c_str(), BM_conv<1>, sh);
      if (sh.k == 3) b = benchmark::RegisterBenchmark(name.c_str(), BM_conv<3>, sh);
      if (sh.k == 5) b = benchmark::RegisterBenchmark(name.c_str(), BM_conv<5>, sh);
      if (sh.k == 7) b = benchmark::RegisterBenchmark(name.c_str(), BM_conv<7>, sh);
      break;
  }
  if (b) b->Unit(benchmark::kMicrosecond);
}

const bool registered = [] {
  for (const auto& set : {resnet18(), mobilenet_v1(), face(), motivating(), ksweep()})
    for (const LayerShape& sh : set) register_layer(sh);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
