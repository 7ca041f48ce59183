// Fused vs unfused, and what fusion buys, on the memory-bound layers.
//
// BM_unfused/<layer>: the layer bare, fused (scale, shift per channel + residual +
// ReLU in its epilogue), unfused (the bare layer, then one s::elementwise pass per op,
// in place on the output: the graph an engine without fusion runs) and unfused_1pass
// (the bare layer, then the whole chain as one element-wise pass: what an engine that
// fuses element-wise ops with each other, but not into the conv, runs), alternately in
// every iteration. Counters: per variant the usual ones (common.hpp) with GB/s over all
// the bytes the variant must move (input, weights, output, operands; the unfused ones
// re-read and re-write the output once per pass) and %bw against the DRAM triad;
// ratios unfused/fused, unfused_1pass/fused, fused/bare. Layers: the memory-bound
// depthwise 3x3 112x112x32 and 1x1 56x56x64->256, and for contrast the compute-bound
// 3x3 56x56x64->64 (algo::Automatic: Winograd) and 1x1 14x14x512->512; then the 1x1
// 256x256x32->64, whose tensors (16 MiB each) outgrow the last-level cache.
//
// BM_elementwise/32x32x128: the motivating material's case, element-wise ops alone on a
// (1, 32, 32, 128) tensor: y = x * a + b (a, b per channel) as two s::elementwise passes
// (mul, then add in place: 2 loops, 4 tensor accesses per element) against one pass of
// the chain (1 loop, 2 accesses: read x, write y), and the same with a residual tensor
// and ReLU (4 passes, 9 accesses, against 1 pass, 3 accesses); ratio unfused/fused.
// The chain-length sweeps are bench_chain_conv and bench_chain_depthwise.
//
// Run pinned, one binary at a time:
//   taskset -c 1 bench_fusion --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include "common.hpp"

namespace {

using namespace bench;

auto make_conv3(const LayerData& d) {
  return s::conv2d<3, 3>(s::ohwi(d.wt.data(), d.sh.cout, 3, 3, d.sh.cin), conv_params(d.sh.stride, d.sh.pad),
                         s::algo::automatic);
}
auto make_conv1(const LayerData& d) {
  return s::conv2d<1, 1>(s::ohwi(d.wt.data(), d.sh.cout, 1, 1, d.sh.cin), conv_params(d.sh.stride, d.sh.pad));
}
auto make_dw3(const LayerData& d) {
  return s::depthwise_conv2d<3, 3>(s::depthwise_ohwi(d.wt.data(), d.sh.cin, 3, 3),
                                   depthwise_params(d.sh.stride, d.sh.pad));
}

/// One s::elementwise pass per op of the chain, in place on the output.
template <class Layer>
std::function<void()> unfused(Layer bare, LayerData& d, std::vector<float>& o, bool one_pass) {
  auto run_bare = bind(std::move(bare), d, o);
  const s::TensorView<float> out = d.output(o);
  const s::TensorView<const float> in = s::nhwc<const float>(o.data(), out.shape);
  if (one_pass) {
    const auto pass = s::elementwise(s::mul(s::per_channel(d.scale)) | s::add(s::per_channel(d.shift)) |
                                     s::add(s::tensor(d.residual())) | s::relu());
    return [=] {
      run_bare();
      pass(in, out);
    };
  }
  const auto scale = s::elementwise(s::mul(s::per_channel(d.scale)));
  const auto shift = s::elementwise(s::add(s::per_channel(d.shift)));
  const auto residual = s::elementwise(s::add(s::tensor(d.residual())));
  const auto relu = s::elementwise(s::relu());
  return [=] {
    run_bare();
    scale(in, out);
    shift(in, out);
    residual(in, out);
    relu(in, out);
  };
}

template <class Make>
void BM_unfused(benchmark::State& state, LayerShape sh, Make make) {
  LayerData d(sh);
  std::vector<float> out3(sh.out_size()), out4(sh.out_size());
  const double out_b = 4.0 * static_cast<double>(sh.out_size()), chan_b = 4.0 * static_cast<double>(sh.out_c());
  // Unfused: each pass reads and writes the output (and reads its operand) once.
  const double unfused_b = sh.bytes() + 4 * 2 * out_b + 2 * chan_b + out_b;
  const double one_pass_b = sh.bytes() + 2 * out_b + 2 * chan_b + out_b;
  const bool mem_bound = true;
  run_paired(state,
             {{"bare", bind(make(d), d, d.out), {sh.flops(), sh.bytes()}, mem_bound},
              {"fused", bind(with_chain4(make(d), d), d, d.out2), {sh.flops(), sh.bytes(true)}, mem_bound},
              {"unfused", unfused(make(d), d, out3, false), {sh.flops(), unfused_b}, mem_bound},
              {"unfused_1pass", unfused(make(d), d, out4, true), {sh.flops(), one_pass_b}, mem_bound}},
             {{"unfused/fused", 2, 1}, {"unfused_1pass/fused", 3, 1}, {"fused/bare", 1, 0}});
  // The three chained variants compute the same values (up to rounding: none here, the
  // ops run in the same order on the same floats).
  const double e1 = max_rel_diff(out3.data(), d.out2.data(), out3.size());
  const double e2 = max_rel_diff(out4.data(), d.out2.data(), out4.size());
  if (e1 > 1e-6 || e2 > 1e-6) state.SkipWithError("unfused and fused outputs differ");
}

void BM_elementwise(benchmark::State& state, LayerShape sh) {
  LayerData d(sh);  // an element-wise pass on the layer's output shape
  std::vector<float> x = d.res, y1(sh.out_size()), y2(sh.out_size()), y3(sh.out_size()), y4(sh.out_size());
  const s::Shape4 shape{1, sh.oh(), sh.ow(), sh.out_c()};
  const auto in = s::nhwc<const float>(x.data(), shape);
  const auto view = [&](std::vector<float>& v) { return s::nhwc(v.data(), shape); };
  const auto cview = [&](std::vector<float>& v) { return s::nhwc<const float>(v.data(), shape); };
  const auto res = s::nhwc<const float>(d.out2.data(), shape);
  std::fill(d.out2.begin(), d.out2.end(), 0.5f);
  const auto mul = s::elementwise(s::mul(s::per_channel(d.scale)));
  const auto add = s::elementwise(s::add(s::per_channel(d.shift)));
  const auto add_res = s::elementwise(s::add(s::tensor(res)));
  const auto relu = s::elementwise(s::relu());
  const auto mul_add = s::elementwise(s::mul(s::per_channel(d.scale)) | s::add(s::per_channel(d.shift)));
  const auto chain4 = s::elementwise(s::mul(s::per_channel(d.scale)) | s::add(s::per_channel(d.shift)) |
                                     s::add(s::tensor(res)) | s::relu());
  const double n = 4.0 * static_cast<double>(sh.out_size()), c = 4.0 * static_cast<double>(sh.out_c());
  run_paired(state,
             {{"mul_add_unfused", [&] { mul(in, view(y1)); add(cview(y1), view(y1)); }, {0, 4 * n + 2 * c}, true},
              {"mul_add_fused", [&] { mul_add(in, view(y2)); }, {0, 2 * n + 2 * c}, true},
              {"chain4_unfused",
               [&] {
                 mul(in, view(y3));
                 add(cview(y3), view(y3));
                 add_res(cview(y3), view(y3));
                 relu(cview(y3), view(y3));
               },
               {0, 9 * n + 2 * c},
               true},
              {"chain4_fused", [&] { chain4(in, view(y4)); }, {0, 3 * n + 2 * c}, true}},
             {{"mul_add:unfused/fused", 0, 1}, {"chain4:unfused/fused", 2, 3}});
}

template <class Make>
void register_unfused(const LayerShape& sh, Make make) {
  benchmark::RegisterBenchmark(("BM_unfused/" + sh.name()).c_str(),
                               [=](benchmark::State& st) { BM_unfused(st, sh, make); })
      ->Unit(benchmark::kMicrosecond);
}

const bool registered = [] {
  const auto conv3 = [](const LayerData& d) { return make_conv3(d); };
  const auto conv1 = [](const LayerData& d) { return make_conv1(d); };
  const auto dw3 = [](const LayerData& d) { return make_dw3(d); };
  register_unfused(detail::dw("mobilenet_v1", 112, 32, 3, 1), dw3);
  register_unfused(detail::conv("motivating", 56, 64, 256, 1, 1), conv1);
  register_unfused(detail::conv_sym("resnet18", 56, 64, 64, 3, 1), conv3);
  register_unfused(detail::conv("mobilenet_v1", 14, 512, 512, 1, 1), conv1);
  // The face detector's first pointwise layer: a 16 MiB output and residual, which the
  // last-level cache does not hold beside the rest (the GEMM prefetches the residual).
  register_unfused(detail::conv("face", 256, 32, 64, 1, 1), conv1);
  benchmark::RegisterBenchmark("BM_elementwise/32x32x128", BM_elementwise, detail::conv("motivating", 32, 128, 128, 1, 1))
      ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
