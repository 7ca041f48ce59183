// sinter/epilogue/operand.hpp - operand kinds of the binary element-wise ops.
//
// An operand says where the second input of Add/Sub/Mul/Div comes from for output
// element (pixel p, channel c):
//   Scalar        x            one run-time float for every element
//   Constant<V>   V            a compile-time float
//   PerChannel    x[c]         a vector of C floats (bias, folded batch-norm scale/shift)
//   Tensor        x[p][c]      a tensor of the output's shape with its own strides
//                              (residual / skip connection)
// Each kind loads its values once per register tile (tile_state) so the chain adds no
// memory traffic inside the tile beyond the operand's own data.
#pragma once

#include <cstring>
#include <span>

#include "../core/arch.hpp"
#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace sinter {

/// Output coordinates (batch n, row h, column w) of one row of a register tile.
struct RowCoord {
  index_t n = 0, h = 0, w = 0;
};

/// Where a register tile lies in the output: the coordinates of its rows (one per
/// tile row, tile-height entries) and its first output channel.
struct TileLoc {
  const RowCoord* rows = nullptr;
  index_t col0 = 0;
};

namespace detail {

/// Loads `count` (< lanes) floats from p into the low lanes of a batch, zero above.
/// Never reads past p + count.
template <class B>
inline B load_partial(const float* p, int count) noexcept {
  alignas(64) float tmp[B::size] = {};
  std::memcpy(tmp, p, static_cast<std::size_t>(count) * sizeof(float));
  return B::load_aligned(tmp);
}

/// Loads `count` (<= lanes) floats starting at p.
template <class B>
inline B load_upto(const float* p, int count) noexcept {
  return count == static_cast<int>(B::size) ? B::load_unaligned(p) : load_partial<B>(p, count);
}

struct no_state {};

}  // namespace detail

/// A run-time scalar operand: the same float for every output element.
struct Scalar {
  float value = 0.f;

  void validate(Shape4, const char*, int) const noexcept {}
  template <class B, int MR, int NV>
  struct state {
    B v;
    B get(int, int) const noexcept { return v; }
  };
  template <class B, int MR, int NV>
  state<B, MR, NV> tile_state(const TileLoc&) const noexcept {
    return {B(value)};
  }
  template <class B>
  B load_edge(const TileLoc&, int, index_t, int) const noexcept {
    return B(value);
  }
};

/// A compile-time scalar operand V (C++20 float template argument), e.g.
/// Mul<Constant<0.5f>>; folds into the generated code as an immediate broadcast.
template <float V>
struct Constant {
  static constexpr float value = V;

  void validate(Shape4, const char*, int) const noexcept {}
  template <class B, int MR, int NV>
  struct state {
    B get(int, int) const noexcept { return B(V); }
  };
  template <class B, int MR, int NV>
  state<B, MR, NV> tile_state(const TileLoc&) const noexcept {
    return {};
  }
  template <class B>
  B load_edge(const TileLoc&, int, index_t, int) const noexcept {
    return B(V);
  }
};

/// A per-output-channel operand: `size` floats at `data`, value x[c] for channel c.
/// For a layer with C output channels, `size` must equal C (checked when the op is
/// attached to a layer and at every call; sinter::error otherwise). `data` must stay
/// valid while the layer is used; it is read, never written.
struct PerChannel {
  const float* data = nullptr;
  index_t size = 0;

  void validate(Shape4 out, const char* layer, int pos) const {
    detail::check(data != nullptr, layer, ": per-channel operand of op ", pos, " is a null pointer");
    detail::check(size == out.c, layer, ": per-channel operand of op ", pos, ": expected ", out.c,
                  " values (output channels), got ", size);
  }
  template <class B, int MR, int NV>
  struct state {
    B v[NV];
    B get(int, int j) const noexcept { return v[j]; }
  };
  template <class B, int MR, int NV>
  state<B, MR, NV> tile_state(const TileLoc& t) const noexcept {
    state<B, MR, NV> s;
    for (int j = 0; j < NV; ++j) s.v[j] = B::load_unaligned(data + t.col0 + j * B::size);
    return s;
  }
  template <class B>
  B load_edge(const TileLoc& t, int, index_t col, int count) const noexcept {
    return detail::load_upto<B>(data + t.col0 + col, count);
  }
};

/// A full-tensor operand with the output's shape [N, H, W, C] (NHWC) and its own
/// strides, e.g. a residual. For a linear layer it is a [M x N] matrix (see
/// tensor(MatrixView)). Its shape must equal the output's (sinter::error otherwise) and
/// it must not overlap the output buffer (the output is written in place of partial
/// sums; sinter::error otherwise).
struct Tensor {
  TensorView<const float> view{};

  void validate(Shape4 out, const char* layer, int pos) const {
    detail::check(view.data != nullptr, layer, ": tensor operand of op ", pos, " is a null pointer");
    const Shape4 s = view.shape;
    detail::check(s == out, layer, ": tensor operand of op ", pos, ": expected shape [", out.n, ", ",
                  out.h, ", ", out.w, ", ", out.c, "], got [", s.n, ", ", s.h, ", ", s.w, ", ", s.c, "]");
  }
  template <class B, int MR, int NV>
  struct state {
    const float* row[MR];
    B get(int r, int j) const noexcept { return B::load_unaligned(row[r] + j * B::size); }
  };
  template <class B, int MR, int NV>
  state<B, MR, NV> tile_state(const TileLoc& t) const noexcept {
    state<B, MR, NV> s;
    for (int r = 0; r < MR; ++r) s.row[r] = view.pixel(t.rows[r].n, t.rows[r].h, t.rows[r].w) + t.col0;
    return s;
  }
  /// Tensors smaller than this are not prefetched (prefetch_tile does nothing): they
  /// come from L2 or L3, where the hardware prefetcher keeps up, and the prefetch
  /// instructions cost 2-4% on short-K layers (3x3x3 stems). Measured on the 1x1
  /// 256x256x32->64 and 3x3 s2 512x512x3->32 layers (16 and 8 MiB residuals), the
  /// fused chain (scale, shift, residual, ReLU) cost 1.61-1.76x and 1.41-1.71x the bare
  /// layer without prefetch, 1.32-1.36x and 1.21-1.23x with it (bench_conv, AVX-512,
  /// paired runs alternating the two builds).
  static constexpr std::size_t prefetch_min_bytes = std::size_t{2} << 20;

  /// Starts loading a full MR x (NV * lanes) tile's values into L1, one prefetch per
  /// 64-byte line of each row, for a kernel to call before it computes the tile.
  template <class B, int MR, int NV>
  [[gnu::always_inline]] inline void prefetch_tile(const TileLoc& t) const noexcept {
    const Shape4 s = view.shape;
    if (static_cast<std::size_t>(s.n * s.h * s.w * s.c) * sizeof(float) < prefetch_min_bytes) return;
    constexpr int bytes = NV * static_cast<int>(B::size) * static_cast<int>(sizeof(float));
    for (int r = 0; r < MR; ++r) {
      const char* p = reinterpret_cast<const char*>(view.pixel(t.rows[r].n, t.rows[r].h, t.rows[r].w) + t.col0);
      for (int off = 0; off < bytes; off += 64) detail::prefetch_l1(p + off);
    }
  }
  template <class B>
  B load_edge(const TileLoc& t, int r, index_t col, int count) const noexcept {
    const RowCoord& rc = t.rows[r];
    return detail::load_upto<B>(view.pixel(rc.n, rc.h, rc.w) + t.col0 + col, count);
  }
};

/// What an operand kind provides; see Scalar for the reference implementation.
template <class T>
concept Operand = requires(const T& o, Shape4 s, const TileLoc& t) {
  o.validate(s, "", 0);
  o.template tile_state<vec<>, 1, 1>(t).get(0, 0);
  { o.template load_edge<vec<>>(t, 0, index_t{0}, 1) } -> std::same_as<vec<>>;
};

/// Per-channel operand over `size` floats at `data` (see PerChannel).
inline PerChannel per_channel(const float* data, index_t size) { return {data, size}; }
/// Per-channel operand over a contiguous range (std::vector, std::array, span).
inline PerChannel per_channel(std::span<const float> values) {
  return {values.data(), static_cast<index_t>(values.size())};
}
/// Full-tensor operand over an NHWC view (see Tensor).
inline Tensor tensor(TensorView<const float> view) { return {view}; }
/// Full-tensor operand over a [rows x cols] matrix, for linear layers.
inline Tensor tensor(MatrixView<const float> m) { return {m.as_nhwc()}; }
/// Run-time scalar operand.
inline Scalar scalar(float v) { return {v}; }
/// Compile-time scalar operand, e.g. s::mul(s::constant<0.5f>).
template <float V>
inline constexpr Constant<V> constant{};

}  // namespace sinter
