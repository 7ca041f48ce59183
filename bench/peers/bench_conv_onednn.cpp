// oneDNN's convolution beside sinter's on the ResNet-18, MobileNet-v1 and motivating
// shape sets, bare and with the chain scale, shift (per channel) + residual + ReLU, in
// the same binary. Built by bench/CMakeLists.txt when oneDNN is found (Debian:
// libdnnl-dev).
//
// oneDNN: convolution_forward, forward_inference, algorithm::convolution_auto (it picks
// direct or Winograd; the label names the implementation), NHWC source and
// destination as sinter's, weights reordered once to the layout it asks for; depthwise
// layers as groups = C. The chain as its post-ops: binary_mul and binary_add with
// [1, C, 1, 1] operands, sum (the residual: dst holds it before the call and is
// accumulated into, as a network that lets the conv overwrite its skip tensor runs it),
// eltwise_relu. Both libraries get the same input, weights and operands; before timing,
// each pair of outputs is checked equal within a relative tolerance (max |ours - theirs|
// / max |theirs|; counters err_bare, err_fused).
//
// Each benchmark runs four variants alternately in every iteration (run_paired):
// sinter_bare, onednn_bare, sinter_fused, onednn_fused; counters per variant (us,
// GFLOP/s, %peak, GB/s) and the ratios
//   sinter/onednn:bare, sinter/onednn:fused   our time over theirs (< 1: we are faster)
//   sinter:fused/bare, onednn:fused/bare      each library's price of the chain
//
// Run single-threaded and pinned:
//   OMP_NUM_THREADS=1 taskset -c 1 bench_conv_onednn --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

#include "common.hpp"

namespace {

using namespace bench;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

constexpr double kTolerance = 2e-4;

/// A oneDNN convolution (or depthwise convolution) with the chain as post-ops or bare.
struct OneDnnConv {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::convolution_forward conv;
  std::unordered_map<int, memory> args;
  std::string impl;

  OneDnnConv(LayerData& d, std::vector<float>& out, bool chain) {
    const LayerShape& sh = d.sh;
    const bool dw = sh.kind == LayerShape::Depthwise;
    const memory::dim c = sh.cin, oc = sh.out_c();
    const memory::desc src_md({1, c, sh.h, sh.w}, dt::f32, tag::nhwc);
    const memory::desc dst_md({1, oc, sh.oh(), sh.ow()}, dt::f32, tag::nhwc);
    // sinter's weights: OHWI [C_out, K, K, C_in]; depthwise [C, K, K] = goihw with O = I = 1.
    const memory::dims wdims = dw ? memory::dims{c, 1, 1, sh.k, sh.k} : memory::dims{oc, c, sh.k, sh.k};
    const memory::desc wei_user_md(wdims, dt::f32, dw ? tag::goihw : tag::ohwi);
    const memory::desc wei_any(wdims, dt::f32, tag::any);
    const memory::desc chan_md({1, oc, 1, 1}, dt::f32, tag::nchw);

    dnnl::primitive_attr attr;
    if (chain) {
      dnnl::post_ops po;
      po.append_binary(dnnl::algorithm::binary_mul, chan_md);
      po.append_binary(dnnl::algorithm::binary_add, chan_md);
      po.append_sum(1.f);
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(po);
    }
    const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                               dnnl::algorithm::convolution_auto, src_md, wei_any, dst_md,
                                               {sh.stride, sh.stride}, {sh.pad.top, sh.pad.left},
                                               {sh.pad.bottom, sh.pad.right});
    const dnnl::convolution_forward::primitive_desc pd(desc, attr, eng);
    impl = pd.impl_info_str();

    memory wei_user(wei_user_md, eng, d.wt.data());
    memory wei(pd.weights_desc(), eng);
    dnnl::reorder(wei_user, wei).execute(strm, wei_user, wei);
    strm.wait();
    conv = dnnl::convolution_forward(pd);
    args = {{DNNL_ARG_SRC, memory(src_md, eng, d.in.data())},
            {DNNL_ARG_WEIGHTS, wei},
            {DNNL_ARG_DST, memory(dst_md, eng, out.data())}};
    if (chain) {
      args.insert({DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, memory(chan_md, eng, d.scale.data())});
      args.insert({DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, memory(chan_md, eng, d.shift.data())});
    }
  }
  void operator()() {
    conv.execute(strm, args);
    strm.wait();
  }
};

template <class Bare, class Fused>
void compare(benchmark::State& state, LayerData& d, Bare bare, Fused fused) {
  const LayerShape& sh = d.sh;
  std::vector<float> theirs(sh.out_size()), theirs_fused(sh.out_size());
  auto ob = std::make_shared<OneDnnConv>(d, theirs, false);
  auto of = std::make_shared<OneDnnConv>(d, theirs_fused, true);
  auto ours_bare = bind(std::move(bare), d, d.out);
  auto ours_fused = bind(std::move(fused), d, d.out2);

  // Check: the same input, weights and chain give the same outputs.
  ours_bare();
  ours_fused();
  (*ob)();
  theirs_fused = d.res;  // sum post-op: dst holds the residual
  (*of)();
  const double err_bare = max_rel_diff(d.out.data(), theirs.data(), theirs.size());
  const double err_fused = max_rel_diff(d.out2.data(), theirs_fused.data(), theirs_fused.size());
  state.counters["err_bare"] = err_bare;
  state.counters["err_fused"] = err_fused;
  if (!(err_bare <= kTolerance && err_fused <= kTolerance)) {
    state.SkipWithError("sinter and oneDNN outputs differ beyond the tolerance");
    for (auto _ : state) {
    }
    return;
  }
  const bool mem_bound = sh.kind == LayerShape::Depthwise;
  run_paired(state,
             {{"sinter_bare", ours_bare, {sh.flops(), sh.bytes()}, mem_bound},
              {"onednn_bare", [ob] { (*ob)(); }, {sh.flops(), sh.bytes()}, mem_bound},
              {"sinter_fused", ours_fused, {sh.flops(), sh.bytes(true)}, mem_bound},
              {"onednn_fused", [of] { (*of)(); }, {sh.flops(), sh.bytes(true)}, mem_bound}},
             {{"sinter/onednn:bare", 0, 1},
              {"sinter/onednn:fused", 2, 3},
              {"sinter:fused/bare", 2, 0},
              {"onednn:fused/bare", 3, 1}});
  state.SetLabel(of->impl);
}

const bool registered = [] {
  register_peer_layers([](benchmark::State& state, LayerData& d, auto bare, auto fused) {
    compare(state, d, std::move(bare), std::move(fused));
  });
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
