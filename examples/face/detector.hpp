// examples/face/detector.hpp - face-api's SSD MobileNet-v1 face detector
// (ssd_mobilenetv1_model) with every conv a fused sinter layer (DepthwiseConv2D for the
// depthwise convs, Conv2D for the others).
//
// Architecture (face-api 1.7.15, src/ssdMobilenetv1/): input 512x512x3 RGB in [0, 255],
// normalised to x / 127.5 - 1 (the stem's prologue);
//   stem       conv3x3/2 3->32, + bn_offset, ReLU6                       -> 256x256x32
//   13 pairs   depthwise 3x3 (stride 2 at pairs 2, 4, 6, 12) with batch-norm
//              (x - mean) * gamma / sqrt(var + 1e-3) + beta, ReLU6;
//              pointwise 1x1, + bn_offset, ReLU6                         -> 16x16x1024
//              (pair 11's output, 32x32x512, feeds box predictor 0)
//   extras     1x1 -> 256, 3x3/2 -> 512, 1x1 -> 128, 3x3/2 -> 256, 1x1 -> 128,
//              3x3/2 -> 256, 1x1 -> 64, 3x3/2 -> 128, each + bn_offset, ReLU6
//   predictors 6 maps (32, 16, 8, 4, 2, 1 pixels square; 3 anchors on the first, 6 on
//              the others = 5118 anchors): 1x1 conv + bias giving 4 box encodings and 3
//              class logits per anchor (box and class convs share one sinter layer: their
//              filters are concatenated along C_out).
// All convs use TF 'SAME' padding (stride 2: the extra pixel at the bottom / right).
// Output: decoded boxes (SsdBox, relative to the padded square) and face scores
// sigmoid(logit of class 1) per anchor.
#pragma once

#include <array>
#include <chrono>
#include <cmath>
#include <deque>
#include <optional>
#include <sinter/sinter.hpp>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fusion.hpp"
#include "image.hpp"
#include "postprocess.hpp"
#include "weights.hpp"

namespace face {

namespace s = sinter;

/// Conv2DParams of the networks' layers, which differ only in stride, padding and groups.
/// (GCC 12 with AVX-512 stores some constant parameters wrongly unless built with
/// -fno-tree-slp-vectorize, which the sinter CMake target adds: see README.md.)
inline s::Conv2DParams conv_params(s::HW stride = 1, s::Padding pad = 0, s::index_t groups = 1) {
  s::Conv2DParams p;
  p.stride = stride;
  p.dilation = s::HW(1);
  p.pad = pad;
  p.groups = groups;
  return p;
}
/// DepthwiseParams of the detector's depthwise layers.
inline s::DepthwiseParams depthwise_params(s::HW stride, s::Padding pad) {
  s::DepthwiseParams p;
  p.stride = stride;
  p.dilation = s::HW(1);
  p.pad = pad;
  return p;
}

/// Appends the milliseconds since the previous lap to `out` (when not null).
class LayerTimer {
 public:
  explicit LayerTimer(std::vector<double>* out) : out_(out), t_(std::chrono::steady_clock::now()) {}
  void lap() {
    if (!out_) return;
    const auto now = std::chrono::steady_clock::now();
    out_->push_back(std::chrono::duration<double, std::milli>(now - t_).count());
    t_ = now;
  }

 private:
  std::vector<double>* out_;
  std::chrono::steady_clock::time_point t_;
};

/// Raw detector output for one image: one decoded box and one face score per anchor.
struct SsdOutput {
  std::vector<SsdBox> boxes;  ///< 5118 boxes, relative to the 512x512 padded input
  std::vector<float> scores;  ///< 5118 scores in (0, 1)
  /// Raw predictor outputs in anchor order: 4 box encodings, then 3 class logits.
  std::vector<float> encodings, logits;
};

/// Per-anchor layout of the six predictor maps: map side, anchors per pixel, channels
/// of the feature map it reads.
struct PredictorShape {
  int side, anchors, channels;
};
inline constexpr std::array<PredictorShape, 6> kPredictors{
    {{32, 3, 512}, {16, 6, 1024}, {8, 6, 512}, {4, 6, 256}, {2, 6, 256}, {1, 6, 128}}};
inline constexpr int kAnchors = 5118;
/// The activations the predictors read (index: 0 the stem's output, then each layer's):
/// pair 11's pointwise output, pair 13's (the MobileNet features), extras 1, 3, 5, 7.
inline constexpr std::array<std::size_t, 6> kPredictorSources{22, 26, 28, 30, 32, 34};

/// Strides of the 13 depthwise layers (face-api getStridesForLayerIdx: 2 at 2, 4, 6, 12).
inline constexpr int depthwise_stride(int pair) { return pair == 2 || pair == 4 || pair == 6 || pair == 12 ? 2 : 1; }
/// Output channels of MobileNet-v1's 13 pointwise layers (index = pair 1..13).
inline constexpr std::array<int, 14> kMobilenetChannels{32, 64, 128, 128, 256, 256, 512, 512,
                                                        512, 512, 512, 512, 1024, 1024};
/// The extra layers after MobileNet: (kernel, stride, output channels).
struct ExtraShape {
  int k, stride, out;
};
inline constexpr std::array<ExtraShape, 8> kExtras{
    {{1, 1, 256}, {3, 2, 512}, {1, 1, 128}, {3, 2, 256}, {1, 1, 128}, {3, 2, 256}, {1, 1, 64}, {3, 2, 128}}};

/// A dense NHWC activation of batch 1, in storage owned by the network.
struct Activation {
  int h = 0, w = 0, c = 0;
  float* data = nullptr;
  Activation(int h_, int w_, int c_) : h(h_), w(w_), c(c_) {}
  std::size_t size() const noexcept { return static_cast<std::size_t>(h) * w * c; }
  s::TensorView<float> view() const { return s::nhwc(data, 1, h, w, c); }
  s::TensorView<const float> cview() const { return s::nhwc<const float>(data, 1, h, w, c); }
};

/// The SSD MobileNet-v1 detector, every layer built by `Policy` (Fused: one sinter
/// layer per conv with its whole chain; Unfused: bare convs and one pass per op, the
/// baseline of the benchmarks). Build it once from the weights; run() may be called any
/// number of times (not concurrently).
template <class Policy = Fused>
class BasicDetector {
  using PC = s::PerChannel;
  using BiasReLU6 = s::Epilogue<s::Add<PC>, s::ReLU6>;
  using BatchNormReLU6 = s::Epilogue<s::Sub<PC>, s::Mul<PC>, s::Add<PC>, s::ReLU6>;
  using StemPrologue = s::Prologue<s::Div<s::Constant<127.5f>>, s::Sub<s::Constant<1.f>>>;
  template <class Bare, class Epi, class Pro = s::Prologue<>>
  using Make = decltype(Policy::make(std::declval<Bare>(), std::declval<const Epi&>(), std::declval<const Pro&>()));
  using Stem = Make<s::Conv2D<s::Kernel<3, 3>>, BiasReLU6, StemPrologue>;
  using Pointwise = Make<s::Conv2D<s::Kernel<1, 1>>, BiasReLU6>;
  using Conv3x3 = Make<s::Conv2D<s::Kernel<3, 3>>, BiasReLU6>;
  using Depthwise = Make<s::DepthwiseConv2D<s::Kernel<3, 3>>, BatchNormReLU6>;  // batch-norm + ReLU6
  using Predictor = Make<s::Conv2D<s::Kernel<1, 1>>, s::Epilogue<s::Add<PC>>>;

 public:
  static constexpr int input_size = 512;

  /// Builds the layers from ssd_mobilenetv1_model's weights, with workspace for runs on
  /// up to `threads` workers. Throws face::error when a tensor is missing or has an
  /// unexpected shape.
  explicit BasicDetector(const WeightMap& w, int threads = 1) {
    // Stem: the input normalisation x / 127.5 - 1 runs as the conv's prologue (zero
    // padding after it, as TF pads the normalised tensor).
    int side = input_size / 2;
    stem_.emplace(Policy::make(
        s::conv2d<3, 3>(s::hwio(w.get("MobilenetV1/Conv2d_0_pointwise/weights", {3, 3, 3, 32}).data.data(), 3, 3, 3,
                                32),
                        conv_params(2, s::same_padding(input_size, input_size, 3, 3, 2))),
        s::add(s::per_channel(keep(w, "MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset", 32))) | s::relu6(),
        s::div(s::constant<127.5f>) | s::sub(s::constant<1.f>)));
    flops_ += conv_flops(side, side, 32, 3 * 3 * 3);
    acts_.emplace_back(side, side, 32);
    int c = 32;
    for (int i = 1; i <= 13; ++i) {
      const std::string dw = "MobilenetV1/Conv2d_" + std::to_string(i) + "_depthwise/";
      const int stride = depthwise_stride(i);
      const auto pad = s::same_padding(side, side, 3, 3, stride);
      side = (side + stride - 1) / stride;
      // batch-norm as tfjs computes it: (x - mean) * (gamma / sqrt(var + eps)) + beta
      const Tensor& gamma = w.get(dw + "BatchNorm/gamma", {c});
      const Tensor& var = w.get(dw + "BatchNorm/moving_variance", {c});
      std::vector<float> mul(static_cast<std::size_t>(c));
      for (int k = 0; k < c; ++k) mul[k] = static_cast<float>(gamma.data[k] / std::sqrt(double(var.data[k]) + 1e-3));
      depthwise_.push_back(Policy::make(
          s::depthwise_conv2d<3, 3>(
              s::depthwise_hwio(w.get(dw + "depthwise_weights", {3, 3, c, 1}).data.data(), 3, 3, c, 1),
              depthwise_params(stride, pad)),
          s::sub(s::per_channel(keep(w, dw + "BatchNorm/moving_mean", c))) |
              s::mul(s::per_channel(own(std::move(mul)))) | s::add(s::per_channel(keep(w, dw + "BatchNorm/beta", c))) |
              s::relu6()));
      flops_ += conv_flops(side, side, c, 9);
      acts_.emplace_back(side, side, c);
      const int co = kMobilenetChannels[i];
      const std::string pw = "MobilenetV1/Conv2d_" + std::to_string(i) + "_pointwise/";
      pointwise_.push_back(
          Policy::make(s::conv2d<1, 1>(s::hwio(w.get(pw + "weights", {1, 1, c, co}).data.data(), 1, 1, c, co),
                                       conv_params()),
                       s::add(s::per_channel(keep(w, pw + "convolution_bn_offset", co))) | s::relu6()));
      flops_ += conv_flops(side, side, co, c);
      acts_.emplace_back(side, side, co);
      c = co;
    }
    // Extra feature layers.
    for (int i = 0; i < 8; ++i) {
      const auto [k, stride, co] = kExtras[i];
      const std::string p = "Prediction/Conv2d_" + std::to_string(i) + "_pointwise/";
      const float* f = w.get(p + "weights", {k, k, c, co}).data.data();
      const auto b = keep(w, p + "convolution_bn_offset", co);
      if (k == 1) {
        extra1x1_.push_back(
            Policy::make(s::conv2d<1, 1>(s::hwio(f, 1, 1, c, co), conv_params()), s::add(s::per_channel(b)) | s::relu6()));
      } else {
        const auto pad = s::same_padding(side, side, 3, 3, stride);
        extra3x3_.push_back(Policy::make(s::conv2d<3, 3>(s::hwio(f, 3, 3, c, co), conv_params(stride, pad)),
                                         s::add(s::per_channel(b)) | s::relu6()));
      }
      side = (side + stride - 1) / stride;
      flops_ += conv_flops(side, side, co, k * k * c);
      acts_.emplace_back(side, side, co);
      c = co;
    }
    // Predictors: box encodings (A * 4) and class logits (A * 3) in one 1x1 conv.
    for (int i = 0; i < 6; ++i) {
      const auto [ps, a, ci] = kPredictors[i];
      const std::string p = "Prediction/BoxPredictor_" + std::to_string(i) + "/";
      const Tensor& bw = w.get(p + "BoxEncodingPredictor/weights", {1, 1, ci, a * 4});
      const Tensor& cw = w.get(p + "ClassPredictor/weights", {1, 1, ci, a * 3});
      const Tensor& bb = w.get(p + "BoxEncodingPredictor/biases", {a * 4});
      const Tensor& cb = w.get(p + "ClassPredictor/biases", {a * 3});
      const int co = a * 7;
      std::vector<float> filt(static_cast<std::size_t>(ci) * co), bias(static_cast<std::size_t>(co));
      for (int k = 0; k < ci; ++k) {
        std::copy_n(&bw.data[static_cast<std::size_t>(k) * a * 4], a * 4, &filt[static_cast<std::size_t>(k) * co]);
        std::copy_n(&cw.data[static_cast<std::size_t>(k) * a * 3], a * 3,
                    &filt[static_cast<std::size_t>(k) * co + a * 4]);
      }
      std::copy(bb.data.begin(), bb.data.end(), bias.begin());
      std::copy(cb.data.begin(), cb.data.end(), bias.begin() + a * 4);
      predictors_.push_back(Policy::make(s::conv2d<1, 1>(s::hwio(filt.data(), 1, 1, ci, co), conv_params()),
                                         s::Epilogue<s::Add<PC>>(s::add(s::per_channel(own(std::move(bias)))))));
      flops_ += conv_flops(ps, ps, co, ci);
      pred_out_.emplace_back(ps, ps, co);
    }
    const Tensor& anchors = w.get("Output/extra_dim", {1, kAnchors, 4});
    anchors_ = anchors.data;
    plan_storage();
    // One workspace for every layer.
    const int t = std::max(threads, 1);
    std::size_t ws = stem_->workspace_size({1, input_size, input_size, 3}, t);
    for (std::size_t i = 0; i < depthwise_.size(); ++i) {
      ws = std::max(ws, depthwise_[i].workspace_size(shape(acts_[2 * i]), t));
      ws = std::max(ws, pointwise_[i].workspace_size(shape(acts_[2 * i + 1]), t));
    }
    for (const auto& l : extra1x1_) ws = std::max(ws, l.workspace_size({1, 16, 16, 1024}, t));
    for (const auto& l : extra3x3_) ws = std::max(ws, l.workspace_size({1, 16, 16, 256}, t));
    for (const auto& l : predictors_) ws = std::max(ws, l.workspace_size({1, 32, 32, 1024}, t));
    workspace_.resize(ws);
    threads_ = t;
  }

  /// Runs the network on `input` (input_size x input_size, see detector_input()) and
  /// decodes boxes and scores. With `layer_ms`, appends each layer's time (ms) to it, in
  /// the order of the layers (stem, 13 depthwise / pointwise pairs, 8 extras, 6
  /// predictors). Throws face::error for an input
  /// of another size. `exec` spreads each layer over its workers (at most the
  /// constructor's `threads`; the output does not depend on it).
  template <s::Executor Exec = s::serial_executor>
  SsdOutput run(const Image& input, std::vector<double>* layer_ms = nullptr, const Exec& exec = {}) {
    if (input.width != input_size || input.height != input_size)
      throw error("detector: expected a " + std::to_string(input_size) + "x" + std::to_string(input_size) +
                  " input, got " + std::to_string(input.width) + "x" + std::to_string(input.height));
    if (exec.threads() > threads_)
      throw error("detector: built for " + std::to_string(threads_) + " threads, run on " +
                  std::to_string(exec.threads()));
    const s::workspace ws{workspace_.data(), workspace_.size()};
    LayerTimer t(layer_ms);
    (*stem_)(s::nhwc<const float>(input.rgb.data(), 1, input_size, input_size, 3), acts_[0].view(), ws, exec);
    t.lap();
    std::size_t a = 0;
    for (std::size_t i = 0; i < 13; ++i, a += 2) {
      depthwise_[i](acts_[a].cview(), acts_[a + 1].view(), ws, exec);
      t.lap();
      pointwise_[i](acts_[a + 1].cview(), acts_[a + 2].view(), ws, exec);
      t.lap();
    }
    std::size_t e1 = 0, e3 = 0;
    for (int i = 0; i < 8; ++i, ++a) {
      if (kExtras[i].k == 1) extra1x1_[e1++](acts_[a].cview(), acts_[a + 1].view(), ws, exec);
      else extra3x3_[e3++](acts_[a].cview(), acts_[a + 1].view(), ws, exec);
      t.lap();
    }
    for (int i = 0; i < 6; ++i) {
      predictors_[i](acts_[kPredictorSources[i]].cview(), pred_out_[i].view(), ws, exec);
      t.lap();
    }
    return decode();
  }

  /// Floating-point operations of one run (2 per multiply-add).
  double flops() const noexcept { return flops_; }
  /// The anchors, [5118 x 4] (ymin, xmin, ymax, xmax).
  std::span<const float> anchors() const noexcept { return anchors_; }

 private:
  static double conv_flops(int oh, int ow, int co, int k) { return 2.0 * oh * ow * co * k; }
  static s::Shape4 shape(const Activation& a) { return {1, a.h, a.w, a.c}; }

  /// Floats between the two slots beyond the largest activation. The slots then start
  /// 2560 B apart modulo 4 KiB: at pixel strides of 1, 2 and 4 KiB (C = 256, 512, 1024)
  /// a depthwise layer's output stores lie at least 512 B from the input loads that
  /// follow them modulo 4 KiB, so no load waits on a store it 4 KiB-aliases. Measured on
  /// the 16x16x1024 depthwise layer: 0.12 ms with this offset, 0.20 ms at 128 B.
  static constexpr std::size_t kSlotPad = 640;

  /// Places the activations in storage_. An activation that a predictor reads keeps its
  /// own region; every other one alternates between two regions sized for the largest,
  /// so a layer writes over memory the layer before last wrote, still in the last-level
  /// cache, rather than into a fresh buffer: with a buffer per layer (105 MB in all)
  /// every layer's stores missed to DRAM, and the first layers, with 8-16 MB outputs,
  /// ran 10-20% slower than alone.
  /// In its region an activation is centred on the region's middle. On 2 threads each
  /// worker writes one half of every layer's output rows (thread_pool's shares), so the
  /// first half of any activation then lands on memory the same core wrote last, and
  /// the second half on the other core's: with activations at the region's start, a
  /// layer whose output is larger than the one it overwrites (after each pointwise layer
  /// that doubles the channels) had one core write over lines the other held, and the
  /// depthwise layers there ran no faster on 2 threads than on 1. Measured on the
  /// detector's per-layer times (1 vs 2 threads, three runs each way): 2 threads
  /// 19.2-19.6 -> 18.6-18.7 ms, the 64x64x256 depthwise layer 0.25 -> 0.13-0.14 ms,
  /// 1 thread unchanged within noise; bench_face BM_detector_threads, three alternated
  /// runs: 2 threads 20.9-22.2 -> 20.4-21.4 ms, 2.5-4.5% faster in each pair. One
  /// thread (BM_detector_fusion, ten alternated pairs) moved by -3.4% to +6.3% (and one
  /// +17% outlier), median +1.8%: within this machine's noise, if anything slower.
  void plan_storage() {
    std::vector<bool> kept(acts_.size(), false);
    for (std::size_t i : kPredictorSources) kept[i] = true;
    std::size_t largest = 0;
    for (std::size_t i = 0; i < acts_.size(); ++i)
      if (!kept[i]) largest = std::max(largest, acts_[i].size());
    // Every start a multiple of 16 floats from the region's: mid > ceil16(size / 2) and
    // mid + size - ceil16(size / 2) <= 2 * mid for every size <= largest.
    const auto half = [](std::size_t n) { return (n / 2 + 15) / 16 * 16; };
    const std::size_t mid = half(largest) + 16;
    const std::size_t slot = (2 * mid + 1023) / 1024 * 1024 + kSlotPad;  // whole 4 KiB pages, then the offset
    std::size_t total = 2 * slot;
    for (std::size_t i = 0; i < acts_.size(); ++i)
      if (kept[i]) total += acts_[i].size();
    for (const auto& p : pred_out_) total += p.size();
    storage_.assign(total, 0.f);
    float* next = storage_.data() + 2 * slot;
    for (std::size_t i = 0; i < acts_.size(); ++i) {
      // Layer i reads activation i - 1, which is kept or in the other slot.
      if (kept[i]) acts_[i].data = std::exchange(next, next + acts_[i].size());
      else acts_[i].data = storage_.data() + (i % 2) * slot + (mid - half(acts_[i].size()));
    }
    for (auto& p : pred_out_) p.data = std::exchange(next, next + p.size());
  }

  /// A per-channel vector copied into storage that outlives the layers.
  std::span<const float> keep(const WeightMap& w, const std::string& name, int n) {
    return own(w.get(name, {n}).data);
  }
  std::span<const float> own(std::vector<float> v) { return params_.emplace_back(std::move(v)); }

  SsdOutput decode() const {
    SsdOutput out;
    out.encodings.resize(kAnchors * 4);
    out.logits.resize(kAnchors * 3);
    std::size_t n = 0;
    for (int i = 0; i < 6; ++i) {
      const auto [ps, a, ci] = kPredictors[i];
      const float* p = pred_out_[i].data;
      for (int px = 0; px < ps * ps; ++px, p += a * 7)
        for (int k = 0; k < a; ++k, ++n) {
          std::copy_n(p + 4 * k, 4, &out.encodings[4 * n]);
          std::copy_n(p + 4 * a + 3 * k, 3, &out.logits[3 * n]);
        }
    }
    out.boxes = decode_boxes(out.encodings, anchors_);
    out.scores.resize(kAnchors);
    for (int i = 0; i < kAnchors; ++i) out.scores[i] = sigmoid(out.logits[3 * i + 1]);
    return out;
  }

  std::deque<std::vector<float>> params_;  // per-channel operands (stable addresses)
  std::optional<Stem> stem_;
  std::vector<Depthwise> depthwise_;
  std::vector<Pointwise> pointwise_;
  std::vector<Pointwise> extra1x1_;
  std::vector<Conv3x3> extra3x3_;
  std::vector<Predictor> predictors_;
  std::vector<Activation> acts_, pred_out_;  // acts_: the stem's output, then each layer's
  std::vector<float> storage_;                // every activation (see plan_storage())
  std::vector<float> anchors_;
  std::vector<std::byte> workspace_;
  int threads_ = 1;
  double flops_ = 0;
};

/// The detector as the library is meant to be used: every layer fused.
using Detector = BasicDetector<Fused>;

}  // namespace face
