// examples/face/reference.hpp - plain reference implementations of face-api's two
// networks, written op by op as face-api's TypeScript sources call tfjs (conv2d, add,
// batchNorm, clipByValue, ...), one pass per op, with double accumulators, straight
// from the weights manifest. No sinter code: it is the oracle the fused sinter
// networks (detector.hpp, recognizer.hpp) are checked against. Slow on purpose.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "detector.hpp"
#include "image.hpp"
#include "postprocess.hpp"
#include "landmarks.hpp"
#include "recognizer.hpp"
#include "weights.hpp"

namespace face::ref {

/// A dense NHWC tensor of batch 1.
struct T3 {
  int h = 0, w = 0, c = 0;
  std::vector<float> v;
  T3() = default;
  T3(int h_, int w_, int c_) : h(h_), w(w_), c(c_), v(static_cast<std::size_t>(h_) * w_ * c_, 0.f) {}
  float& at(int y, int x, int k) { return v[(static_cast<std::size_t>(y) * w + x) * c + k]; }
  float at(int y, int x, int k) const { return v[(static_cast<std::size_t>(y) * w + x) * c + k]; }
};

/// TF padding: 'SAME' (output ceil(in / stride), extra pixel at the end) or 'VALID'.
inline void tf_pad(int in, int k, int stride, bool same, int& out, int& before) {
  if (same) {
    out = (in + stride - 1) / stride;
    before = std::max((out - 1) * stride + k - in, 0) / 2;
  } else {
    out = (in - k) / stride + 1;
    before = 0;
  }
}

/// tf.conv2d(x, filter HWIO [k, k, C, Co], stride, padding).
inline T3 conv2d(const T3& x, const Tensor& f, int stride, bool same) {
  const int k = static_cast<int>(f.shape[0]), co = static_cast<int>(f.shape[3]);
  int oh, ow, pt, pl;
  tf_pad(x.h, k, stride, same, oh, pt);
  tf_pad(x.w, k, stride, same, ow, pl);
  T3 y(oh, ow, co);
  std::vector<double> acc(static_cast<std::size_t>(co));
  for (int oy = 0; oy < oh; ++oy)
    for (int ox = 0; ox < ow; ++ox) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int ky = 0; ky < k; ++ky)
        for (int kx = 0; kx < k; ++kx) {
          const int iy = oy * stride - pt + ky, ix = ox * stride - pl + kx;
          if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
          for (int ci = 0; ci < x.c; ++ci) {
            const double xv = x.at(iy, ix, ci);
            const float* wr = &f.data[((static_cast<std::size_t>(ky) * k + kx) * x.c + ci) * co];
            for (int o = 0; o < co; ++o) acc[o] += xv * wr[o];
          }
        }
      for (int o = 0; o < co; ++o) y.at(oy, ox, o) = static_cast<float>(acc[o]);
    }
  return y;
}

/// tf.depthwiseConv2d(x, filter [k, k, C, 1], stride, 'same').
inline T3 depthwise(const T3& x, const Tensor& f, int stride) {
  const int k = static_cast<int>(f.shape[0]);
  int oh, ow, pt, pl;
  tf_pad(x.h, k, stride, true, oh, pt);
  tf_pad(x.w, k, stride, true, ow, pl);
  T3 y(oh, ow, x.c);
  for (int oy = 0; oy < oh; ++oy)
    for (int ox = 0; ox < ow; ++ox)
      for (int ch = 0; ch < x.c; ++ch) {
        double acc = 0;
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const int iy = oy * stride - pt + ky, ix = ox * stride - pl + kx;
            if (iy >= 0 && iy < x.h && ix >= 0 && ix < x.w)
              acc += double(x.at(iy, ix, ch)) * f.data[(static_cast<std::size_t>(ky) * k + kx) * x.c + ch];
          }
        y.at(oy, ox, ch) = static_cast<float>(acc);
      }
  return y;
}

/// x + b[c]
inline void add_channel(T3& x, const Tensor& b) {
  for (std::size_t i = 0; i < x.v.size(); ++i) x.v[i] += b.data[i % x.c];
}
/// x * s[c]
inline void mul_channel(T3& x, const Tensor& s) {
  for (std::size_t i = 0; i < x.v.size(); ++i) x.v[i] *= s.data[i % x.c];
}
/// tf.batchNorm: (x - mean) * gamma / sqrt(var + eps) + beta
inline void batch_norm(T3& x, const Tensor& mean, const Tensor& var, const Tensor& beta, const Tensor& gamma,
                       double eps) {
  for (std::size_t i = 0; i < x.v.size(); ++i) {
    const std::size_t c = i % x.c;
    x.v[i] = static_cast<float>(beta.data[c] + (x.v[i] - double(mean.data[c])) * gamma.data[c] /
                                                   std::sqrt(double(var.data[c]) + eps));
  }
}
/// tf.clipByValue(x, lo, hi)
inline void clip(T3& x, float lo, float hi) {
  for (auto& v : x.v) v = std::min(std::max(v, lo), hi);
}
/// tf.relu
inline void relu(T3& x) { clip(x, 0.f, INFINITY); }

// ---------------------------------------------------------------------------
// SSD MobileNet-v1 (src/ssdMobilenetv1/)
// ---------------------------------------------------------------------------

/// pointwiseConvLayer: relu6(conv2d(x, filters, stride, 'same') + bn_offset)
inline T3 pointwise_layer(const T3& x, const WeightMap& w, const std::string& prefix, int stride) {
  T3 y = conv2d(x, w.get(prefix + "weights"), stride, true);
  add_channel(y, w.get(prefix + "convolution_bn_offset"));
  clip(y, 0, 6);
  return y;
}

/// The detector on a 512x512 input (see detector_input()): decoded boxes and scores
/// per anchor, as SsdMobilenetv1.forwardInput + outputLayer. `layers`, when given,
/// receives every conv layer's output: the stem's, then each layer's in order.
inline SsdOutput run_detector(const WeightMap& w, const Image& input, std::vector<T3>* layers = nullptr) {
  T3 x(input.height, input.width, 3);
  for (std::size_t i = 0; i < x.v.size(); ++i) x.v[i] = static_cast<float>(input.rgb[i] / 127.5 - 1.0);
  auto record = [&](const T3& t) {
    if (layers) layers->push_back(t);
  };
  T3 out = pointwise_layer(x, w, "MobilenetV1/Conv2d_0_pointwise/", 2);
  record(out);
  T3 conv11;
  for (int i = 1; i <= 13; ++i) {
    const std::string dw = "MobilenetV1/Conv2d_" + std::to_string(i) + "_depthwise/";
    out = depthwise(out, w.get(dw + "depthwise_weights"), depthwise_stride(i));
    batch_norm(out, w.get(dw + "BatchNorm/moving_mean"), w.get(dw + "BatchNorm/moving_variance"),
               w.get(dw + "BatchNorm/beta"), w.get(dw + "BatchNorm/gamma"), 0.0010000000474974513);
    clip(out, 0, 6);
    record(out);
    out = pointwise_layer(out, w, "MobilenetV1/Conv2d_" + std::to_string(i) + "_pointwise/", 1);
    record(out);
    if (i == 11) conv11 = out;
  }
  std::vector<const T3*> maps{&conv11, &out};
  std::vector<T3> extras;
  extras.reserve(8);
  const T3* cur = &out;
  for (int i = 0; i < 8; ++i) {
    extras.push_back(pointwise_layer(*cur, w, "Prediction/Conv2d_" + std::to_string(i) + "_pointwise/",
                                     i % 2 == 1 ? 2 : 1));
    cur = &extras.back();
    record(*cur);
    if (i % 2 == 1) maps.push_back(cur);
  }
  SsdOutput o;
  for (int i = 0; i < 6; ++i) {
    const std::string p = "Prediction/BoxPredictor_" + std::to_string(i) + "/";
    T3 box = conv2d(*maps[i], w.get(p + "BoxEncodingPredictor/weights"), 1, true);
    add_channel(box, w.get(p + "BoxEncodingPredictor/biases"));
    T3 cls = conv2d(*maps[i], w.get(p + "ClassPredictor/weights"), 1, true);
    add_channel(cls, w.get(p + "ClassPredictor/biases"));
    // reshape [1, H, W, A*4] -> [1, H*W*A, 1, 4] and [1, H, W, A*3] -> [1, H*W*A, 3]
    o.encodings.insert(o.encodings.end(), box.v.begin(), box.v.end());
    o.logits.insert(o.logits.end(), cls.v.begin(), cls.v.end());
  }
  o.boxes = decode_boxes(o.encodings, w.get("Output/extra_dim").data);
  for (std::size_t i = 0; i < o.boxes.size(); ++i) o.scores.push_back(sigmoid(o.logits[3 * i + 1]));
  return o;
}

// ---------------------------------------------------------------------------
// Face recognition ResNet (src/faceRecognitionNet/)
// ---------------------------------------------------------------------------

/// convLayer: conv2d + bias, scale layer (x * weights + biases), optional ReLU.
inline T3 conv_layer(const T3& x, const WeightMap& w, const std::string& p, int stride, bool with_relu, bool same) {
  T3 y = conv2d(x, w.get(p + "/conv/filters"), stride, same);
  add_channel(y, w.get(p + "/conv/bias"));
  mul_channel(y, w.get(p + "/scale/weights"));
  add_channel(y, w.get(p + "/scale/biases"));
  if (with_relu) relu(y);
  return y;
}

/// tf.maxPool / tf.avgPool with a k x k window, stride s, 'valid'.
inline T3 pool(const T3& x, int k, int s, bool max) {
  const int oh = (x.h - k) / s + 1, ow = (x.w - k) / s + 1;
  T3 y(oh, ow, x.c);
  for (int oy = 0; oy < oh; ++oy)
    for (int ox = 0; ox < ow; ++ox)
      for (int ch = 0; ch < x.c; ++ch) {
        double acc = max ? -INFINITY : 0.0;
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const double v = x.at(oy * s + ky, ox * s + kx, ch);
            acc = max ? std::max(acc, v) : acc + v;
          }
        y.at(oy, ox, ch) = static_cast<float>(max ? acc : acc / (k * k));
      }
  return y;
}

/// residual: relu(convNoRelu(conv(x)) + x)
inline T3 residual(const T3& x, const WeightMap& w, const std::string& p) {
  T3 out = conv_layer(conv_layer(x, w, p + "/conv1", 1, true, true), w, p + "/conv2", 1, false, true);
  for (std::size_t i = 0; i < out.v.size(); ++i) out.v[i] += x.v[i];
  relu(out);
  return out;
}

/// residualDown: convDown (3x3/2 'valid'), convNoRelu; shortcut avgPool 2x2/2 padded
/// with zero channels; out padded with a zero row and column when one pixel smaller.
inline T3 residual_down(const T3& x, const WeightMap& w, const std::string& p) {
  T3 out = conv_layer(conv_layer(x, w, p + "/conv1", 2, true, false), w, p + "/conv2", 1, false, true);
  const T3 pooled = pool(x, 2, 2, false);
  if (pooled.h != out.h) {
    T3 padded(out.h + 1, out.w + 1, out.c);
    for (int y = 0; y < out.h; ++y)
      for (int xx = 0; xx < out.w; ++xx)
        for (int k = 0; k < out.c; ++k) padded.at(y, xx, k) = out.at(y, xx, k);
    out = std::move(padded);
  }
  for (int y = 0; y < out.h; ++y)
    for (int xx = 0; xx < out.w; ++xx)
      for (int k = 0; k < pooled.c; ++k) out.at(y, xx, k) += pooled.at(y, xx, k);
  relu(out);
  return out;
}

/// FaceRecognitionNet.forwardInput on one 150x150 face (see recognizer_input()): the
/// 128-D descriptor.
inline std::vector<float> run_recognizer(const WeightMap& w, const Image& face) {
  T3 x(face.height, face.width, 3);
  for (std::size_t i = 0; i < x.v.size(); ++i)
    x.v[i] = static_cast<float>((face.rgb[i] - double(kMeanRgb[i % 3])) / 255.0);
  T3 out = conv_layer(x, w, "conv32_down", 2, true, false);
  out = pool(out, 3, 2, true);
  for (const auto& b : kBlocks) out = b.down ? residual_down(out, w, b.name) : residual(out, w, b.name);
  const Tensor& fc = w.get("fc");
  const int n = static_cast<int>(fc.shape[1]);
  std::vector<double> mean(static_cast<std::size_t>(out.c), 0.0);
  for (int y = 0; y < out.h; ++y)
    for (int xx = 0; xx < out.w; ++xx)
      for (int k = 0; k < out.c; ++k) mean[k] += out.at(y, xx, k) / double(out.h * out.w);
  std::vector<float> d(static_cast<std::size_t>(n));
  for (int j = 0; j < n; ++j) {
    double acc = 0;
    for (int k = 0; k < out.c; ++k) acc += mean[k] * fc.data[static_cast<std::size_t>(k) * n + j];
    d[j] = static_cast<float>(acc);
  }
  return d;
}

// ---------------------------------------------------------------------------
// 68-point landmark net (src/faceFeatureExtractor/, src/faceLandmarkNet/)
// ---------------------------------------------------------------------------

/// depthwiseSeparableConv: tf.separableConv2d(x, depthwise, pointwise, stride, 'same') + bias
inline T3 separable(const T3& x, const WeightMap& w, const std::string& p, int stride) {
  T3 y = conv2d(depthwise(x, w.get(p + "depthwise_filter"), stride), w.get(p + "pointwise_filter"), 1, true);
  add_channel(y, w.get(p + "bias"));
  return y;
}

inline T3 sum(const T3& a, const T3& b) {
  T3 y = a;
  for (std::size_t i = 0; i < y.v.size(); ++i) y.v[i] += b.v[i];
  return y;
}

/// denseBlock4 (denseBlock.ts).
inline T3 dense_block4(const T3& x, const WeightMap& w, const std::string& p, bool first) {
  T3 out1;
  if (first) {
    out1 = conv2d(x, w.get(p + "conv0/filters"), 2, true);
    add_channel(out1, w.get(p + "conv0/bias"));
  } else {
    out1 = separable(x, w, p + "conv0/", 2);
  }
  relu(out1);
  const T3 out2 = separable(out1, w, p + "conv1/", 1);
  T3 in3 = sum(out1, out2);
  relu(in3);
  const T3 out3 = separable(in3, w, p + "conv2/", 1);
  T3 in4 = sum(out1, sum(out2, out3));
  relu(in4);
  const T3 out4 = separable(in4, w, p + "conv3/", 1);
  T3 y = sum(out1, sum(out2, sum(out3, out4)));
  relu(y);
  return y;
}

/// FaceLandmark68Net.runNet on one 112x112 face (see landmark_input()): 136 outputs.
inline std::vector<float> run_landmarks(const WeightMap& w, const Image& face) {
  T3 x(face.height, face.width, 3);
  for (std::size_t i = 0; i < x.v.size(); ++i)
    x.v[i] = static_cast<float>((face.rgb[i] - double(kMeanRgb[i % 3])) / 255.0);
  for (int b = 0; b < 4; ++b) x = dense_block4(x, w, "dense" + std::to_string(b) + "/", b == 0);
  const T3 pooled = pool(x, 7, 2, false);
  const Tensor& fw = w.get("fc/weights");
  const Tensor& fb = w.get("fc/bias");
  const int n = static_cast<int>(fw.shape[1]);
  std::vector<float> out(static_cast<std::size_t>(n));
  for (int j = 0; j < n; ++j) {
    double acc = 0;
    for (int k = 0; k < pooled.c; ++k) acc += double(pooled.v[k]) * fw.data[static_cast<std::size_t>(k) * n + j];
    out[j] = static_cast<float>(acc + fb.data[j]);
  }
  return out;
}

}  // namespace face::ref
