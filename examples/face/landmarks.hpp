// examples/face/landmarks.hpp - face-api's 68-point face landmark net
// (face_landmark_68_model) with every conv and the fc layer a fused sinter layer. Its
// outputs become landmarks and the alignment box in postprocess.hpp
// (landmark_positions, align_dlib).
//
// Architecture (face-api 1.7.15, src/faceFeatureExtractor/, src/faceLandmarkNet/):
// input 112x112x3 RGB in [0, 255] (the face crop padded to a square, centred),
// normalised to (x - mean_rgb) / 255 (the first conv's prologue); four dense blocks
// (32, 64, 128, 256 channels; each halves the size: 56, 28, 14, 7):
//   out1 = relu(conv0(x))                 conv0: 3x3/2 conv + bias in block 0, else a
//                                         separable conv (depthwise 3x3/2, 1x1 + bias)
//   out2 = sep1(out1)                     sep: depthwise 3x3, pointwise 1x1 + bias
//   out3 = sep2(relu(out1 + out2))
//   out4 = sep3(relu(out1 + out2 + out3))
//   y    = relu(out1 + out2 + out3 + out4)
// then avgpool 7x7 (the whole 7x7 map) and fc 256 -> 136 + bias: 68 (x, y) pairs
// relative to the padded square.
// Fused as: the running sum S_k = out1 + ... + out_k is each pointwise conv's output,
//   pw | add(bias) | add(tensor(S_{k-1}))   (| relu on the block's last one).
// relu(S_k), the next depthwise conv's input, is a plain pass: sinter's DepthwiseConv2D
// takes no prologue (as a grouped Conv2D, groups = C, with a relu prologue it would be
// fused, but the whole net then runs about 6x slower).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <optional>
#include <sinter/sinter.hpp>
#include <span>
#include <string>
#include <vector>

#include "detector.hpp"
#include "image.hpp"
#include "postprocess.hpp"
#include "recognizer.hpp"
#include "weights.hpp"

namespace face {

/// The 68-point landmark net as fused sinter layers; run() maps a batch of 112x112
/// faces to 136 outputs each (x0, y0, x1, y1, ... relative to the padded square).
/// Not for concurrent use.
class Landmarker {
  using PC = s::PerChannel;
  using Stem = s::Conv2D<s::Kernel<3, 3>, s::algo::Automatic, s::Epilogue<s::Add<PC>, s::ReLU>,
                         s::Prologue<s::Sub<PC>, s::Div<s::Constant<255.f>>>>;
  using Depthwise = s::DepthwiseConv2D<s::Kernel<3, 3>>;
  using PointwiseReLU = s::Conv2D<s::Kernel<1, 1>, s::algo::Automatic, s::Epilogue<s::Add<PC>, s::ReLU>>;
  using PointwiseSum = s::Conv2D<s::Kernel<1, 1>, s::algo::Automatic, s::Epilogue<s::Add<PC>, s::Add<s::Tensor>>>;
  using PointwiseSumReLU =
      s::Conv2D<s::Kernel<1, 1>, s::algo::Automatic, s::Epilogue<s::Add<PC>, s::Add<s::Tensor>, s::ReLU>>;
  using FC = s::Linear<s::Epilogue<s::Add<PC>>>;

  struct Block {
    int in_side = 0, in_c = 0, side = 0, c = 0;
    std::optional<Depthwise> dw0;                  // blocks 1..3
    std::optional<PointwiseReLU> pw0;              // blocks 1..3
    std::optional<Depthwise> dw1, dw2, dw3;
    std::optional<PointwiseSum> pw1, pw2;
    std::optional<PointwiseSumReLU> pw3;
    std::vector<float> tmp, out1, s2, s3, relu_in, out;
  };

 public:
  static constexpr int input_size = 112, outputs = 136;

  /// Builds the layers from face_landmark_68_model's weights. Throws face::error when a
  /// tensor is missing or has an unexpected shape.
  explicit Landmarker(const WeightMap& w) : mean_(kMeanRgb.begin(), kMeanRgb.end()) {
    int side = input_size, c = 3;
    for (int b = 0; b < 4; ++b) {
      const std::string p = "dense" + std::to_string(b) + "/";
      const int co = 32 << b;
      Block& k = blocks_.emplace_back();
      k.in_side = side;
      k.in_c = c;
      k.side = side = (side + 1) / 2;
      k.c = co;
      const auto pad2 = s::same_padding(k.in_side, k.in_side, 3, 3, 2);
      if (b == 0) {
        stem_.emplace(s::prologue(s::sub(s::per_channel(mean_)) | s::div(s::constant<255.f>)) |
                      s::conv2d<3, 3>(s::hwio(w.get(p + "conv0/filters", {3, 3, 3, co}).data.data(), 3, 3, 3, co),
                                      conv_params(2, pad2)) |
                      s::add(s::per_channel(keep(w, p + "conv0/bias", co))) | s::relu());
        flops_ += 2.0 * side * side * co * 27;
      } else {
        k.dw0.emplace(s::depthwise_conv2d<3, 3>(s::depthwise_filter(dw_filter(w, p + "conv0/", c)),
                                                depthwise_params(2, pad2)));
        k.pw0.emplace(s::conv2d<1, 1>(pw_filter(w, p + "conv0/", c, co), conv_params()) |
                      s::add(s::per_channel(keep(w, p + "conv0/bias", co))) | s::relu());
        flops_ += 2.0 * side * side * (9 * c + c * co);
      }
      for (auto [dw, name] : {std::pair{&k.dw1, "conv1/"}, std::pair{&k.dw2, "conv2/"}, std::pair{&k.dw3, "conv3/"}})
        dw->emplace(s::depthwise_conv2d<3, 3>(s::depthwise_filter(dw_filter(w, p + name, co)), depthwise_params(1, 1)));
      // The tensor operands (the running sums) are bound before each call.
      const s::Tensor unbound{};
      k.pw1.emplace(s::conv2d<1, 1>(pw_filter(w, p + "conv1/", co, co), conv_params()) |
                    s::add(s::per_channel(keep(w, p + "conv1/bias", co))) | s::add(unbound));
      k.pw2.emplace(s::conv2d<1, 1>(pw_filter(w, p + "conv2/", co, co), conv_params()) |
                    s::add(s::per_channel(keep(w, p + "conv2/bias", co))) | s::add(unbound));
      k.pw3.emplace(s::conv2d<1, 1>(pw_filter(w, p + "conv3/", co, co), conv_params()) |
                    s::add(s::per_channel(keep(w, p + "conv3/bias", co))) | s::add(unbound) | s::relu());
      flops_ += 3 * 2.0 * side * side * (9 * co + co * co);
      c = co;
    }
    const Tensor& fw = w.get("fc/weights", {256, outputs});
    std::vector<float> wt(fw.data.size());  // [256 x 136] (K x N) -> [136 x 256]
    for (int k = 0; k < 256; ++k)
      for (int n = 0; n < outputs; ++n) wt[n * 256 + k] = fw.data[k * outputs + n];
    fc_.emplace(s::linear(wt.data(), outputs, 256) | s::add(s::per_channel(keep(w, "fc/bias", outputs))));
    flops_ += 2.0 * 256 * outputs;
  }

  /// The net's 136 outputs for each face of `faces` (each input_size x input_size, see
  /// landmark_input()). Throws face::error for an input of another size.
  std::vector<std::array<float, outputs>> run(std::span<const Image> faces) {
    const int n = static_cast<int>(faces.size());
    std::vector<std::array<float, outputs>> res(faces.size());
    if (n == 0) return res;
    for (const auto& f : faces)
      if (f.width != input_size || f.height != input_size)
        throw error("landmark net: expected " + std::to_string(input_size) + "x" + std::to_string(input_size) +
                    " faces, got " + std::to_string(f.width) + "x" + std::to_string(f.height));
    reserve(n);
    const std::size_t img = static_cast<std::size_t>(input_size) * input_size * 3;
    for (int i = 0; i < n; ++i) std::copy(faces[i].rgb.begin(), faces[i].rgb.end(), input_.begin() + i * img);
    const s::workspace ws{workspace_.data(), workspace_.size()};
    const float* x = input_.data();
    for (std::size_t b = 0; b < blocks_.size(); ++b) {
      Block& k = blocks_[b];
      const auto in = s::nhwc<const float>(x, n, k.in_side, k.in_side, k.in_c);
      auto view = [&](std::vector<float>& v) { return s::nhwc(v.data(), n, k.side, k.side, k.c); };
      auto cview = [&](std::vector<float>& v) { return s::nhwc<const float>(v.data(), n, k.side, k.side, k.c); };
      if (b == 0) {
        (*stem_)(in, view(k.out1), ws);
      } else {
        (*k.dw0)(in, s::nhwc(k.tmp.data(), n, k.side, k.side, k.in_c), ws);
        (*k.pw0)(s::nhwc<const float>(k.tmp.data(), n, k.side, k.side, k.in_c), view(k.out1), ws);
      }
      (*k.dw1)(cview(k.out1), view(k.tmp), ws);
      k.pw1->epilogue().template op<1>().operand = s::tensor(cview(k.out1));
      (*k.pw1)(cview(k.tmp), view(k.s2), ws);
      relu(k.s2, k.relu_in);
      (*k.dw2)(cview(k.relu_in), view(k.tmp), ws);
      k.pw2->epilogue().template op<1>().operand = s::tensor(cview(k.s2));
      (*k.pw2)(cview(k.tmp), view(k.s3), ws);
      relu(k.s3, k.relu_in);
      (*k.dw3)(cview(k.relu_in), view(k.tmp), ws);
      k.pw3->epilogue().template op<1>().operand = s::tensor(cview(k.s3));
      (*k.pw3)(cview(k.tmp), view(k.out), ws);
      x = k.out.data();
    }
    // tf.avgPool(x, 7, 2, 'valid') on the 7x7 map: the mean of its 49 pixels.
    const Block& last = blocks_.back();
    const int px = last.side * last.side, c = last.c;
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < c; ++k) {
        float sum = 0;
        for (int p = 0; p < px; ++p) sum += x[(static_cast<std::size_t>(i) * px + p) * c + k];
        pooled_[static_cast<std::size_t>(i) * c + k] = sum / px;
      }
    (*fc_)(s::matrix<const float>(pooled_.data(), n, c), s::matrix(out_.data(), n, outputs), ws);
    for (int i = 0; i < n; ++i) std::copy_n(&out_[static_cast<std::size_t>(i) * outputs], outputs, res[i].data());
    return res;
  }

  /// Floating-point operations per face (2 per multiply-add).
  double flops() const noexcept { return flops_; }

 private:
  /// tfjs's depthwise filter [3, 3, C, 1] as a groups = C conv filter.
  static s::FilterView dw_filter(const WeightMap& w, const std::string& p, int c) {
    return s::hwio(w.get(p + "depthwise_filter", {3, 3, c, 1}).data.data(), 3, 3, 1, c);
  }
  static s::FilterView pw_filter(const WeightMap& w, const std::string& p, int ci, int co) {
    return s::hwio(w.get(p + "pointwise_filter", {1, 1, ci, co}).data.data(), 1, 1, ci, co);
  }
  std::span<const float> keep(const WeightMap& w, const std::string& name, int n) {
    return params_.emplace_back(w.get(name, {n}).data);
  }
  /// y = max(x, 0) over the first x.size() floats (x and y are the same size).
  static void relu(const std::vector<float>& x, std::vector<float>& y) {
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
  }

  void reserve(int n) {
    if (n <= batch_) return;
    batch_ = n;
    const std::size_t N = static_cast<std::size_t>(n);
    input_.assign(N * input_size * input_size * 3, 0.f);
    std::size_t ws = stem_->workspace_size({n, input_size, input_size, 3});
    for (auto& k : blocks_) {
      const std::size_t sz = N * k.side * k.side * k.c;
      k.tmp.assign(std::max(sz, N * k.side * k.side * k.in_c), 0.f);
      k.out1.assign(sz, 0.f);
      k.s2.assign(sz, 0.f);
      k.s3.assign(sz, 0.f);
      k.relu_in.assign(sz, 0.f);
      k.out.assign(sz, 0.f);
      const s::Shape4 in{n, k.in_side, k.in_side, k.in_c}, mid{n, k.side, k.side, k.in_c}, cur{n, k.side, k.side, k.c};
      if (k.dw0) {
        ws = std::max(ws, k.dw0->workspace_size(in));
        ws = std::max(ws, k.pw0->workspace_size(mid));
      }
      ws = std::max({ws, k.dw1->workspace_size(cur), k.dw2->workspace_size(cur), k.dw3->workspace_size(cur),
                     k.pw1->workspace_size(cur), k.pw2->workspace_size(cur), k.pw3->workspace_size(cur)});
    }
    pooled_.assign(N * 256, 0.f);
    out_.assign(N * outputs, 0.f);
    ws = std::max(ws, fc_->workspace_size());
    workspace_.resize(ws);
  }

  std::vector<float> mean_;
  std::deque<std::vector<float>> params_;
  std::optional<Stem> stem_;
  std::deque<Block> blocks_;
  std::optional<FC> fc_;
  int batch_ = 0;
  std::vector<float> input_, pooled_, out_;
  std::vector<std::byte> workspace_;
  double flops_ = 0;
};

/// The landmark net's input for one face crop: toBatchTensor(112, true).
inline Image landmark_input(const Image& face_crop, int size = Landmarker::input_size) {
  return recognizer_input(face_crop, size);
}

}  // namespace face
