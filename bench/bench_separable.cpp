// Depthwise-separable blocks: the depthwise 3x3 layer (folded batch-norm scale, shift,
// ReLU6) and the pointwise 1x1 layer after it (bias, ReLU6), as MobileNet-v1 and the
// face detector (SSD MobileNet-v1, 512x512 input) run them.
//
// BM_separable/<set>/<block>: alternately in every iteration (run_paired, thread CPU
// time), `fused`: s::depthwise_separable(dw, pw), the depthwise output kept in a band
// in L2; `two_layers`: dw into an intermediate tensor, then pw from it (what an engine
// that fuses only epilogues runs). Counters per variant:
// us, GFLOP/s (both layers' FLOPs), %peak, GB/s over the bytes the fused block must
// move (input, both layers' weights, output); ratio two_layers/fused. The outputs are
// checked equal bit for bit once, before timing.
//
// Run pinned, one binary at a time:
//   taskset -c 1 bench_separable --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <cstring>

#include "common.hpp"

namespace {

using namespace bench;

/// A block: depthwise 3x3 (stride, TF 'SAME' padding) on hw x hw x c, then 1x1 c -> cout.
struct Block {
  const char* set;
  index_t hw, c, cout, stride;
  index_t ohw() const { return (hw + stride - 1) / stride; }
  std::string name() const {
    return std::string(set) + "/dw" + std::to_string(stride) + "_" + std::to_string(hw) + "x" + std::to_string(hw) +
           "x" + std::to_string(c) + "-pw" + std::to_string(cout);
  }
};

void BM_separable(benchmark::State& state, Block b) {
  const index_t o = b.ohw();
  const auto x = uniform(static_cast<std::size_t>(b.hw * b.hw * b.c), 1, 0.f, 1.f);
  const auto wd = normal(static_cast<std::size_t>(9 * b.c), 2, std::sqrt(2.f / 9.f));
  const auto wp = normal(static_cast<std::size_t>(b.cout * b.c), 3, std::sqrt(2.f / static_cast<float>(b.c)));
  const auto scale = uniform(static_cast<std::size_t>(b.c), 4, 0.8f, 1.2f);
  const auto shift = uniform(static_cast<std::size_t>(b.c), 5, -0.2f, 0.2f);
  const auto bias = uniform(static_cast<std::size_t>(b.cout), 6, -0.2f, 0.2f);
  s::aligned_buffer mid(static_cast<std::size_t>(o * o * b.c)), y1(static_cast<std::size_t>(o * o * b.cout)),
      y2(static_cast<std::size_t>(o * o * b.cout)), in(x.size());
  std::memcpy(in.data(), x.data(), x.size() * sizeof(float));

  const auto dw = s::depthwise_conv2d<3, 3>(s::depthwise_ohwi(wd.data(), b.c, 3, 3),
                                            {.stride = b.stride, .pad = s::same_padding(b.hw, b.hw, 3, 3, b.stride)}) |
                  s::mul(s::per_channel(scale)) | s::add(s::per_channel(shift)) | s::relu6();
  const auto pw =
      s::conv2d<1, 1>(s::ohwi(wp.data(), b.cout, 1, 1, b.c), {}) | s::add(s::per_channel(bias)) | s::relu6();
  const auto sep = s::depthwise_separable(dw, pw);

  const auto xin = s::nhwc<const float>(in.data(), 1, b.hw, b.hw, b.c);
  const auto vmid = s::nhwc(mid.data(), 1, o, o, b.c);
  const auto out1 = s::nhwc(y1.data(), 1, o, o, b.cout), out2 = s::nhwc(y2.data(), 1, o, o, b.cout);
  auto ws_sep = std::make_shared<std::vector<std::byte>>(sep.workspace_size(xin.shape));
  auto ws_pw = std::make_shared<std::vector<std::byte>>(pw.workspace_size(vmid.shape));
  const auto fused = [&, ws_sep] { sep(xin, out1, *ws_sep); };
  const auto two = [&, ws_pw] {
    dw(xin, vmid);
    pw(s::TensorView<const float>(vmid), out2, *ws_pw);
  };
  fused();
  two();
  if (std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)) != 0) {
    state.SkipWithError("fused and two-layer outputs differ");
    return;
  }

  const double flops =
      2.0 * static_cast<double>(o * o) * static_cast<double>(b.c) * (9.0 + static_cast<double>(b.cout));
  const double bytes =
      4.0 * static_cast<double>(b.hw * b.hw * b.c + 9 * b.c + b.c * b.cout + o * o * b.cout + 2 * b.c + b.cout);
  const Work w{flops, bytes};
  run_paired(state, {{"fused", fused, w}, {"two_layers", two, w}}, {{"two_layers/fused", 1, 0}});
  state.SetLabel(s::default_arch::name());
}

const std::vector<Block> blocks = {
    // Face detector (SSD MobileNet-v1, 512x512 input): every distinct block.
    {"face", 256, 32, 64, 1},
    {"face", 256, 64, 128, 2},
    {"face", 128, 128, 128, 1},
    {"face", 128, 128, 256, 2},
    {"face", 64, 256, 256, 1},
    {"face", 64, 256, 512, 2},
    {"face", 32, 512, 512, 1},
    {"face", 32, 512, 1024, 2},
    {"face", 16, 1024, 1024, 1},
    // MobileNet-v1 (224x224 input).
    {"mobilenet_v1", 112, 32, 64, 1},
    {"mobilenet_v1", 112, 64, 128, 2},
    {"mobilenet_v1", 56, 128, 128, 1},
    {"mobilenet_v1", 28, 256, 256, 1},
    {"mobilenet_v1", 14, 512, 512, 1},
    {"mobilenet_v1", 7, 1024, 1024, 1},
};

int register_all() {
  for (const Block& b : blocks)
    benchmark::RegisterBenchmark(("BM_separable/" + b.name()).c_str(), BM_separable, b)->Unit(benchmark::kMicrosecond);
  return 0;
}
const int registered = register_all();

}  // namespace
