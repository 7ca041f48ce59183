// Convolutions with few input channels: the first layer (stem) of vision networks, RGB
// input (C_in = 3), on the im2col / indirect-GEMM path.
//
// BM_stem/<net>: in every iteration (common.hpp's run_paired) the layer
//   bare    the convolution alone (algo::Im2col, no chain)
//   chain   the network's own prologue and epilogue chains fused
// with GFLOP/s and %peak (2*OH*OW*C_out*KH*KW*C_in over the single-core FMA peak).
// Layers (NHWC, batch 1, single thread):
//   detector_512x512x3-32   3x3 stride 2, TF 'SAME'; div(constant<127.5>) |
//       sub(constant<1>), then add(per_channel) | relu6 (examples/face/detector.hpp)
//   recognizer_150x150x3-32 7x7 stride 2 'valid'; sub(per_channel) | div(constant<255>),
//       then add, mul, add per channel | relu (examples/face/recognizer.hpp)
//   mobilenet_224x224x3-32  3x3 stride 2, TF 'SAME'; no prologue, add(per_channel) | relu6
//   resnet18_224x224x3-64   7x7 stride 2, pad 3; sub(per_channel) | mul(per_channel)
//       (input normalisation), then add(per_channel) | relu
//
// Run pinned, one binary at a time:
//   taskset -c 1 bench_small_cin --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include "common.hpp"

namespace {

using namespace bench;

enum class Net { Detector, Recognizer, MobileNet, ResNet };

struct Case {
  std::string name;
  LayerShape sh;
  Net net;
};

LayerShape stem_shape(index_t hw, index_t cout, index_t k, s::Padding pad) {
  return {LayerShape::Conv, "stem", hw, hw, 3, cout, k, 2, pad};
}

const std::vector<Case>& cases() {
  static const std::vector<Case> v = {
      {"detector_512x512x3-32", stem_shape(512, 32, 3, s::same_padding(512, 512, 3, 3, 2)), Net::Detector},
      {"recognizer_150x150x3-32", stem_shape(150, 32, 7, {}), Net::Recognizer},
      {"mobilenet_224x224x3-32", stem_shape(224, 32, 3, s::same_padding(224, 224, 3, 3, 2)), Net::MobileNet},
      {"resnet18_224x224x3-64", stem_shape(224, 64, 7, s::Padding(3)), Net::ResNet},
  };
  return v;
}

struct Data : LayerData {
  std::vector<float> pix, mean, inv_std, bias, scale, shift;
  explicit Data(const LayerShape& shape) : LayerData(shape) {
    pix = uniform(sh.in_size(), 11, 0.f, 255.f);  // image-like input in [0, 255]
    mean = uniform(static_cast<std::size_t>(sh.cin), 12, 100.f, 150.f);
    inv_std = uniform(static_cast<std::size_t>(sh.cin), 13, 1.f / 70.f, 1.f / 50.f);
    bias = uniform(static_cast<std::size_t>(sh.cout), 14, -0.1f, 0.1f);
    scale = uniform(static_cast<std::size_t>(sh.cout), 15, 0.8f, 1.2f);
    shift = uniform(static_cast<std::size_t>(sh.cout), 16, -0.1f, 0.1f);
  }
  s::TensorView<const float> image() const { return s::nhwc<const float>(pix.data(), 1, sh.h, sh.w, sh.cin); }
};

template <index_t K>
auto make_conv(const Data& d) {
  return s::conv2d<K, K>(s::ohwi(d.wt.data(), d.sh.cout, K, K, d.sh.cin), conv_params(d.sh.stride, d.sh.pad),
                         s::algo::im2col);
}

template <class Layer>
std::function<void()> bound(Layer layer, Data& d) {
  auto b = std::make_shared<Bound<Layer>>(std::move(layer), d.image(), d.output(d.out));
  return [b] { (*b)(); };
}

template <index_t K>
std::function<void()> chained(Data& d, Net net) {
  switch (net) {
    case Net::Detector:
      return bound(s::prologue(s::div(s::constant<127.5f>) | s::sub(s::constant<1.f>)) | make_conv<K>(d) |
                       s::add(s::per_channel(d.bias)) | s::relu6(),
                   d);
    case Net::Recognizer:
      return bound(s::prologue(s::sub(s::per_channel(d.mean)) | s::div(s::constant<255.f>)) | make_conv<K>(d) |
                       s::add(s::per_channel(d.bias)) | s::mul(s::per_channel(d.scale)) |
                       s::add(s::per_channel(d.shift)) | s::relu(),
                   d);
    case Net::MobileNet:
      return bound(make_conv<K>(d) | s::add(s::per_channel(d.bias)) | s::relu6(), d);
    case Net::ResNet:
      return bound(s::prologue(s::sub(s::per_channel(d.mean)) | s::mul(s::per_channel(d.inv_std))) | make_conv<K>(d) |
                       s::add(s::per_channel(d.bias)) | s::relu(),
                   d);
  }
  return {};
}

template <index_t K>
void BM_stem(benchmark::State& state, const Case& c) {
  Data d(c.sh);
  const Work w{d.sh.flops(), 0};
  run_paired(state, {{"bare", bound(make_conv<K>(d), d), w}, {"chain", chained<K>(d, c.net), w}},
             {{"chain/bare", 1, 0}});
  state.SetLabel("peak " + std::to_string(static_cast<int>(peak_gflops() + 0.5)) + " GFLOP/s");
}

const bool registered = [] {
  for (const Case& c : cases()) {
    const std::string name = "BM_stem/" + c.name;
    auto* b = c.sh.k == 3 ? benchmark::RegisterBenchmark(name.c_str(), BM_stem<3>, c)
                          : benchmark::RegisterBenchmark(name.c_str(), BM_stem<7>, c);
    b->Unit(benchmark::kMicrosecond);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
