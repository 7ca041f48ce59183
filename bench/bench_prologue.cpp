// Prologue fusion (element-wise ops on a conv's input, run where the kernel reads it)
// against the same layer without the prologue, on the im2col / GEMM path.
//
// BM_prologue/<layer>: in every iteration (common.hpp's run_paired: ~1 ms batches,
// rotating order, the thread's CPU time) the layer
//   bare     conv | add(per_channel(bias)) | relu6
//   fused    prologue(P) | conv | add(per_channel(bias)) | relu6
//   unfused  P as its own s::elementwise pass into a temporary tensor, then bare
// with ratios fused/bare (issue 4's bar: <= 1.05 on the pointwise layers) and
// unfused/fused, and per variant GFLOP/s and %peak (the conv's 2*OH*OW*C_out*KH*KW*C_in
// FLOPs over the single-core FMA peak, common.hpp).
// Layers (NHWC, batch 1, single thread):
//   pw_56x56x128-128, pw_14x14x512-512, pw_56x56x64-256  1x1, P = sub(per_channel(mean))
//       | mul(per_channel(inv_std)) (input normalisation); the bare variant's %peak is
//       issue 4's other bar (>= 85% on the first two)
//   stem_512x512x3-32  the face detector's first layer (examples/face/detector.hpp): 3x3
//       stride 2, TF 'SAME' padding, P = div(constant<127.5>) | sub(constant<1>) as the
//       detector has it, and (stem_per_channel) the per-channel normalisation above
//   stem_150x150x3-32  the recognition net's 7x7 stride-2 stem ('valid'), P =
//       sub(per_channel(mean)) | div(constant<255>) as in examples/face/recognizer.hpp
//
// Run pinned, one binary at a time:
//   taskset -c 1 bench_prologue --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include "common.hpp"

namespace {

using namespace bench;

enum class Pro { Normalise, Detector, Recognizer };

struct Case {
  std::string name;
  LayerShape sh;
  Pro pro;
};

LayerShape conv_shape(index_t hw, index_t cin, index_t cout, index_t k, index_t stride, bool same) {
  LayerShape l{LayerShape::Conv, "prologue", hw, hw, cin, cout, k, stride, {}};
  if (same) l.pad = s::same_padding(hw, hw, k, k, stride);
  return l;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> v = {
      {"pw_56x56x128-128", conv_shape(56, 128, 128, 1, 1, false), Pro::Normalise},
      {"pw_14x14x512-512", conv_shape(14, 512, 512, 1, 1, false), Pro::Normalise},
      {"pw_56x56x64-256", conv_shape(56, 64, 256, 1, 1, false), Pro::Normalise},
      {"stem_512x512x3-32", conv_shape(512, 3, 32, 3, 2, true), Pro::Detector},
      {"stem_per_channel_512x512x3-32", conv_shape(512, 3, 32, 3, 2, true), Pro::Normalise},
      {"stem_150x150x3-32_7x7", conv_shape(150, 3, 32, 7, 2, false), Pro::Recognizer},
  };
  return v;
}

struct Data : LayerData {
  std::vector<float> pix, tmp, mean, inv_std, bias;
  explicit Data(const LayerShape& shape) : LayerData(shape) {
    // Image-like input in [0, 255] and its normalisation (mean ~ 128, std ~ 60).
    pix = uniform(sh.in_size(), 11, 0.f, 255.f);
    tmp.assign(sh.in_size(), 0.f);
    mean = uniform(static_cast<std::size_t>(sh.cin), 12, 100.f, 150.f);
    inv_std = uniform(static_cast<std::size_t>(sh.cin), 13, 1.f / 70.f, 1.f / 50.f);
    bias = uniform(static_cast<std::size_t>(sh.cout), 14, -0.1f, 0.1f);
  }
  s::TensorView<const float> image() const { return s::nhwc<const float>(pix.data(), 1, sh.h, sh.w, sh.cin); }
  s::TensorView<float> temp() { return s::nhwc(tmp.data(), 1, sh.h, sh.w, sh.cin); }
};

auto make_conv(const Data& d) {
  return s::conv2d(s::ohwi(d.wt.data(), d.sh.cout, d.sh.k, d.sh.k, d.sh.cin), conv_params(d.sh.stride, d.sh.pad),
                   s::algo::im2col) |
         s::add(s::per_channel(d.bias)) | s::relu6();
}

/// A layer reading `in` into d.out, with its workspace, as a Variant::run.
template <class Layer>
std::function<void()> bound(Layer layer, s::TensorView<const float> in, Data& d) {
  auto b = std::make_shared<Bound<Layer>>(std::move(layer), in, d.output(d.out));
  return [b] { (*b)(); };
}

template <class Chain>
void run_case(benchmark::State& state, Data& d, const Chain& chain) {
  const Work w{d.sh.flops(), 0};
  auto bare = bound(make_conv(d), d.image(), d);
  auto fused = bound(s::prologue(chain) | make_conv(d), d.image(), d);
  const auto pass = s::elementwise(chain);
  auto conv_tmp = bound(make_conv(d), s::TensorView<const float>(d.temp()), d);
  std::function<void()> unfused = [&d, pass, conv_tmp] {
    pass(d.image(), d.temp());
    conv_tmp();
  };
  run_paired(state, {{"bare", bare, w}, {"fused", fused, w}, {"unfused", unfused, w}},
             {{"fused/bare", 1, 0}, {"unfused/fused", 2, 1}});
  state.SetLabel("peak " + std::to_string(static_cast<int>(peak_gflops() + 0.5)) + " GFLOP/s");
}

void BM_prologue(benchmark::State& state, const Case& c) {
  Data d(c.sh);
  switch (c.pro) {
    case Pro::Normalise:
      run_case(state, d, s::sub(s::per_channel(d.mean)) | s::mul(s::per_channel(d.inv_std)));
      break;
    case Pro::Detector:
      run_case(state, d, s::div(s::constant<127.5f>) | s::sub(s::constant<1.f>));
      break;
    case Pro::Recognizer:
      run_case(state, d, s::sub(s::per_channel(d.mean)) | s::div(s::constant<255.f>));
      break;
  }
}

const bool registered = [] {
  for (const Case& c : cases())
    benchmark::RegisterBenchmark(("BM_prologue/" + c.name).c_str(), BM_prologue, c)->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
