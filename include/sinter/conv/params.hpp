// sinter/conv/params.hpp - convolution geometry: stride, dilation, padding, groups.
#pragma once

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace sinter {

/// A (height, width) pair; converts from one value for both.
struct HW {
  index_t h = 1, w = 1;
  constexpr HW() = default;
  constexpr HW(index_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose
  constexpr HW(index_t h_, index_t w_) : h(h_), w(w_) {}
};

/// Zero padding in pixels on each side; converts from one value for all four sides.
/// TF 'SAME' with stride 2 pads asymmetrically: see same_padding().
struct Padding {
  index_t top = 0, bottom = 0, left = 0, right = 0;
  constexpr Padding() = default;
  constexpr Padding(index_t all) : top(all), bottom(all), left(all), right(all) {}  // NOLINT
  constexpr Padding(index_t t, index_t b, index_t l, index_t r) : top(t), bottom(b), left(l), right(r) {}
};

/// Convolution parameters (PyTorch / ONNX Conv semantics):
///   out[n, oh, ow, co] = sum_{kh, kw, ci} in[n, oh*stride.h - pad.top + kh*dilation.h,
///                                           ow*stride.w - pad.left + kw*dilation.w,
///                                           g*Cin/groups + ci] * w[co, kh, kw, ci]
/// with g = co / (Cout/groups) and out-of-range input positions reading as zero.
struct Conv2DParams {
  HW stride{1};
  HW dilation{1};
  Padding pad{};
  index_t groups = 1;
};

/// TF 'SAME' padding for one spatial dimension: output = ceil(in / stride), padding
/// split with the extra pixel at the end (bottom / right), as TensorFlow does.
constexpr void same_padding_1d(index_t in, index_t k, index_t stride, index_t dilation, index_t& before,
                               index_t& after) noexcept {
  const index_t out = (in + stride - 1) / stride;
  const index_t eff = (k - 1) * dilation + 1;
  index_t total = (out - 1) * stride + eff - in;
  if (total < 0) total = 0;
  before = total / 2;
  after = total - before;
}

/// TF 'SAME' padding for an input of `in_h` x `in_w` and a `kh` x `kw` filter.
constexpr Padding same_padding(index_t in_h, index_t in_w, index_t kh, index_t kw, HW stride = 1,
                               HW dilation = 1) noexcept {
  Padding p;
  same_padding_1d(in_h, kh, stride.h, dilation.h, p.top, p.bottom);
  same_padding_1d(in_w, kw, stride.w, dilation.w, p.left, p.right);
  return p;
}

/// Output extent of a convolution along one dimension; may be <= 0 for a filter that
/// does not fit.
constexpr index_t conv_out_size(index_t in, index_t k, index_t stride, index_t dilation, index_t pad_before,
                                index_t pad_after) noexcept {
  const index_t eff = (k - 1) * dilation + 1;
  const index_t span = in + pad_before + pad_after - eff;
  return span < 0 ? 0 : span / stride + 1;
}

}  // namespace sinter
