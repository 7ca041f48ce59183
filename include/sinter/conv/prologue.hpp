// sinter/conv/prologue.hpp - applying a prologue chain to runs of input pixels.
//
// Kernels that take a prologue read their input through a band buffer: the input rows
// (matrix rows for a linear layer) a block of output rows needs, transformed once by the
// chain. Padding is not in the band: padded taps read a zero row, so padding stays zero
// after the prologue (TF / PyTorch semantics).
//
// The chain runs on flat runs of floats. Pixels whose pixel stride equals their channel
// count C form one contiguous array, so a whole input row is transformed a vector at a
// time whatever C is: with C = 3 and 16 lanes, 16 floats (5 1/3 pixels) per vector
// instead of one partial vector per pixel. A per-channel operand x[c] is read from a
// periodic pattern built once per layer call, pattern[j] = x[c0 + j mod C] for
// j < P = lcm(C, lanes): the vector at flat offset i of a run starting on a pixel
// boundary reads pattern + (i mod P), a full aligned load since P is a multiple of the
// lanes (the pattern is built even for C a multiple of the lanes, P = C, so the loads
// are aligned whatever the operand's own alignment).
// Tensor operands are read along the run when their own pixel stride equals C too;
// otherwise (and for an input whose pixels are strided) each pixel is its own run.
#pragma once

#include <algorithm>
#include <array>
#include <numeric>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../core/masked.hpp"
#include "../epilogue/chain.hpp"

namespace sinter::conv {

namespace detail_ {

/// Operand kinds whose values along a flat run PrologueRuns knows how to load.
template <class O>
inline constexpr bool flat_operand = false;
template <>
inline constexpr bool flat_operand<Scalar> = true;
template <float V>
inline constexpr bool flat_operand<Constant<V>> = true;
template <>
inline constexpr bool flat_operand<PerChannel> = true;
template <>
inline constexpr bool flat_operand<Tensor> = true;

template <class Op>
constexpr bool flat_op() noexcept {
  if constexpr (BinaryOp<Op>) return flat_operand<std::remove_cvref_t<decltype(std::declval<const Op&>().operand)>>;
  else return true;
}

template <class Op, class O>
constexpr bool has_operand() noexcept {
  if constexpr (BinaryOp<Op>) return std::is_same_v<std::remove_cvref_t<decltype(std::declval<const Op&>().operand)>, O>;
  else return false;
}

template <class Pro>
struct chain_traits;
template <class... Ops>
struct chain_traits<Epilogue<Ops...>> {
  static constexpr bool flat = (flat_op<Ops>() && ...);
  static constexpr index_t per_channel_ops = (index_t{0} + ... + (has_operand<Ops, PerChannel>() ? 1 : 0));
};

}  // namespace detail_

/// A prologue chain bound for one layer call to the channels [c0, c0 + channels) of the
/// layer's input: applies it to runs of input pixels, writing them densely (pixel stride
/// `channels`) into a band buffer.
///
/// Built once per call (and per group): with a scratch of pattern_floats(channels)
/// floats it writes the per-channel patterns there (see the file comment); the scratch
/// must outlive the object and is only read afterwards, so workers may share it.
/// Per-channel operands index channels c0 + c; tensor operands have the input's shape
/// [N, H, W, C] (a linear layer: [1, 1, M, K]) and are read at the pixel's coordinate.
/// Results are bitwise those of the chain applied element by element: each op is the
/// op's own eval on the same float values.
template <class Arch, class Pro>
class PrologueRuns {
  using B = xsimd::batch<float, Arch>;
  using io = sinter::detail::masked_io<Arch>;
  static constexpr index_t L = static_cast<index_t>(B::size);
  static constexpr std::size_t nops = Pro::size;

 public:
  /// Every operand is of a kind read along flat runs (Scalar, Constant, PerChannel,
  /// Tensor); other kinds go through the chain's generic per-vector path.
  static constexpr bool flat = detail_::chain_traits<Pro>::flat;

  /// Period of the per-channel patterns: lcm(channels, lanes).
  static index_t period(index_t channels) noexcept { return std::lcm(channels, L); }

  /// Floats of scratch the patterns need for `channels` channels.
  static index_t pattern_floats(index_t channels) noexcept {
    return detail_::chain_traits<Pro>::per_channel_ops * period(channels);
  }

  PrologueRuns() = default;

  /// Binds `pro` (validated by the caller: per-channel operands hold >= c0 + channels
  /// values) and writes the patterns into `scratch` (pattern_floats(channels) floats,
  /// 64-byte aligned: the pattern loads are aligned, even where the operand is not).
  PrologueRuns(const Pro& pro, index_t c0, index_t channels, float* scratch) noexcept
      : pro_(&pro), c0_(c0), channels_(channels), period_(period(channels)) {
    bind(scratch, std::make_index_sequence<nops>{});
  }

  /// dst[x * channels + c] = pro(src[x * src_stride + c]) for w pixels x of a run along
  /// the width, the first at input coordinate `first` and pixel x at (first.n, first.h,
  /// first.w + x * step), channels c in [0, channels). One flat run when the pixels are
  /// contiguous (src_stride == channels, step 1) and so are every tensor operand's, else
  /// one run per pixel. Never reads past the w-th pixel's last channel, nor writes past
  /// dst + w * channels.
  void row(const float* src, index_t src_stride, float* dst, index_t w, RowCoord first,
           index_t step = 1) const noexcept {
    if constexpr (flat) {
      if (src_stride == channels_ && step == 1 && tensors_dense_) return run(src, dst, w * channels_, first);
      for (index_t x = 0; x < w; ++x)
        run(src + x * src_stride, dst + x * channels_, channels_, RowCoord{first.n, first.h, first.w + x * step});
    } else {
      generic_row(src, src_stride, dst, w, first, step);
    }
  }

 private:
  template <std::size_t I>
  using op_t = std::tuple_element_t<I, decltype(std::declval<const Pro&>().ops)>;
  template <std::size_t I>
  using operand_t = std::remove_cvref_t<decltype(std::declval<const op_t<I>&>().operand)>;

  template <std::size_t... I>
  void bind(float* scratch, std::index_sequence<I...>) noexcept {
    (bind_op<I>(scratch), ...);
  }
  template <std::size_t I>
  void bind_op([[maybe_unused]] float*& scratch) noexcept {
    using Op = op_t<I>;
    if constexpr (detail_::has_operand<Op, PerChannel>()) {
      const float* x = std::get<I>(pro_->ops).operand.data + c0_;
      for (index_t j = 0; j < period_; ++j) scratch[j] = x[j % channels_];
      pattern_[I] = scratch;
      scratch += period_;
    } else if constexpr (detail_::has_operand<Op, Tensor>()) {
      if (std::get<I>(pro_->ops).operand.view.stride_w != channels_) tensors_dense_ = false;
    }
  }

  // What op I needs along a run starting at pixel `first`: a broadcast scalar, the
  // pattern, or the tensor operand's pointer at that pixel.
  template <std::size_t I>
  [[gnu::always_inline]] auto state(RowCoord first) const noexcept {
    using Op = op_t<I>;
    if constexpr (!BinaryOp<Op>) {
      return sinter::detail::no_state{};
    } else if constexpr (std::is_same_v<operand_t<I>, Scalar>) {
      return B(std::get<I>(pro_->ops).operand.value);
    } else if constexpr (std::is_same_v<operand_t<I>, PerChannel>) {
      return pattern_[I];
    } else if constexpr (std::is_same_v<operand_t<I>, Tensor>) {
      return std::get<I>(pro_->ops).operand.view.pixel(first.n, first.h, first.w) + c0_;
    } else {
      return sinter::detail::no_state{};  // Constant<V>
    }
  }

  // Op I on the vector at flat offset i (pattern offset j); Tail: only `count` lanes
  // are valid and a tensor operand is read with a masked load.
  template <std::size_t I, bool Tail, class S>
  [[gnu::always_inline]] B step(B x, const S& s, index_t i, index_t j, [[maybe_unused]] int count) const noexcept {
    using Op = op_t<I>;
    if constexpr (!BinaryOp<Op>) {
      return std::get<I>(pro_->ops).eval(x);
    } else if constexpr (std::is_same_v<operand_t<I>, Scalar>) {
      return Op::eval(x, s);
    } else if constexpr (std::is_same_v<operand_t<I>, PerChannel>) {
      return Op::eval(x, B::load_aligned(s + j));  // j + lanes <= period: in the pattern
    } else if constexpr (std::is_same_v<operand_t<I>, Tensor>) {
      if constexpr (Tail) return Op::eval(x, io::load(s + i, count));
      else return Op::eval(x, B::load_unaligned(s + i));
    } else {
      return Op::eval(x, B(operand_t<I>::value));  // Constant<V>
    }
  }

  // dst[0 .. count) = pro(src[0 .. count)): whole pixels of `channels` channels, pixel
  // stride `channels`, the first at `first` (its channel 0 at pattern offset 0).
  void run(const float* src, float* dst, index_t count, RowCoord first) const noexcept {
    run_impl(src, dst, count, first, std::make_index_sequence<nops>{});
  }
  template <std::size_t... I>
  void run_impl(const float* src, float* dst, index_t count, RowCoord first, std::index_sequence<I...>) const noexcept {
    [[maybe_unused]] const auto st = std::make_tuple(state<I>(first)...);
    const index_t period = period_;  // a local: stores to dst cannot change it
    index_t i = 0, j = 0;
    for (; i + L <= count; i += L) {
      B x = B::load_unaligned(src + i);
      ((x = step<I, false>(x, std::get<I>(st), i, j, static_cast<int>(L))), ...);
      x.store_unaligned(dst + i);
      j += L;
      if (j == period) j = 0;
    }
    if (i < count) {
      const int rest = static_cast<int>(count - i);
      B x = io::load(src + i, rest);
      ((x = step<I, true>(x, std::get<I>(st), i, j, rest)), ...);
      io::store(dst + i, x, rest);
    }
  }

  // Operand kinds without a flat reader: the chain's own per-vector path, pixel by pixel.
  void generic_row(const float* src, index_t src_stride, float* dst, index_t w, RowCoord first,
                   index_t step) const noexcept {
    for (index_t x = 0; x < w; ++x) {
      const RowCoord rc{first.n, first.h, first.w + x * step};
      const float* s = src + x * src_stride;
      float* d = dst + x * channels_;
      for (index_t c = 0; c < channels_; c += L) {
        const int count = static_cast<int>(std::min<index_t>(L, channels_ - c));
        const TileLoc loc{&rc, c0_ + c};
        io::store(d + c, pro_->apply(io::load(s + c, count), loc, 0, 0, count), count);
      }
    }
  }

  const Pro* pro_ = nullptr;
  index_t c0_ = 0, channels_ = 0, period_ = 0;
  std::array<const float*, nops> pattern_{};  // per op: its per-channel pattern (else null)
  bool tensors_dense_ = true;                  // every tensor operand's pixel stride == channels
};

}  // namespace sinter::conv
