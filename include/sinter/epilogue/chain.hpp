// sinter/epilogue/chain.hpp - a chain of element-wise ops as one type, and its
// evaluation on a register tile right before the tile's single store.
//
// Epilogue<Mul<PerChannel>, Add<PerChannel>, Add<Tensor>, ReLU> means
//   y = relu((acc * s[c] + b[c]) + r[p][c])
// The chain is unrolled at compile time: no branch, call or loop over ops at run time.
// Each binary op's operand is loaded once per tile (PerChannel: NV vectors; Tensor:
// MR row pointers) before the ops run on the accumulators.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../core/unroll.hpp"
#include "ops.hpp"

namespace sinter {

/// True when `Op` is a binary op with a Tensor operand.
template <class Op>
constexpr bool reads_tensor_op() noexcept {
  if constexpr (BinaryOp<Op>)
    return std::is_same_v<std::remove_cvref_t<decltype(std::declval<const Op&>().operand)>, Tensor>;
  else
    return false;
}

/// An ordered chain of element-wise ops applied to every output element, left to right.
/// `Ops`: any number (0 included) of ElementwiseOp types (Add<PerChannel>, ReLU, ...).
/// Holds the ops' run-time operands (scalars, pointers to per-channel vectors and
/// tensors); the structure is in the type.
template <class... Ops>
struct Epilogue {
  static_assert((ElementwiseOp<Ops> && ...),
                "sinter::Epilogue<Ops...>: every op must be an element-wise op such as "
                "Add<PerChannel>, Mul<Scalar>, Sub<Tensor>, ReLU, Clip or ClipTo<lo, hi>");

  std::tuple<Ops...> ops;

  static constexpr std::size_t size = sizeof...(Ops);

  Epilogue() = default;
  explicit Epilogue(Ops... o)
    requires(sizeof...(Ops) > 0)
      : ops(std::move(o)...) {}

  /// The chain with `op` appended.
  template <ElementwiseOp Op>
  Epilogue<Ops..., Op> then(Op op) const {
    return std::apply([&](const Ops&... o) { return Epilogue<Ops..., Op>(o..., std::move(op)); }, ops);
  }

  /// The I-th op (0-based), e.g. to rebind a tensor operand before a call.
  template <std::size_t I>
  auto& op() noexcept { return std::get<I>(ops); }
  template <std::size_t I>
  const auto& op() const noexcept { return std::get<I>(ops); }

  /// Checks every operand against an output of shape `out` (per-channel lengths,
  /// tensor shapes, null pointers). Throws sinter::error naming `layer` and the op.
  void validate(Shape4 out, const char* layer) const {
    validate_impl(out, layer, std::index_sequence_for<Ops...>{});
  }

  /// True when a tensor operand's memory overlaps `out`.
  bool reads_from(const TensorView<float>& out) const {
    bool hit = false;
    std::apply([&](const auto&... o) { ((hit = hit || overlap(o, out)), ...); }, ops);
    return hit;
  }

  /// Loads every operand of the chain for one full MR x (NV * lanes) register tile at
  /// `loc` (per-channel: NV vectors; tensor: MR row pointers; scalars: a broadcast).
  template <class B, int MR, int NV>
  [[gnu::always_inline]] inline auto tile_state(const TileLoc& loc) const noexcept {
    return std::apply([&](const Ops&... o) { return std::make_tuple(state_of<B, MR, NV>(o, loc)...); }, ops);
  }

  /// Starts loading the tensor operands of one full MR x (NV * lanes) tile at `loc`
  /// into L1 (see Tensor::prefetch_tile); a no-op for chains without them.
  template <class B, int MR, int NV>
  [[gnu::always_inline]] inline void prefetch_tile(const TileLoc& loc) const noexcept {
    std::apply([&](const Ops&... o) { (prefetch_of<B, MR, NV>(o, loc), ...); }, ops);
  }

  /// The chain applied to accumulator (r, j) of a full tile, given its tile_state().
  /// Kernels call this on each accumulator right before storing it; taking the value
  /// (not the accumulator array) keeps the accumulators in registers.
  template <class B, class St>
  [[gnu::always_inline]] inline B apply_tile(B x, const St& st, int r, int j) const noexcept {
    return eval_tile(x, st, r, j, std::index_sequence_for<Ops...>{});
  }

  /// Applies the chain to the top-left mr x nr corner of a tile kept in memory at
  /// `tile` (row r at tile + r * ld) and stores it at out_rows[r]; never touches
  /// columns >= nr or rows >= mr of the output or of any operand.
  template <class B>
  void store_edge(const float* tile, index_t ld, int mr, int nr, const TileLoc& loc,
                  float* const* out_rows) const noexcept {
    constexpr int L = static_cast<int>(B::size);
    for (int r = 0; r < mr; ++r) {
      for (int c = 0; c < nr; c += L) {
        const int count = nr - c < L ? nr - c : L;
        B x = B::load_unaligned(tile + r * ld + c);
        x = eval_edge(x, loc, r, c, count, std::index_sequence_for<Ops...>{});
        if (count == L) {
          x.store_unaligned(out_rows[r] + c);
        } else {
          alignas(64) float tmp[B::size];
          x.store_aligned(tmp);
          for (int i = 0; i < count; ++i) out_rows[r][c + i] = tmp[i];
        }
      }
    }
  }

  /// Applies the chain to one vector of `count` (<= lanes) valid values for tile row r,
  /// channels loc.col0 + col ... ; for kernels whose natural unit is a vector.
  template <class B>
  [[gnu::always_inline]] inline B apply(B x, const TileLoc& loc, int r, index_t col, int count) const noexcept {
    return eval_edge(x, loc, r, col, count, std::index_sequence_for<Ops...>{});
  }

 private:
  template <class Op>
  static bool overlap(const Op& op, const TensorView<float>& out) {
    if constexpr (reads_tensor_op<Op>()) return detail::overlaps(op.operand.view, out);
    return false;
  }

  template <std::size_t... I>
  void validate_impl([[maybe_unused]] Shape4 out, [[maybe_unused]] const char* layer,
                     std::index_sequence<I...>) const {
    (validate_op(std::get<I>(ops), out, layer, static_cast<int>(I)), ...);
  }
  template <class Op>
  static void validate_op(const Op& op, Shape4 out, const char* layer, int pos) {
    if constexpr (BinaryOp<Op>) op.operand.validate(out, layer, pos);
  }

  template <class B, int MR, int NV, class Op>
  static auto state_of(const Op& op, const TileLoc& loc) noexcept {
    if constexpr (BinaryOp<Op>) return op.operand.template tile_state<B, MR, NV>(loc);
    else return detail::no_state{};
  }

  template <class B, int MR, int NV, class Op>
  [[gnu::always_inline]] static inline void prefetch_of(const Op& op, const TileLoc& loc) noexcept {
    if constexpr (reads_tensor_op<Op>()) op.operand.template prefetch_tile<B, MR, NV>(loc);
  }

  template <class B, class St, std::size_t... I>
  [[gnu::always_inline]] inline B eval_tile(B x, [[maybe_unused]] const St& st, [[maybe_unused]] int r, [[maybe_unused]] int j,
                                            std::index_sequence<I...>) const noexcept {
    ((x = step(std::get<I>(ops), std::get<I>(st), x, r, j)), ...);
    return x;
  }
  template <class B, class Op, class S>
  [[gnu::always_inline]] static inline B step(const Op& op, const S& s, B x, int r, int j) noexcept {
    if constexpr (BinaryOp<Op>) return Op::eval(x, s.get(r, j));
    else return op.eval(x);
  }

  template <class B, std::size_t... I>
  [[gnu::always_inline]] inline B eval_edge(B x, [[maybe_unused]] const TileLoc& loc, [[maybe_unused]] int r,
                                            [[maybe_unused]] index_t col, [[maybe_unused]] int count,
                                            std::index_sequence<I...>) const noexcept {
    ((x = step_edge(std::get<I>(ops), x, loc, r, col, count)), ...);
    return x;
  }
  template <class B, class Op>
  [[gnu::always_inline]] static inline B step_edge(const Op& op, B x, const TileLoc& loc, int r, index_t col,
                                                   int count) noexcept {
    if constexpr (BinaryOp<Op>) return Op::eval(x, op.operand.template load_edge<B>(loc, r, col, count));
    else return op.eval(x);
  }
};

template <class T>
struct is_epilogue : std::false_type {};
template <class... Ops>
struct is_epilogue<Epilogue<Ops...>> : std::true_type {};

/// A chain type: sinter::Epilogue<Ops...>.
template <class T>
concept EpilogueChain = is_epilogue<std::remove_cvref_t<T>>::value;

/// Chain composition in value form: `relu() | clip(...)`, `chain | add(...)`.
template <ElementwiseOp A, ElementwiseOp B>
Epilogue<A, B> operator|(A a, B b) {
  return Epilogue<A, B>(std::move(a), std::move(b));
}
template <class... Ops, ElementwiseOp B>
Epilogue<Ops..., B> operator|(const Epilogue<Ops...>& chain, B b) {
  return chain.then(std::move(b));
}

}  // namespace sinter

namespace sinter {

/// A chain of element-wise ops applied to a layer's *input* before the kernel reads it
/// (input normalisation (x - mean[c]) / std[c], a per-channel scale, a residual add of
/// the block's input). Same ops and operand kinds as Epilogue; a per-channel operand
/// indexes input channels and a tensor operand has the input's shape. Zero padding is
/// applied after the prologue (TensorFlow / PyTorch semantics): padded positions stay
/// exactly zero whatever the prologue does.
template <class... Ops>
using Prologue = Epilogue<Ops...>;

/// Value-form marker attaching a chain as a layer's prologue:
/// s::prologue(s::sub(per_channel(mean)) | s::mul(per_channel(inv_std))) | s::conv2d<3, 3>(...)
template <class Chain>
struct prologue_of {
  Chain chain;
};

/// Wraps a chain (or a single op) to be attached before a layer with `|`.
template <class... Ops>
inline prologue_of<Prologue<Ops...>> prologue(const Epilogue<Ops...>& chain) {
  return {chain};
}
template <ElementwiseOp Op>
inline prologue_of<Prologue<Op>> prologue(Op op) {
  return {Prologue<Op>(std::move(op))};
}

}  // namespace sinter
