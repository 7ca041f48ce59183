// oneDNN's depthwise convolution on the shapes of bench_depthwise.cpp, beside sinter's
// DepthwiseConv2D in the same binary, so that a run with
// --benchmark_enable_random_interleaving=true compares them under the same load (the
// machine is shared; separate runs differ by more than the kernels do).
// Built by bench/CMakeLists.txt when oneDNN is found (Debian: libdnnl-dev); run
//   OMP_NUM_THREADS=1 taskset -c 1 ./bench_depthwise_onednn --benchmark_repetitions=5
//       --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
//
// Layers: convolution_forward (forward_inference, direct) with groups = C, NHWC src and
// dst, weights in the layout oneDNN picks (reordered once), TF SAME padding; bare, and
// with the folded batch-norm + relu6 as post-ops (binary mul, binary add per channel,
// eltwise clip [0, 6]). Counters as bench_depthwise.cpp: GFLOP/s (2*KH*KW per output
// element) and GB/s (input + output + weights (+ 2*C operands) once).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <sinter/sinter.hpp>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

std::vector<float> random_vec(std::size_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

/// `v` in a 64-byte aligned buffer. Inputs and outputs of both libraries are aligned
/// alike: a std::vector's alignment depends on the allocation history, and vectors
/// that straddle cache lines change the time by up to 1.5x.
sinter::aligned_buffer aligned(const std::vector<float>& v) {
  sinter::aligned_buffer b(static_cast<sinter::index_t>(v.size()));
  std::copy(v.begin(), v.end(), b.data());
  return b;
}

struct Shape {
  long h, w, c, k, stride;
};

void BM_onednn(benchmark::State& state, Shape sh, bool chain) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  const sinter::Padding pad = sinter::same_padding(sh.h, sh.w, sh.k, sh.k, sh.stride);
  const long oh = (sh.h + sh.stride - 1) / sh.stride, ow = (sh.w + sh.stride - 1) / sh.stride;

  auto in = aligned(random_vec(static_cast<std::size_t>(sh.h * sh.w * sh.c), 1));
  auto w = random_vec(static_cast<std::size_t>(sh.k * sh.k * sh.c), 2, -0.3f, 0.3f);  // goihw = [C, 1, 1, K, K]
  auto scale = random_vec(static_cast<std::size_t>(sh.c), 3, 0.5f, 1.5f);
  auto shift = random_vec(static_cast<std::size_t>(sh.c), 4);
  sinter::aligned_buffer out(oh * ow * sh.c);

  const memory::desc src_md({1, sh.c, sh.h, sh.w}, dt::f32, tag::nhwc);
  const memory::desc dst_md({1, sh.c, oh, ow}, dt::f32, tag::nhwc);
  const memory::desc wei_any({sh.c, 1, 1, sh.k, sh.k}, dt::f32, tag::any);
  const memory::desc wei_user_md({sh.c, 1, 1, sh.k, sh.k}, dt::f32, tag::goihw);
  const memory::desc chan_md({1, sh.c, 1, 1}, dt::f32, tag::nchw);

  dnnl::primitive_attr attr;
  if (chain) {
    dnnl::post_ops po;
    po.append_binary(dnnl::algorithm::binary_mul, chan_md);
    po.append_binary(dnnl::algorithm::binary_add, chan_md);
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, 0.f, 6.f);
    attr.set_post_ops(po);
  }
  const dnnl::convolution_forward::desc desc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md, wei_any, dst_md,
      {sh.stride, sh.stride}, {pad.top, pad.left}, {pad.bottom, pad.right});
  const dnnl::convolution_forward::primitive_desc pd(desc, attr, eng);

  memory src_m(src_md, eng, in.data()), dst_m(dst_md, eng, out.data());
  memory wei_user(wei_user_md, eng, w.data());
  memory wei_m(pd.weights_desc(), eng);
  dnnl::reorder(wei_user, wei_m).execute(strm, wei_user, wei_m);
  memory scale_m(chan_md, eng, scale.data()), shift_m(chan_md, eng, shift.data());
  const dnnl::convolution_forward conv(pd);

  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src_m}, {DNNL_ARG_WEIGHTS, wei_m}, {DNNL_ARG_DST, dst_m}};
  if (chain) {
    args.insert({DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, scale_m});
    args.insert({DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, shift_m});
  }
  for (auto _ : state) {
    conv.execute(strm, args);
    strm.wait();
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * static_cast<double>(sh.k * sh.k * oh * ow * sh.c);
  const double bytes =
      4.0 * static_cast<double>(in.size() + out.size() + static_cast<long>(w.size()) + (chain ? 2 * sh.c : 0));
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.SetLabel(pd.impl_info_str());
}

template <int K>
void BM_sinter(benchmark::State& state, Shape sh, bool chain) {
  namespace s = sinter;
  const s::Padding pad = s::same_padding(sh.h, sh.w, sh.k, sh.k, sh.stride);
  const long oh = (sh.h + sh.stride - 1) / sh.stride, ow = (sh.w + sh.stride - 1) / sh.stride;
  auto in = aligned(random_vec(static_cast<std::size_t>(sh.h * sh.w * sh.c), 1));
  auto w = random_vec(static_cast<std::size_t>(sh.k * sh.k * sh.c), 2, -0.3f, 0.3f);  // [C, K, K, 1]
  auto scale = random_vec(static_cast<std::size_t>(sh.c), 3, 0.5f, 1.5f);
  auto shift = random_vec(static_cast<std::size_t>(sh.c), 4);
  sinter::aligned_buffer out(oh * ow * sh.c);
  const auto iv = s::nhwc<const float>(in.data(), 1, sh.h, sh.w, sh.c);
  const auto ov = s::nhwc(out.data(), 1, oh, ow, sh.c);
  const auto bare =
      s::depthwise_conv2d<K, K>(s::depthwise_ohwi(w.data(), sh.c, K, K), {.stride = sh.stride, .pad = pad});
  const auto fused = bare | s::mul(s::per_channel(scale)) | s::add(s::per_channel(shift)) | s::relu6();
  for (auto _ : state) {
    if (chain) fused(iv, ov);
    else bare(iv, ov);
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * static_cast<double>(sh.k * sh.k * oh * ow * sh.c);
  const double bytes =
      4.0 * static_cast<double>(in.size() + out.size() + static_cast<long>(w.size()) + (chain ? 2 * sh.c : 0));
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.SetLabel(std::string("sinter:") + s::default_arch::name());
}

[[maybe_unused]] const bool registered = [] {
  const std::pair<const char*, Shape> shapes[] = {
      {"dw3x3_112x112x32_s1", {112, 112, 32, 3, 1}},
      {"dw3x3_112x112x64_s2", {112, 112, 64, 3, 2}},
      {"dw3x3_14x14x512_s1", {14, 14, 512, 3, 1}},
      {"dw5x5_28x28x240_s1", {28, 28, 240, 5, 1}},
  };
  for (const auto& [name, sh] : shapes) {
    benchmark::RegisterBenchmark((std::string(name) + "/onednn_bare").c_str(), BM_onednn, sh, false)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string(name) + "/onednn_bn_relu6").c_str(), BM_onednn, sh, true)
        ->Unit(benchmark::kMicrosecond);
    auto sinter_bench = sh.k == 5 ? BM_sinter<5> : BM_sinter<3>;
    benchmark::RegisterBenchmark((std::string(name) + "/sinter_bare").c_str(), sinter_bench, sh, false)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string(name) + "/sinter_bn_relu6").c_str(), sinter_bench, sh, true)
        ->Unit(benchmark::kMicrosecond);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
