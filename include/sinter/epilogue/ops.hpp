// sinter/epilogue/ops.hpp - the element-wise ops of prologue and epilogue chains.
//
// Every op is written once, here, as a functor over xsimd::batch; every kernel (GEMM,
// im2col and Winograd conv2d, depthwise, ...) evaluates the same definition. Binary ops
// combine the running value `acc` with an operand `x` (see operand.hpp for the kinds).
//
// NaN and Inf: arithmetic follows IEEE 754. ReLU, ReLU6 and Clip propagate NaN (as
// PyTorch's relu and clamp do): relu(NaN) = NaN, clip(NaN, lo, hi) = NaN;
// relu(-inf) = 0, relu(+inf) = +inf, clip(+-inf, lo, hi) = hi / lo.
#pragma once

#include <cmath>
#include <concepts>
#include <type_traits>

#include "operand.hpp"

namespace sinter {

// x86 maxps/minps return their second argument when either is NaN; putting the
// constant first makes NaN in `acc` propagate there, as NEON's fmax/fmin always do.
namespace detail {
template <class B>
inline B max_nan(B bound, B acc) noexcept { return xsimd::max(bound, acc); }
template <class B>
inline B min_nan(B bound, B acc) noexcept { return xsimd::min(bound, acc); }

// IEEE 754 division, correctly rounded. xsimd 8.1 divides float batches on AArch64 with
// the ARMv7 sequence (reciprocal estimate + 2 Newton steps, up to a few ulp off), though
// AArch64 has a true vector divide (FDIV); call it directly there.
template <class B>
inline B ieee_div(B num, B den) noexcept {
#if XSIMD_WITH_NEON64
  if constexpr (std::is_same_v<typename B::arch_type, xsimd::neon64> &&
                std::is_same_v<typename B::value_type, float>)
    return B(vdivq_f32(num.data, den.data));
  else
#endif
    return num / den;
}
}  // namespace detail

/// acc + x
template <Operand O>
struct Add {
  O operand;
  static constexpr const char* name = "add";
  template <class B>
  static B eval(B acc, B x) noexcept { return acc + x; }
};

/// acc - x
template <Operand O>
struct Sub {
  O operand;
  static constexpr const char* name = "sub";
  template <class B>
  static B eval(B acc, B x) noexcept { return acc - x; }
};

/// x - acc (reversed subtraction, as torch.rsub)
template <Operand O>
struct RSub {
  O operand;
  static constexpr const char* name = "rsub";
  template <class B>
  static B eval(B acc, B x) noexcept { return x - acc; }
};

/// acc * x
template <Operand O>
struct Mul {
  O operand;
  static constexpr const char* name = "mul";
  template <class B>
  static B eval(B acc, B x) noexcept { return acc * x; }
};

/// acc / x (a true IEEE division, not a multiplication by a reciprocal)
template <Operand O>
struct Div {
  O operand;
  static constexpr const char* name = "div";
  template <class B>
  static B eval(B acc, B x) noexcept { return detail::ieee_div(acc, x); }
};

/// x / acc (reversed division)
template <Operand O>
struct RDiv {
  O operand;
  static constexpr const char* name = "rdiv";
  template <class B>
  static B eval(B acc, B x) noexcept { return detail::ieee_div(x, acc); }
};

/// max(acc, 0), NaN propagating
struct ReLU {
  static constexpr const char* name = "relu";
  template <class B>
  B eval(B acc) const noexcept { return detail::max_nan(B(0.f), acc); }
};

/// min(max(acc, lo), hi) with run-time bounds, NaN propagating. Build with clip(lo, hi).
struct Clip {
  float lo = 0.f, hi = 0.f;
  static constexpr const char* name = "clip";
  template <class B>
  B eval(B acc) const noexcept { return detail::min_nan(B(hi), detail::max_nan(B(lo), acc)); }
};

/// min(max(acc, Lo), Hi) with compile-time bounds, NaN propagating.
template <float Lo, float Hi>
struct ClipTo {
  static_assert(Lo <= Hi, "sinter::ClipTo<Lo, Hi>: Lo must not exceed Hi");
  static constexpr const char* name = "clip";
  template <class B>
  B eval(B acc) const noexcept { return detail::min_nan(B(Hi), detail::max_nan(B(Lo), acc)); }
};

/// min(max(acc, 0), 6), as in MobileNet (Howard et al. 2017).
using ReLU6 = ClipTo<0.f, 6.f>;

/// An op with no operand: `eval(acc)`.
template <class T>
concept UnaryOp = requires(const T& op, vec<> x) {
  { op.eval(x) } -> std::same_as<vec<>>;
};

/// An op with an operand: `operand` member of an Operand kind and `eval(acc, x)`.
template <class T>
concept BinaryOp = requires(const T& op, vec<> x) {
  requires Operand<std::remove_cvref_t<decltype(op.operand)>>;
  { T::eval(x, x) } -> std::same_as<vec<>>;
};

/// Anything that can stand in a prologue or epilogue chain.
template <class T>
concept ElementwiseOp = UnaryOp<T> || BinaryOp<T>;

namespace detail {
template <class T>
struct operand_of {
  static_assert(Operand<T>,
                "sinter: operand must be a float, s::scalar(v), s::constant<V>, "
                "s::per_channel(...) or s::tensor(...)");
  using type = T;
};
template <std::floating_point T>
struct operand_of<T> {
  using type = Scalar;
};
template <class T>
using operand_t = typename operand_of<std::remove_cvref_t<T>>::type;

template <class T>
inline auto to_operand(const T& v) {
  if constexpr (std::is_floating_point_v<T>) return Scalar{static_cast<float>(v)};
  else return v;
}
}  // namespace detail

/// acc + x. `x`: a float (run-time scalar), s::constant<V>, s::per_channel(...) or
/// s::tensor(...).
template <class X>
inline Add<detail::operand_t<X>> add(const X& x) { return {detail::to_operand(x)}; }
/// acc - x
template <class X>
inline Sub<detail::operand_t<X>> sub(const X& x) { return {detail::to_operand(x)}; }
/// x - acc
template <class X>
inline RSub<detail::operand_t<X>> rsub(const X& x) { return {detail::to_operand(x)}; }
/// acc * x
template <class X>
inline Mul<detail::operand_t<X>> mul(const X& x) { return {detail::to_operand(x)}; }
/// acc / x
template <class X>
inline Div<detail::operand_t<X>> div(const X& x) { return {detail::to_operand(x)}; }
/// x / acc
template <class X>
inline RDiv<detail::operand_t<X>> rdiv(const X& x) { return {detail::to_operand(x)}; }
/// max(acc, 0)
inline ReLU relu() { return {}; }
/// min(max(acc, 0), 6)
inline ReLU6 relu6() { return {}; }
/// min(max(acc, lo), hi). Throws sinter::error unless lo <= hi (NaN bounds included).
inline Clip clip(float lo, float hi) {
  detail::check(lo <= hi, "clip: expected lo <= hi, got lo = ", lo, ", hi = ", hi);
  return {lo, hi};
}

}  // namespace sinter
