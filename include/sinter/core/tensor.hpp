// sinter/core/tensor.hpp - non-owning NHWC tensor views and row-major matrix views.
#pragma once

#include <cstdint>

#include "error.hpp"

namespace sinter {

/// Shape of an NHWC activation tensor: batch N, height H, width W, channels C.
struct Shape4 {
  index_t n = 0, h = 0, w = 0, c = 0;
  friend bool operator==(const Shape4&, const Shape4&) = default;
};

/// Non-owning view of an NHWC float tensor [N, H, W, C]. Channels are contiguous
/// (unit stride); `stride_w` (pixel stride), `stride_h` (row stride) and `stride_n`
/// (image stride) are in elements and may exceed the dense values, so a view can be a
/// channel slice of a larger tensor (concat-free writes) or a crop.
/// Dense strides: stride_w = C, stride_h = W * C, stride_n = H * W * C.
template <class T>
struct TensorView {
  T* data = nullptr;
  Shape4 shape{};
  index_t stride_n = 0, stride_h = 0, stride_w = 0;

  /// Element offset of pixel (n, h, w), channel 0.
  index_t offset(index_t n, index_t h, index_t w) const noexcept {
    return n * stride_n + h * stride_h + w * stride_w;
  }
  T* pixel(index_t n, index_t h, index_t w) const noexcept { return data + offset(n, h, w); }
  /// A read-only view of the same tensor.
  operator TensorView<const T>() const noexcept { return {data, shape, stride_n, stride_h, stride_w}; }
  /// Elements between the first and one past the last addressed element.
  index_t span() const noexcept {
    if (shape.n == 0 || shape.h == 0 || shape.w == 0 || shape.c == 0) return 0;
    return (shape.n - 1) * stride_n + (shape.h - 1) * stride_h + (shape.w - 1) * stride_w + shape.c;
  }
};

/// Dense NHWC view of `data` with shape [n, h, w, c].
/// Throws sinter::error if a size is negative or the element count overflows.
template <class T>
TensorView<T> nhwc(T* data, index_t n, index_t h, index_t w, index_t c) {
  detail::check(n >= 0 && h >= 0 && w >= 0 && c >= 0, "nhwc: sizes must be non-negative, got [",
                n, ", ", h, ", ", w, ", ", c, "]");
  const index_t sw = c;
  const index_t sh = detail::checked_mul(w, c, "nhwc");
  const index_t sn = detail::checked_mul(h, sh, "nhwc");
  detail::checked_mul(n, sn, "nhwc");
  return {data, {n, h, w, c}, sn, sh, sw};
}

/// Dense NHWC view of `data` with `shape`.
template <class T>
TensorView<T> nhwc(T* data, Shape4 shape) {
  return nhwc(data, shape.n, shape.h, shape.w, shape.c);
}

/// Non-owning view of a row-major float matrix [rows x cols] with leading dimension
/// `ld` >= cols (elements between the starts of consecutive rows).
template <class T>
struct MatrixView {
  T* data = nullptr;
  index_t rows = 0, cols = 0, ld = 0;
  operator MatrixView<const T>() const noexcept { return {data, rows, cols, ld}; }
  /// The same memory seen as an NHWC tensor [1, 1, rows, cols] (pixel stride = ld).
  TensorView<T> as_nhwc() const noexcept { return {data, {1, 1, rows, cols}, rows * ld, rows * ld, ld}; }
};

/// Row-major matrix view; `ld` defaults to `cols` (dense).
template <class T>
MatrixView<T> matrix(T* data, index_t rows, index_t cols, index_t ld = -1) {
  if (ld < 0) ld = cols;
  detail::check(rows >= 0 && cols >= 0, "matrix: sizes must be non-negative, got ", rows, " x ", cols);
  detail::check(ld >= cols, "matrix: leading dimension must be >= cols (", cols, "), got ", ld);
  detail::checked_mul(rows, ld, "matrix");
  return {data, rows, cols, ld};
}

namespace detail {

/// True when the element ranges addressed by two views intersect (conservative: uses
/// the address span, so interleaved views that never share an element may be reported).
template <class A, class B>
bool overlaps(const TensorView<A>& a, const TensorView<B>& b) noexcept {
  const auto a0 = reinterpret_cast<std::uintptr_t>(a.data);
  const auto b0 = reinterpret_cast<std::uintptr_t>(b.data);
  const auto a1 = a0 + static_cast<std::uintptr_t>(a.span()) * sizeof(float);
  const auto b1 = b0 + static_cast<std::uintptr_t>(b.span()) * sizeof(float);
  return a.span() > 0 && b.span() > 0 && a0 < b1 && b0 < a1;
}

}  // namespace detail
}  // namespace sinter
