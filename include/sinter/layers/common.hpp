// sinter/layers/common.hpp - pieces shared by the layer types: algorithm tags, filter
// views, argument checks.
#pragma once

#include <cstddef>
#include <vector>

#include "../core/compiler_check.hpp"
#include "../core/tensor.hpp"
#include "../core/workspace.hpp"
#include "../epilogue/chain.hpp"

namespace sinter {

/// Marks a filter extent known only at run time: Kernel<dynamic, dynamic>.
inline constexpr index_t dynamic = 0;

/// Filter extent KH x KW as a type; dynamic (0) for a run-time extent.
template <index_t KH, index_t KW>
struct Kernel {
  static_assert(KH >= 0 && KW >= 0, "sinter::Kernel<KH, KW>: extents must be positive (or dynamic)");
  static constexpr index_t h = KH, w = KW;
};

/// A depthwise conv2d and a pointwise conv2d fused (layers/separable.hpp).
template <class Dw, class Pw>
class DepthwiseSeparable;

/// Convolution algorithms.
namespace algo {
/// Implicit im2col + the GEMM micro-kernel: any filter, stride, dilation, groups.
struct Im2col {};
/// Winograd F(2x2, 3x3) (Lavin & Gray 2015, conv/winograd.hpp): 3x3 filters, stride 1,
/// dilation 1, groups 1, any padding; 2.25x fewer multiplies than direct convolution.
struct Winograd2x3 {};
/// Picks the algorithm when the layer is built: Winograd2x3 for 3x3, stride-1,
/// dilation-1, groups-1 layers with C_in >= 16 and (C_in <= 64 or 8 * C_out >= C_in),
/// where it measured 1.1x to 2x faster; im2col otherwise. The rule and the
/// measurements behind it: conv::winograd2x3_preferred() in conv/winograd.hpp.
struct Automatic {};
inline constexpr Im2col im2col{};
inline constexpr Winograd2x3 winograd2x3{};
inline constexpr Automatic automatic{};
}  // namespace algo

/// Memory order of a filter tensor.
enum class FilterLayout {
  OHWI,  ///< [C_out, KH, KW, C_in/groups] (PyTorch's OIHW with channels last; XNNPACK)
  HWIO,  ///< [KH, KW, C_in/groups, C_out] (TensorFlow)
};

/// Non-owning view of a conv2d filter; `in` is C_in / groups.
struct FilterView {
  const float* data = nullptr;
  index_t out = 0, kh = 0, kw = 0, in = 0;
  FilterLayout layout = FilterLayout::OHWI;

  /// Element (co, y, x, ci).
  float at(index_t co, index_t y, index_t x, index_t ci) const noexcept {
    return layout == FilterLayout::OHWI ? data[((co * kh + y) * kw + x) * in + ci]
                                        : data[((y * kw + x) * in + ci) * out + co];
  }
};

/// OHWI filter [c_out, kh, kw, c_in_per_group].
inline FilterView ohwi(const float* data, index_t c_out, index_t kh, index_t kw, index_t c_in_per_group) {
  return {data, c_out, kh, kw, c_in_per_group, FilterLayout::OHWI};
}
/// HWIO filter [kh, kw, c_in_per_group, c_out], as TensorFlow stores it.
inline FilterView hwio(const float* data, index_t kh, index_t kw, index_t c_in_per_group, index_t c_out) {
  return {data, c_out, kh, kw, c_in_per_group, FilterLayout::HWIO};
}

namespace detail {

inline void check_shape_positive(Shape4 s, const char* layer, const char* what) {
  check(s.n > 0 && s.h > 0 && s.w > 0 && s.c > 0, layer, ": ", what, " sizes must be positive, got [", s.n, ", ",
        s.h, ", ", s.w, ", ", s.c, "]");
}

/// Channels contiguous and pixels, rows and images not overlapping.
template <class T>
inline void check_layout(const TensorView<T>& v, const char* layer, const char* what) {
  check(v.data != nullptr, layer, ": ", what, " is a null pointer");
  const Shape4 s = v.shape;
  check(v.stride_w >= s.c && v.stride_h >= s.w * v.stride_w && v.stride_n >= s.h * v.stride_h, layer, ": ", what,
        " strides must not overlap: expected stride_w >= ", s.c, ", stride_h >= W * stride_w, stride_n >= H * "
        "stride_h, got (",
        v.stride_n, ", ", v.stride_h, ", ", v.stride_w, ")");
}

/// The output view of a layer reading `in`: shape `expect`, no element shared with `in`.
inline void check_output(const TensorView<const float>& in, const TensorView<float>& out, Shape4 expect,
                         const char* layer) {
  check(out.shape == expect, layer, ": output shape: expected [", expect.n, ", ", expect.h, ", ", expect.w, ", ",
        expect.c, "], got [", out.shape.n, ", ", out.shape.h, ", ", out.shape.w, ", ", out.shape.c, "]");
  check(!overlaps(in, out), layer, ": output overlaps the input");
}

/// Checks an epilogue against the output and forbids operands that overlap it.
template <class Epi>
inline void check_epilogue(const Epi& epi, const TensorView<float>& out, const char* layer) {
  epi.validate(out.shape, layer);
  check(!epi.reads_from(out), layer, ": a tensor operand overlaps the output; pass a separate buffer");
}

/// Per-channel operand lengths against `channels`, when the layer is built.
template <class Epi>
inline void check_channels(const Epi& epi, index_t channels, const char* layer) {
  std::apply(
      [&](const auto&... op) {
        [[maybe_unused]] int pos = 0;
        (
            [&](const auto& o) {
              using Op = std::remove_cvref_t<decltype(o)>;
              if constexpr (BinaryOp<Op>) {
                if constexpr (std::is_same_v<std::remove_cvref_t<decltype(o.operand)>, PerChannel>)
                  o.operand.validate(Shape4{1, 1, 1, channels}, layer, pos);
              }
              ++pos;
            }(op),
            ...);
      },
      epi.ops);
}

/// A workspace owned by the call, for callers that pass none.
struct owned_workspace {
  std::vector<std::byte> bytes;
  explicit owned_workspace(std::size_t n) : bytes(n) {}
  workspace span() noexcept { return {bytes.data(), bytes.size()}; }
};

}  // namespace detail
}  // namespace sinter
