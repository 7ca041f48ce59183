// examples/face/recognizer.hpp - face-api's face recognition ResNet
// (face_recognition_model, a port of dlib's dlib_face_recognition_resnet_model_v1)
// with every conv and the fully connected layer a fused sinter layer.
//
// Architecture (face-api 1.7.15, src/faceRecognitionNet/): input 150x150x3 RGB in
// [0, 255], normalised to (x - mean_rgb) / 255 (the stem's prologue);
//   stem     conv7x7/2 'valid' 3->32 + bias, scale layer (* w + b), ReLU   -> 72x72x32
//   maxpool  3x3/2 'valid'                                                  -> 35x35x32
//   residual blocks, each conv + bias, scale layer, then ReLU:
//     block       relu(s2(relu(s1(conv3x3(x)))) + x), 'same' padding
//     down block  conv1 3x3/2 'valid'; shortcut avgpool 2x2/2 of x, channels zero-padded
//                 to C_out; when conv2's output is one pixel smaller than the shortcut,
//                 it is padded with a zero row (bottom) and column (right) first
//     32 x3, 64 down, 64 x3, 128 down, 128 x2, 256 down, 256 x2, 256 down  -> 2x2x256
//   mean over the 2x2 pixels, then fc 256 -> 128 (no bias): the descriptor.
// A block's second conv is one sinter layer:
//   conv3x3 | add(bias) | mul(scale) | add(shift) | add(tensor(shortcut)) | relu
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <optional>
#include <sinter/sinter.hpp>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "detector.hpp"
#include "image.hpp"
#include "weights.hpp"

namespace face {

/// Mean RGB subtracted from the recognition net's input (FaceRecognitionNet.ts).
inline constexpr std::array<float, 3> kMeanRgb{122.782f, 117.001f, 104.298f};

/// The residual blocks in order: weight prefix, output channels, down-sampling or not.
struct BlockSpec {
  const char* name;
  int out;
  bool down;
};
inline constexpr std::array<BlockSpec, 14> kBlocks{{{"conv32_1", 32, false},
                                                    {"conv32_2", 32, false},
                                                    {"conv32_3", 32, false},
                                                    {"conv64_down", 64, true},
                                                    {"conv64_1", 64, false},
                                                    {"conv64_2", 64, false},
                                                    {"conv64_3", 64, false},
                                                    {"conv128_down", 128, true},
                                                    {"conv128_1", 128, false},
                                                    {"conv128_2", 128, false},
                                                    {"conv256_down", 256, true},
                                                    {"conv256_1", 256, false},
                                                    {"conv256_2", 256, false},
                                                    {"conv256_down_out", 256, true}}};

/// The face recognition net, every conv built by `Policy` (Fused: one sinter layer per
/// conv with its whole chain; Unfused: bare convs and one pass per op, the baseline of
/// the benchmarks). `Algo` is the algorithm of the stride-1 3x3 convs (the bulk of the
/// work; algo::Automatic takes im2col for the two whose output is under 4x4). run()
/// maps a batch of 150x150 faces to 128-D descriptors; not for concurrent use.
template <class Algo = sinter::algo::Automatic, class Policy = Fused>
class Recognizer {
  using PC = s::PerChannel;
  using ScaleReLU = s::Epilogue<s::Add<PC>, s::Mul<PC>, s::Add<PC>, s::ReLU>;
  using ScaleResidualReLU = s::Epilogue<s::Add<PC>, s::Mul<PC>, s::Add<PC>, s::Add<s::Tensor>, s::ReLU>;
  template <class Bare, class Epi, class Pro = s::Prologue<>>
  using Make = decltype(Policy::make(std::declval<Bare>(), std::declval<const Epi&>(), std::declval<const Pro&>()));
  using Stem = Make<s::Conv2D<s::Kernel<7, 7>>, ScaleReLU, s::Prologue<s::Sub<PC>, s::Div<s::Constant<255.f>>>>;
  using Conv1 = Make<s::Conv2D<s::Kernel<3, 3>, Algo>, ScaleReLU>;
  using Conv1Down = Make<s::Conv2D<s::Kernel<3, 3>>, ScaleReLU>;
  using Conv2 = Make<s::Conv2D<s::Kernel<3, 3>, Algo>, ScaleResidualReLU>;
  // algo::Automatic cannot see the image size, and Winograd F(2x2,3x3) loses on outputs
  // under 4x4 (conv/winograd.hpp), so with it the conv2 of the two blocks whose output
  // is 3x3 and 1x1 runs im2col: those blocks took 0.27 -> 0.23 and 0.27 -> 0.20 ms, the
  // whole net about 4% less.
  using Conv2Small = Make<s::Conv2D<s::Kernel<3, 3>, s::algo::Im2col>, ScaleResidualReLU>;
  static constexpr int winograd_min_side = 4;

  struct Block {
    bool down = false;
    int in_side = 0, in_c = 0, mid_side = 0, out_side = 0, out_c = 0;
    std::optional<Conv1> c1;
    std::optional<Conv1Down> c1d;
    std::optional<Conv2> c2;
    std::optional<Conv2Small> c2_small;  // instead of c2 (see Conv2Small)
    std::vector<float> mid, pooled, out;
  };

 public:
  static constexpr int input_size = 150, descriptor_size = 128;

  /// Builds the layers from face_recognition_model's weights, with workspace for runs on
  /// up to `threads` workers. Throws face::error when a tensor is missing or has an
  /// unexpected shape.
  explicit Recognizer(const WeightMap& w, int threads = 1)
      : mean_(kMeanRgb.begin(), kMeanRgb.end()), threads_(std::max(threads, 1)) {
    stem_.emplace(Policy::make(
        s::conv2d<7, 7>(s::hwio(w.get("conv32_down/conv/filters", {7, 7, 3, 32}).data.data(), 7, 7, 3, 32),
                        conv_params(2)),
        scale(w, "conv32_down", 32) | s::relu(), s::sub(s::per_channel(mean_)) | s::div(s::constant<255.f>)));
    flops_ += 2.0 * 72 * 72 * 32 * 7 * 7 * 3;
    int side = 35, c = 32;  // after the stem (72) and the max-pool
    for (const auto& spec : kBlocks) {
      Block& b = blocks_.emplace_back();
      const std::string p = spec.name;
      b.down = spec.down;
      b.in_side = side;
      b.in_c = c;
      b.out_c = spec.out;
      const float* f1 = w.get(p + "/conv1/conv/filters", {3, 3, c, spec.out}).data.data();
      const float* f2 = w.get(p + "/conv2/conv/filters", {3, 3, spec.out, spec.out}).data.data();
      if (spec.down) {
        b.mid_side = (side - 3) / 2 + 1;
        b.out_side = side / 2;  // the shortcut's avg-pool size
        if (b.out_side != b.mid_side && b.out_side != b.mid_side + 1)
          throw error("recognizer: block " + p + ": unexpected sizes");
        b.c1d.emplace(Policy::make(s::conv2d<3, 3>(s::hwio(f1, 3, 3, c, spec.out), conv_params(2)),
                                   scale(w, p + "/conv1", spec.out) | s::relu()));
      } else {
        b.mid_side = b.out_side = side;
        b.c1.emplace(Policy::make(s::conv2d<3, 3, Algo>(s::hwio(f1, 3, 3, c, spec.out), conv_params(1, 1)),
                                  scale(w, p + "/conv1", spec.out) | s::relu()));
      }
      // The shortcut is bound before each call (its buffer depends on the batch).
      const auto epi2 = scale(w, p + "/conv2", spec.out) | s::add(s::tensor(s::TensorView<const float>{})) | s::relu();
      if (std::is_same_v<Algo, s::algo::Automatic> && b.mid_side < winograd_min_side)
        b.c2_small.emplace(
            Policy::make(s::conv2d<3, 3, s::algo::Im2col>(s::hwio(f2, 3, 3, spec.out, spec.out), conv_params(1, 1)),
                         epi2));
      else
        b.c2.emplace(Policy::make(s::conv2d<3, 3, Algo>(s::hwio(f2, 3, 3, spec.out, spec.out), conv_params(1, 1)),
                                  epi2));
      flops_ += 2.0 * b.mid_side * b.mid_side * spec.out * 9 * (c + spec.out);
      side = b.out_side;
      c = spec.out;
    }
    const Tensor& fc = w.get("fc", {256, descriptor_size});
    std::vector<float> wt(fc.data.size());  // [256 x 128] (K x N) -> [128 x 256] (N x K)
    for (int k = 0; k < 256; ++k)
      for (int n = 0; n < descriptor_size; ++n) wt[n * 256 + k] = fc.data[k * descriptor_size + n];
    fc_.emplace(s::linear(wt.data(), descriptor_size, 256));
    flops_ += 2.0 * 256 * descriptor_size;
  }

  /// Descriptors of `faces` (each input_size x input_size, see recognizer_input()),
  /// one 128-float row per face. With `layer_ms`, appends the time (ms) of the stem,
  /// the pooling, each block and the head. Throws face::error for an input of another
  /// size. `exec` spreads each layer over its workers (at most the constructor's
  /// `threads`; the output does not depend on it).
  template <s::Executor Exec = s::serial_executor>
  std::vector<std::array<float, descriptor_size>> run(std::span<const Image> faces,
                                                      std::vector<double>* layer_ms = nullptr, const Exec& exec = {}) {
    if (exec.threads() > threads_)
      throw error("recognizer: built for " + std::to_string(threads_) + " threads, run on " +
                  std::to_string(exec.threads()));
    const int n = static_cast<int>(faces.size());
    std::vector<std::array<float, descriptor_size>> out(faces.size());
    if (n == 0) return out;
    for (const auto& f : faces)
      if (f.width != input_size || f.height != input_size)
        throw error("recognizer: expected " + std::to_string(input_size) + "x" + std::to_string(input_size) +
                    " faces, got " + std::to_string(f.width) + "x" + std::to_string(f.height));
    reserve(n);
    LayerTimer t(layer_ms);
    const std::size_t img = static_cast<std::size_t>(input_size) * input_size * 3;
    for (int i = 0; i < n; ++i) std::copy(faces[i].rgb.begin(), faces[i].rgb.end(), input_.begin() + i * img);
    const s::workspace ws{workspace_.data(), workspace_.size()};
    (*stem_)(s::nhwc<const float>(input_.data(), n, input_size, input_size, 3), s::nhwc(stem_out_.data(), n, 72, 72, 32),
             ws, exec);
    t.lap();
    max_pool3x3s2(stem_out_.data(), n, 72, 32, pool_out_.data());
    t.lap();
    const float* x = pool_out_.data();
    for (auto& b : blocks_) {
      run_block(b, x, n, ws, exec);
      x = b.out.data();
      t.lap();
    }
    // Global average over the 2x2 map, then the fully connected layer.
    const Block& last = blocks_.back();
    const int px = last.out_side * last.out_side, c = last.out_c;
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < c; ++k) {
        float sum = 0;
        for (int p = 0; p < px; ++p) sum += x[(static_cast<std::size_t>(i) * px + p) * c + k];
        mean_out_[static_cast<std::size_t>(i) * c + k] = sum / px;
      }
    (*fc_)(s::matrix<const float>(mean_out_.data(), n, c), s::matrix(desc_.data(), n, descriptor_size), ws, exec);
    for (int i = 0; i < n; ++i) std::copy_n(&desc_[static_cast<std::size_t>(i) * descriptor_size], descriptor_size, out[i].data());
    t.lap();
    return out;
  }

  /// Floating-point operations per face (2 per multiply-add).
  double flops() const noexcept { return flops_; }

 private:
  /// add(bias) | mul(scale weights) | add(scale biases) of layer `p`.
  auto scale(const WeightMap& w, const std::string& p, int c) {
    return s::add(s::per_channel(keep(w, p + "/conv/bias", c))) |
           s::mul(s::per_channel(keep(w, p + "/scale/weights", c))) |
           s::add(s::per_channel(keep(w, p + "/scale/biases", c)));
  }
  std::span<const float> keep(const WeightMap& w, const std::string& name, int n) {
    return params_.emplace_back(w.get(name, {n}).data);
  }

  /// Buffers and workspace for a batch of n faces.
  void reserve(int n) {
    if (n <= batch_) return;
    batch_ = n;
    const std::size_t N = static_cast<std::size_t>(n);
    input_.assign(N * input_size * input_size * 3, 0.f);
    stem_out_.assign(N * 72 * 72 * 32, 0.f);
    pool_out_.assign(N * 35 * 35 * 32, 0.f);
    const int t = threads_;
    std::size_t ws = stem_->workspace_size({n, input_size, input_size, 3}, t);
    for (auto& b : blocks_) {
      b.mid.assign(N * b.mid_side * b.mid_side * b.out_c, 0.f);
      b.out.assign(N * b.out_side * b.out_side * b.out_c, 0.f);
      if (b.down) {
        b.pooled.assign(N * b.out_side * b.out_side * b.out_c, 0.f);
        ws = std::max(ws, b.c1d->workspace_size({n, b.in_side, b.in_side, b.in_c}, t));
      } else {
        ws = std::max(ws, b.c1->workspace_size({n, b.in_side, b.in_side, b.in_c}, t));
      }
      with_conv2(b, [&](auto& c2) { ws = std::max(ws, c2.workspace_size({n, b.mid_side, b.mid_side, b.out_c}, t)); });
    }
    mean_out_.assign(N * 256, 0.f);
    desc_.assign(N * descriptor_size, 0.f);
    ws = std::max(ws, fc_->workspace_size(t));
    workspace_.resize(ws);
  }

  /// tf.maxPool(x, 3, 2, 'valid') on [n, side, side, c].
  static void max_pool3x3s2(const float* x, int n, int side, int c, float* y) {
    const int os = (side - 3) / 2 + 1;
    for (int i = 0; i < n; ++i)
      for (int oy = 0; oy < os; ++oy)
        for (int ox = 0; ox < os; ++ox) {
          float* o = y + ((static_cast<std::size_t>(i) * os + oy) * os + ox) * c;
          std::fill_n(o, c, -INFINITY);
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx) {
              const float* p = x + ((static_cast<std::size_t>(i) * side + 2 * oy + ky) * side + 2 * ox + kx) * c;
              for (int k = 0; k < c; ++k) o[k] = std::max(o[k], p[k]);
            }
        }
  }

  /// f(conv2 of block b), whichever type it has.
  template <class F>
  static void with_conv2(Block& b, F&& f) {
    if (b.c2_small)
      f(*b.c2_small);
    else
      f(*b.c2);
  }

  /// conv2 of block b from `mid` into `out`, its residual operand `shortcut`.
  template <class Exec>
  static void run_conv2(Block& b, s::TensorView<const float> mid, s::TensorView<float> out,
                        s::TensorView<const float> shortcut, s::workspace ws, const Exec& exec) {
    with_conv2(b, [&](auto& c2) {
      c2.epilogue().template op<3>().operand = s::tensor(shortcut);
      c2(mid, out, ws, exec);
    });
  }

  template <class Exec>
  void run_block(Block& b, const float* x, int n, s::workspace ws, const Exec& exec) {
    const auto xin = s::nhwc<const float>(x, n, b.in_side, b.in_side, b.in_c);
    const auto mid = s::nhwc(b.mid.data(), n, b.mid_side, b.mid_side, b.out_c);
    const auto out = s::nhwc(b.out.data(), n, b.out_side, b.out_side, b.out_c);
    if (!b.down) {
      (*b.c1)(xin, mid, ws, exec);
      run_conv2(b, mid, out, xin, ws, exec);
      return;
    }
    (*b.c1d)(xin, mid, ws, exec);
    // Shortcut: tf.avgPool(x, 2, 2, 'valid'), channels zero-padded to C_out.
    const int ps = b.out_side, co = b.out_c;
    for (int i = 0; i < n; ++i)
      for (int py = 0; py < ps; ++py)
        for (int px = 0; px < ps; ++px) {
          float* o = &b.pooled[((static_cast<std::size_t>(i) * ps + py) * ps + px) * co];
          for (int k = 0; k < b.in_c; ++k) {
            float s4 = 0;
            for (int dy = 0; dy < 2; ++dy)
              for (int dx = 0; dx < 2; ++dx)
                s4 += x[((static_cast<std::size_t>(i) * b.in_side + 2 * py + dy) * b.in_side + 2 * px + dx) * b.in_c + k];
            o[k] = s4 / 4;
          }
          std::fill(o + b.in_c, o + co, 0.f);
        }
    // conv2's output (mid_side square) goes into the top-left of the shortcut-sized
    // output; the shortcut operand is the same window of the pooled tensor.
    const int q = b.mid_side;
    s::TensorView<float> win = out;
    win.shape.h = win.shape.w = q;
    s::TensorView<const float> sc = s::nhwc<const float>(b.pooled.data(), n, ps, ps, co);
    sc.shape.h = sc.shape.w = q;
    run_conv2(b, mid, win, sc, ws, exec);
    // The zero row / column that face-api concatenates: relu(0 + shortcut).
    for (int i = 0; i < n; ++i)
      for (int y = 0; y < ps; ++y)
        for (int xx = 0; xx < ps; ++xx) {
          if (y < q && xx < q) continue;
          const std::size_t o = ((static_cast<std::size_t>(i) * ps + y) * ps + xx) * co;
          for (int k = 0; k < co; ++k) b.out[o + k] = std::max(b.pooled[o + k], 0.f);
        }
  }

  std::vector<float> mean_;
  int threads_ = 1;
  std::deque<std::vector<float>> params_;
  std::optional<Stem> stem_;
  std::deque<Block> blocks_;
  std::optional<s::Linear<>> fc_;
  int batch_ = 0;
  std::vector<float> input_, stem_out_, pool_out_, mean_out_, desc_;
  std::vector<std::byte> workspace_;
  double flops_ = 0;
};

}  // namespace face
