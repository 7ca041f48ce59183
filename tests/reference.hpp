// tests/reference.hpp - the oracle of sinter's tests: a plain conv2d / linear written
// without the library's kernels, one reference node per epilogue op, an error bound
// carried along every value, random data and guarded buffers.
//
// Only sinter's view and shape structs (TensorView, MatrixView, Shape4, Conv2DParams)
// and the op / operand types (to read their operands) are used here; every number is
// computed by the loops below.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iomanip>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sinter/sinter.hpp>

namespace sinter_test {

namespace s = sinter;
using s::index_t;
using s::Shape4;

// ---------------------------------------------------------------------------------
// Tile and blocking sizes of the build's kernels. Edge-case sizes are derived from
// these, so the tests follow the kernels when their tiles are retuned.
// ---------------------------------------------------------------------------------
using arch = s::default_arch;
using blocking = s::gemm::blocking<arch>;
inline constexpr index_t MR = s::gemm_tile<arch>::mr;                       // tile rows
inline constexpr index_t LANES = static_cast<index_t>(s::vec<arch>::size);  // floats per vector
inline constexpr index_t NR = s::gemm_tile<arch>::nv * LANES;               // tile columns
inline constexpr index_t MC = blocking::mc;                                 // rows per cache block
inline constexpr index_t KC = blocking::kc;                                 // K per cache block
static_assert(NR == blocking::nr, "gemm_tile and gemm::blocking disagree on NR");

/// `values` with entries < 1 dropped, sorted, duplicates removed.
inline std::vector<index_t> sizes(std::vector<index_t> values) {
  std::erase_if(values, [](index_t v) { return v < 1; });
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

// ---------------------------------------------------------------------------------
// Random data (seeded, reproducible).
// ---------------------------------------------------------------------------------
class Rng {
 public:
  explicit Rng(std::uint32_t seed) : g_(seed) {}

  /// Uniform in [lo, hi].
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(g_); }
  /// |x| uniform in [lo, hi] (lo > 0), random sign: a divisor kept away from zero.
  float away_from_zero(float lo, float hi) {
    const float m = uniform(lo, hi);
    return (g_() & 1u) ? m : -m;
  }
  index_t integer(index_t lo, index_t hi) { return std::uniform_int_distribution<index_t>(lo, hi)(g_); }

  std::vector<float> uniform_vec(index_t n, float lo, float hi) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = uniform(lo, hi);
    return v;
  }
  std::vector<float> away_vec(index_t n, float lo, float hi) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = away_from_zero(lo, hi);
    return v;
  }

 private:
  std::mt19937 g_;
};

/// How the values of a generated array are drawn.
struct Dist {
  float lo = -1.f, hi = 1.f;
  bool away = false;  ///< |x| in [lo, hi] with a random sign (lo > 0)
  float draw(Rng& r) const { return away ? r.away_from_zero(lo, hi) : r.uniform(lo, hi); }
};
inline constexpr Dist unit{-1.f, 1.f, false};
inline constexpr Dist positive{0.25f, 1.f, false};
inline constexpr Dist divisor{0.5f, 2.f, true};

// ---------------------------------------------------------------------------------
// Sentinel and guarded buffers.
//
// Outputs live inside a larger allocation: `guard` floats before and after, and gaps
// between pixels / rows / images when the view is strided. Everything outside the view
// holds a quiet NaN with a distinctive payload; after a call the test checks that all
// of it still does (no write outside the output) and that no element of the view still
// does (every output element written).
// Strided inputs keep the same NaN in their gaps, so a kernel that reads a gap turns an
// output into NaN and fails the comparison. Dense inputs and operands are allocated at
// their exact size instead, so that AddressSanitizer sees any read past them.
// ---------------------------------------------------------------------------------
inline constexpr std::uint32_t sentinel_bits = 0x7FC5EA1Du;
inline float sentinel() { return std::bit_cast<float>(sentinel_bits); }
inline bool is_sentinel(float x) { return std::bit_cast<std::uint32_t>(x) == sentinel_bits; }

/// Runs the tasks on the calling thread in a shuffled order, each under a random
/// worker index in [0, n): what a pool of n threads may do, reproducible and usable
/// under AddressSanitizer and qemu. With n = 1: in order, worker 0 (serial_executor).
struct ShuffledExecutor {
  int n = 1;
  std::uint32_t seed = 0;
  int threads() const noexcept { return n; }
  template <class F>
  void parallel_for(index_t tasks, F&& f) const {
    std::vector<index_t> order(static_cast<std::size_t>(tasks));
    std::iota(order.begin(), order.end(), index_t{0});
    std::mt19937 g(seed);
    if (n > 1) std::shuffle(order.begin(), order.end(), g);
    for (index_t t : order) f(t, n > 1 ? static_cast<int>(g() % static_cast<std::uint32_t>(n)) : 0);
  }
};
static_assert(s::Executor<ShuffledExecutor>);

/// Memory layout of an NHWC tensor inside its allocation.
struct Layout {
  index_t pixel_pad = 0;  ///< extra floats per pixel: pixel stride = c0 + C + pixel_pad
  index_t c0 = 0;         ///< the view starts at channel c0 of each pixel (a channel slice)
  index_t row_pad = 0;    ///< extra floats per row
  index_t image_pad = 0;  ///< extra floats per image
  index_t guard = 0;      ///< floats before and after the whole tensor
  bool dense() const { return pixel_pad == 0 && c0 == 0 && row_pad == 0 && image_pad == 0; }
};

/// An NHWC float tensor view over its own allocation laid out as `Layout` says; the
/// floats outside the view start as the sentinel.
class Buffer4 {
 public:
  Buffer4() = default;
  Buffer4(Shape4 shape, Layout layout = {}) : shape_(shape), layout_(layout) {
    sw_ = layout.c0 + shape.c + layout.pixel_pad;
    sh_ = shape.w * sw_ + layout.row_pad;
    sn_ = shape.h * sh_ + layout.image_pad;
    const index_t body = shape.n * sn_;
    mem_.assign(static_cast<std::size_t>(body + 2 * layout.guard), sentinel());
    inside_.assign(mem_.size(), 0);
    for_each([&](index_t off, index_t, index_t, index_t, index_t) { inside_[static_cast<std::size_t>(off)] = 1; });
  }

  Shape4 shape() const { return shape_; }
  const Layout& layout() const { return layout_; }
  float* data() { return mem_.data() + base(); }
  const float* data() const { return mem_.data() + base(); }

  s::TensorView<float> view() { return {data(), shape_, sn_, sh_, sw_}; }
  s::TensorView<const float> view() const { return {data(), shape_, sn_, sh_, sw_}; }
  /// The tensor as a [W x C] matrix (N = H = 1), leading dimension = pixel stride.
  s::MatrixView<float> matrix() {
    REQUIRE((shape_.n == 1 && shape_.h == 1));
    return {data(), shape_.w, shape_.c, sw_};
  }
  s::MatrixView<const float> matrix() const {
    REQUIRE((shape_.n == 1 && shape_.h == 1));
    return {data(), shape_.w, shape_.c, sw_};
  }

  float& at(index_t n, index_t h, index_t w, index_t c) { return mem_[static_cast<std::size_t>(offset(n, h, w, c))]; }
  float at(index_t n, index_t h, index_t w, index_t c) const {
    return mem_[static_cast<std::size_t>(offset(n, h, w, c))];
  }

  /// Fills the view's elements with values drawn from `d`.
  void fill(Rng& rng, Dist d = unit) {
    for_each(
        [&](index_t off, index_t, index_t, index_t, index_t) { mem_[static_cast<std::size_t>(off)] = d.draw(rng); });
  }
  void fill_value(float v) {
    for_each([&](index_t off, index_t, index_t, index_t, index_t) { mem_[static_cast<std::size_t>(off)] = v; });
  }
  /// Sets every float, inside and outside the view, to the sentinel.
  void fill_sentinel() { std::fill(mem_.begin(), mem_.end(), sentinel()); }

  /// Floats outside the view that no longer hold the sentinel (writes out of bounds).
  std::size_t outside_changed() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < mem_.size(); ++i) n += !inside_[i] && !is_sentinel(mem_[i]);
    return n;
  }
  /// Elements of the view that still hold the sentinel (never written).
  std::size_t inside_unwritten() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < mem_.size(); ++i) n += inside_[i] && is_sentinel(mem_[i]);
    return n;
  }
  /// True when every float of the allocation holds the sentinel.
  bool all_sentinel() const {
    return std::all_of(mem_.begin(), mem_.end(), [](float x) { return is_sentinel(x); });
  }
  /// The view's elements in dense NHWC order.
  std::vector<float> dense() const {
    std::vector<float> v;
    v.reserve(static_cast<std::size_t>(shape_.n * shape_.h * shape_.w * shape_.c));
    for_each(
        [&](index_t off, index_t, index_t, index_t, index_t) { v.push_back(mem_[static_cast<std::size_t>(off)]); });
    return v;
  }

 private:
  index_t base() const { return layout_.guard + layout_.c0; }
  index_t offset(index_t n, index_t h, index_t w, index_t c) const { return base() + n * sn_ + h * sh_ + w * sw_ + c; }
  template <class F>
  void for_each(F&& f) const {
    for (index_t n = 0; n < shape_.n; ++n)
      for (index_t h = 0; h < shape_.h; ++h)
        for (index_t w = 0; w < shape_.w; ++w)
          for (index_t c = 0; c < shape_.c; ++c) f(offset(n, h, w, c), n, h, w, c);
  }

  Shape4 shape_{};
  Layout layout_{};
  index_t sn_ = 0, sh_ = 0, sw_ = 0;
  std::vector<float> mem_;
  std::vector<char> inside_;
};

/// Checks after a successful call: nothing written outside the view, every element of
/// the view written.
inline void check_guards(const Buffer4& out, const std::string& what) {
  INFO(what);
  CHECK_MESSAGE(out.outside_changed() == 0, "floats outside the output view were overwritten");
  CHECK_MESSAGE(out.inside_unwritten() == 0, "output elements were left unwritten");
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// ---------------------------------------------------------------------------------
// Reference values with an error bound.
//
// A Ref carries the exact-arithmetic value `v` of an output element (computed in
// double) and a magnitude `mag` such that the float32 result computed by any correct
// kernel satisfies
//     |got - v| <= steps * u * mag   (to first order),  u = 2^-24 = FLT_EPSILON / 2,
// where steps = K + (number of ops in the chain).
//
// Accumulation (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed.,
// eq. 3.5): a float32 dot product of K terms, in any order and blocking, with or without
// FMA, is within gamma_K * sum|a_i*b_i| of the exact value, gamma_K = K*u / (1 - K*u).
// So the conv / linear node starts with mag = sum|a_i*b_i| and K steps. (Typical errors
// are near sqrt(K)*u*mag; the bound is the worst case, which a correct kernel never
// exceeds, so any violation is a real defect, not noise.)
//
// Each element-wise op applies one float rounding (at most u * |its result|) to an
// input that already carries error e <= n*u*mag. Writing x for the op's operand (read
// exactly from float memory), the rules below keep e' <= (n + 1) * u * mag':
//   acc +- x, x - acc:  mag' = mag + |x|        (error adds, rounding <= u*(|acc|+|x|))
//   acc * x:           mag' = mag * |x|
//   acc / x:           mag' = mag / |x|        (x drawn away from zero by the tests)
//   x / acc:           mag' = |x| * mag / acc^2  (first order in e/|acc|; the element
//                                               is not checked when e > |acc| / 8)
//   relu, clip:        1-Lipschitz, exact: mag' = max(mag, |result|)
// and mag >= |v| always holds. A non-finite value is exact in IEEE arithmetic
// (finite + inf = inf, relu(-inf) = 0, ...): from there on mag restarts at |result|
// (0 while the value stays non-finite), and the compare requires NaN for NaN and the
// same infinity for an infinity.
//
// The test tolerance is (K + chain_length + 1) * FLT_EPSILON * mag = 2x that
// first-order bound: the factor 2 covers gamma_K's second-order term (K*u < 1e-3 for
// every K used here) and the reference's own double rounding (<= K * 2^-53 * mag),
// with no other slack. This is the tolerance of the im2col / GEMM kernels, whose
// arithmetic is an exact-order float dot product. An algorithm that rearranges the
// arithmetic (e.g. Winograd, whose transforms amplify rounding) needs its own stated
// bound, not this one.
// ---------------------------------------------------------------------------------
struct Ref {
  double v = 0.0;
  double mag = 0.0;
  bool checkable = true;  ///< false when the first-order bound does not apply
  double k = 0.0;         ///< K of the accumulation this value comes from
  double ops = 0.0;       ///< ops applied so far: the error is <= (k + ops) * u * mag
};

/// Output coordinates of one element: batch n, row h, column w, channel c. For a linear
/// layer an element (m, n) of the [M x N] output is (0, 0, m, n).
struct At {
  index_t n = 0, h = 0, w = 0, c = 0;
};

/// Reference accumulators of a layer: one Ref per output element (dense NHWC) and K,
/// the number of products summed per element.
struct RefTensor {
  Shape4 shape{};
  index_t k = 0;
  std::vector<Ref> data;
  Ref& at(index_t n, index_t h, index_t w, index_t c) { return data[index(n, h, w, c)]; }
  const Ref& at(index_t n, index_t h, index_t w, index_t c) const { return data[index(n, h, w, c)]; }

 private:
  std::size_t index(index_t n, index_t h, index_t w, index_t c) const {
    return static_cast<std::size_t>(((n * shape.h + h) * shape.w + w) * shape.c + c);
  }
};

/// Output extent of a convolution along one dimension (PyTorch's formula); 0 when the
/// dilated filter does not fit the padded input.
inline index_t ref_out_size(index_t in, index_t k, index_t stride, index_t dilation, index_t pad_before,
                            index_t pad_after) {
  const index_t padded = in + pad_before + pad_after;
  const index_t extent = dilation * (k - 1) + 1;
  if (padded < extent) return 0;
  return (padded - extent) / stride + 1;
}

/// Element (n, h, w, c) of a strided NHWC view, read with the view's own strides.
inline float read(const s::TensorView<const float>& t, index_t n, index_t h, index_t w, index_t c) {
  return t.data[n * t.stride_n + h * t.stride_h + w * t.stride_w + c];
}

/// Reference conv2d: input NHWC (any strides), filter OHWI [cout, kh, kw, cin/groups]
/// dense, PyTorch semantics (cross-correlation, zero padding, stride, dilation, groups):
///   out[n, y, x, co] = sum_{ky, kx, ci} in[n, y*sh - top + ky*dh, x*sw - left + kx*dw,
///                                          g*cin_g + ci] * w[co, ky, kx, ci]
/// with g = co / (cout / groups) and positions outside the input reading as zero.
/// Products are exact in double (24-bit x 24-bit mantissas); sums are in double.
inline RefTensor ref_conv2d(const s::TensorView<const float>& in, const std::vector<float>& w_ohwi, index_t cout,
                            index_t kh, index_t kw, const s::Conv2DParams& p) {
  const Shape4 is = in.shape;
  const index_t groups = p.groups, cin_g = is.c / groups, cout_g = cout / groups;
  RefTensor r;
  r.shape = {is.n, ref_out_size(is.h, kh, p.stride.h, p.dilation.h, p.pad.top, p.pad.bottom),
             ref_out_size(is.w, kw, p.stride.w, p.dilation.w, p.pad.left, p.pad.right), cout};
  r.k = kh * kw * cin_g;
  r.data.resize(static_cast<std::size_t>(r.shape.n * r.shape.h * r.shape.w * r.shape.c));
  for (index_t n = 0; n < r.shape.n; ++n)
    for (index_t y = 0; y < r.shape.h; ++y)
      for (index_t x = 0; x < r.shape.w; ++x)
        for (index_t co = 0; co < cout; ++co) {
          const index_t g = co / cout_g;
          double sum = 0.0, mag = 0.0;
          for (index_t ky = 0; ky < kh; ++ky) {
            const index_t iy = y * p.stride.h - p.pad.top + ky * p.dilation.h;
            if (iy < 0 || iy >= is.h) continue;
            for (index_t kx = 0; kx < kw; ++kx) {
              const index_t ix = x * p.stride.w - p.pad.left + kx * p.dilation.w;
              if (ix < 0 || ix >= is.w) continue;
              const float* wrow = w_ohwi.data() + ((co * kh + ky) * kw + kx) * cin_g;
              for (index_t ci = 0; ci < cin_g; ++ci) {
                const double prod = static_cast<double>(read(in, n, iy, ix, g * cin_g + ci)) * wrow[ci];
                sum += prod;
                mag += std::fabs(prod);
              }
            }
          }
          r.at(n, y, x, co) = {sum, mag, true, static_cast<double>(r.k), 0.0};
        }
  return r;
}

/// Reference linear layer: y[m, j] = sum_k x[m, k] * w[j, k]; w is [n x k] row-major.
inline RefTensor ref_linear(const s::MatrixView<const float>& x, const std::vector<float>& w, index_t n) {
  RefTensor r;
  r.shape = {1, 1, x.rows, n};
  r.k = x.cols;
  r.data.resize(static_cast<std::size_t>(x.rows * n));
  for (index_t m = 0; m < x.rows; ++m)
    for (index_t j = 0; j < n; ++j) {
      double sum = 0.0, mag = 0.0;
      for (index_t k = 0; k < x.cols; ++k) {
        const double prod = static_cast<double>(x.data[m * x.ld + k]) * w[static_cast<std::size_t>(j * x.cols + k)];
        sum += prod;
        mag += std::fabs(prod);
      }
      r.at(0, 0, m, j) = {sum, mag, true, static_cast<double>(r.k), 0.0};
    }
  return r;
}

// ---------------------------------------------------------------------------------
// Reference epilogue: one node per operand kind and one per op (CUTLASS-style host
// reference tree). A new op or operand kind without a node here does not compile in
// the tests.
// ---------------------------------------------------------------------------------

/// The operand's value for output element `at`, exactly as stored (float).
inline float operand_value(const s::Scalar& o, const At&) { return o.value; }
template <float V>
inline float operand_value(const s::Constant<V>&, const At&) {
  return V;
}
inline float operand_value(const s::PerChannel& o, const At& at) { return o.data[at.c]; }
inline float operand_value(const s::Tensor& o, const At& at) { return read(o.view, at.n, at.h, at.w, at.c); }

namespace detail {
/// The result of an op applied to `a`: value v, magnitude mag' (see the rules above),
/// one more op; non-finite values are exact.
inline Ref make(const Ref& a, double v, double mag, bool checkable) {
  if (!std::isfinite(v)) return {v, 0.0, checkable, a.k, a.ops + 1};
  if (!std::isfinite(mag)) mag = std::fabs(v);  // a finite value computed from a non-finite, exact one
  return {v, std::max(mag, std::fabs(v)), checkable, a.k, a.ops + 1};
}
inline double clamp_nan(double v, double lo, double hi) {
  if (std::isnan(v)) return v;  // NaN propagates (sinter's documented behaviour)
  return std::min(std::max(v, lo), hi);
}
}  // namespace detail

// acc + x
template <class O>
Ref ref_op(const s::Add<O>& op, Ref a, const At& at) {
  const double x = operand_value(op.operand, at);
  return detail::make(a, a.v + x, a.mag + std::fabs(x), a.checkable);
}
// acc - x
template <class O>
Ref ref_op(const s::Sub<O>& op, Ref a, const At& at) {
  const double x = operand_value(op.operand, at);
  return detail::make(a, a.v - x, a.mag + std::fabs(x), a.checkable);
}
// x - acc
template <class O>
Ref ref_op(const s::RSub<O>& op, Ref a, const At& at) {
  const double x = operand_value(op.operand, at);
  return detail::make(a, x - a.v, a.mag + std::fabs(x), a.checkable);
}
// acc * x
template <class O>
Ref ref_op(const s::Mul<O>& op, Ref a, const At& at) {
  const double x = operand_value(op.operand, at);
  return detail::make(a, a.v * x, a.mag * std::fabs(x), a.checkable);
}
// acc / x
template <class O>
Ref ref_op(const s::Div<O>& op, Ref a, const At& at) {
  const double x = operand_value(op.operand, at);
  const bool ok = a.checkable && x != 0.0;
  return detail::make(a, a.v / x, ok ? a.mag / std::fabs(x) : 0.0, ok);
}
// x / acc
template <class O>
Ref ref_op(const s::RDiv<O>& op, Ref a, const At& at) {
  const double x = operand_value(op.operand, at);
  if (!std::isfinite(a.v)) return detail::make(a, x / a.v, 0.0, a.checkable);
  // The first-order bound needs the error e of the divisor to be small against it;
  // e is at most the tolerance of `a`, (k + ops + 1) * FLT_EPSILON * mag.
  const double e = (a.k + a.ops + 1.0) * FLT_EPSILON * a.mag;
  const bool ok = a.checkable && std::fabs(a.v) > 8.0 * e;
  return detail::make(a, x / a.v, ok ? std::fabs(x) * a.mag / (a.v * a.v) : 0.0, ok);
}
// max(acc, 0), NaN propagating
inline Ref ref_op(const s::ReLU&, Ref a, const At&) {
  return detail::make(a, detail::clamp_nan(a.v, 0.0, INFINITY), a.mag, a.checkable);
}
// min(max(acc, lo), hi), NaN propagating
inline Ref ref_op(const s::Clip& op, Ref a, const At&) {
  return detail::make(a, detail::clamp_nan(a.v, op.lo, op.hi), a.mag, a.checkable);
}
template <float Lo, float Hi>
Ref ref_op(const s::ClipTo<Lo, Hi>&, Ref a, const At&) {
  return detail::make(a, detail::clamp_nan(a.v, Lo, Hi), a.mag, a.checkable);
}

/// The whole chain, ops left to right.
template <class... Ops>
Ref ref_epilogue(const s::Epilogue<Ops...>& e, Ref r, const At& at) {
  std::apply([&](const Ops&... op) { ((r = ref_op(op, r, at)), ...); }, e.ops);
  return r;
}

// ---------------------------------------------------------------------------------
// IEEE float32 evaluation of single ops: what one correctly rounded float operation
// gives for a float input. Used to check that an op is exactly the documented IEEE
// operation (e.g. a true division, the operands in the documented order) on the
// layer's own accumulators.
// ---------------------------------------------------------------------------------
template <class O>
float ieee_op(const s::Add<O>& op, float a, const At& at) {
  return a + operand_value(op.operand, at);
}
template <class O>
float ieee_op(const s::Sub<O>& op, float a, const At& at) {
  return a - operand_value(op.operand, at);
}
template <class O>
float ieee_op(const s::RSub<O>& op, float a, const At& at) {
  return operand_value(op.operand, at) - a;
}
template <class O>
float ieee_op(const s::Mul<O>& op, float a, const At& at) {
  return a * operand_value(op.operand, at);
}
template <class O>
float ieee_op(const s::Div<O>& op, float a, const At& at) {
  return a / operand_value(op.operand, at);
}
template <class O>
float ieee_op(const s::RDiv<O>& op, float a, const At& at) {
  return operand_value(op.operand, at) / a;
}
inline float ieee_op(const s::ReLU&, float a, const At&) { return std::isnan(a) ? a : (a > 0.f ? a : 0.f); }
inline float ieee_op(const s::Clip& op, float a, const At&) {
  return std::isnan(a) ? a : std::min(std::max(a, op.lo), op.hi);
}
template <float Lo, float Hi>
float ieee_op(const s::ClipTo<Lo, Hi>&, float a, const At&) {
  return std::isnan(a) ? a : std::min(std::max(a, Lo), Hi);
}
/// Ops applied one after the other, each rounded to float.
template <class... Ops>
float ieee_epilogue(const s::Epilogue<Ops...>& e, float a, const At& at) {
  std::apply([&](const Ops&... op) { ((a = ieee_op(op, a, at)), ...); }, e.ops);
  return a;
}

/// The input after a prologue chain `pro` (the ops of ieee_epilogue), element by element.
template <class Pro>
Buffer4 prologue_input(const Buffer4& in, const Pro& pro) {
  const Shape4 sh = in.shape();
  Buffer4 x(sh);
  for (index_t n = 0; n < sh.n; ++n)
    for (index_t h = 0; h < sh.h; ++h)
      for (index_t w = 0; w < sh.w; ++w)
        for (index_t c = 0; c < sh.c; ++c) x.at(n, h, w, c) = ieee_epilogue(pro, in.at(n, h, w, c), At{n, h, w, c});
  return x;
}

/// Equal as IEEE values, with every NaN equal to every NaN.
inline bool same_value(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// ---------------------------------------------------------------------------------
// Comparison.
// ---------------------------------------------------------------------------------

/// Largest |got - ref| / tolerance seen by this program (printed at exit when the
/// environment variable SINTER_TEST_TOLERANCE_REPORT is set), to show how much of the
/// bound the kernels use.
struct ToleranceUse {
  double worst = 0.0;
  std::string where;
  std::size_t checked = 0, skipped = 0;
  ~ToleranceUse() {
    if (std::getenv("SINTER_TEST_TOLERANCE_REPORT"))
      std::printf("tolerance use: %zu elements checked, %zu not checkable; largest error / tolerance = %.3g (%s)\n",
                  checked, skipped, worst, where.c_str());
  }
};
inline ToleranceUse tolerance_use;

/// Checks every element of `got` against the reference chain `epi` applied to the
/// reference accumulators `acc`, with the tolerance stated above. Reports the first
/// mismatches with their coordinates.
template <class Epi>
void check_output(const s::TensorView<const float>& got, const RefTensor& acc, const Epi& epi,
                  const std::string& what) {
  INFO(what);
  REQUIRE(got.shape == acc.shape);
  std::size_t bad = 0, skipped = 0, total = 0;
  double worst = 0.0;
  std::ostringstream first;
  first << std::setprecision(9);  // enough digits to tell floats apart
  const Shape4 sh = acc.shape;
  for (index_t n = 0; n < sh.n; ++n)
    for (index_t h = 0; h < sh.h; ++h)
      for (index_t w = 0; w < sh.w; ++w)
        for (index_t c = 0; c < sh.c; ++c) {
          ++total;
          const At at{n, h, w, c};
          const Ref r = ref_epilogue(epi, acc.at(n, h, w, c), at);
          const float g = read(got, n, h, w, c);
          if (!r.checkable) {
            ++skipped;
            continue;
          }
          bool ok;
          double tol = 0.0, err = 0.0;
          if (std::isnan(r.v)) {
            ok = std::isnan(g);
          } else if (!std::isfinite(r.v)) {
            ok = static_cast<double>(g) == r.v;
          } else {
            // (K + chain length + 1) * eps * mag, K of the tensor (a kernel with its own
            // error analysis states its K there, e.g. Winograd's C_in + 7).
            tol = (static_cast<double>(acc.k) + r.ops + 1.0) * FLT_EPSILON * r.mag;
            err = std::fabs(static_cast<double>(g) - r.v);
            ok = std::isfinite(g) && err <= tol;
            if (ok && tol > 0.0) worst = std::max(worst, err / tol);
          }
          if (!ok && bad++ < 8)
            first << "\n  at [n " << n << ", h " << h << ", w " << w << ", c " << c << "]: got " << g << ", expected "
                  << r.v << " (|error| " << err << ", tolerance " << tol << ")";
        }
  tolerance_use.checked += total - skipped;
  tolerance_use.skipped += skipped;
  if (worst > tolerance_use.worst) {
    tolerance_use.worst = worst;
    tolerance_use.where = what;
  }
  const std::string detail = first.str();
  INFO("first mismatches:" << detail);
  CHECK_MESSAGE(bad == 0, bad << " of " << total << " elements outside the tolerance");
  // A test whose elements mostly escape the bound would check nothing.
  CHECK_MESSAGE(skipped * 8 <= total, skipped << " of " << total << " elements could not be checked");
}

// ---------------------------------------------------------------------------------
// Operands for one layer: per-channel vectors and tensors of the output's shape,
// owned here so they outlive the layer call.
// ---------------------------------------------------------------------------------
class Operands {
 public:
  Operands(Rng& rng, Shape4 out) : rng_(rng), out_(out) {}

  Shape4 out_shape() const { return out_; }
  Rng& rng() { return rng_; }

  /// C values (one per output channel), exact-size allocation.
  s::PerChannel per_channel(Dist d = unit) {
    std::vector<float>& v = vectors_.emplace_back(static_cast<std::size_t>(out_.c));
    for (float& x : v) x = d.draw(rng_);
    return s::per_channel(v);
  }
  /// A tensor of the output's shape; `layout` may give it its own strides (gaps hold NaN).
  s::Tensor tensor(Dist d = unit, Layout layout = {}) { return s::tensor(make_tensor(d, layout).view()); }
  /// For linear layers: an [M x N] matrix with leading dimension N + ld_pad.
  s::Tensor matrix(Dist d = unit, index_t ld_pad = 0) {
    Buffer4& b = make_tensor(d, Layout{.pixel_pad = ld_pad});
    const s::MatrixView<const float> m = b.matrix();
    return s::tensor(m);
  }
  /// The storage of the last tensor made, e.g. to place special values in it.
  Buffer4& last_tensor() { return tensors_.back(); }

 private:
  Buffer4& make_tensor(Dist d, Layout layout) {
    Buffer4& b = tensors_.emplace_back(out_, layout);
    b.fill(rng_, d);
    return b;
  }
  Rng& rng_;
  Shape4 out_;
  std::deque<std::vector<float>> vectors_;
  std::deque<Buffer4> tensors_;
};

/// `x` as a chain: an Epilogue stays as it is, one op becomes Epilogue<Op>.
template <class X>
auto as_chain(X x) {
  if constexpr (s::EpilogueChain<X>)
    return x;
  else
    return s::Epilogue<X>(std::move(x));
}

// ---------------------------------------------------------------------------------
// Linear cases.
// ---------------------------------------------------------------------------------
struct LinearCase {
  index_t m = 1, n = 1, k = 1;
  index_t x_ld_pad = 0, y_ld_pad = 0;  ///< leading dimension = cols + pad
  Dist x_dist = unit, w_dist = unit;

  std::string name() const {
    std::ostringstream os;
    os << "linear M=" << m << " N=" << n << " K=" << k;
    if (x_ld_pad || y_ld_pad) os << " ldx=" << k + x_ld_pad << " ldy=" << n + y_ld_pad;
    return os.str();
  }
  Shape4 out_shape() const { return {1, 1, m, n}; }
};

/// Input, weights and reference accumulators of a linear case.
struct LinearData {
  Buffer4 x;
  std::vector<float> w;  // [n x k]
  RefTensor acc;
};

inline LinearData make_linear_data(const LinearCase& lc, Rng& rng) {
  LinearData d;
  d.x = Buffer4({1, 1, lc.m, lc.k}, Layout{.pixel_pad = lc.x_ld_pad});
  d.x.fill(rng, lc.x_dist);
  d.w.resize(static_cast<std::size_t>(lc.n * lc.k));
  for (float& v : d.w) v = lc.w_dist.draw(rng);
  d.acc = ref_linear(std::as_const(d.x).matrix(), d.w, lc.n);
  return d;
}

/// Runs `layer` on the case's input into a guarded output; checks the guards.
template <class Layer>
Buffer4 run_linear(const Layer& layer, const LinearCase& lc, const LinearData& d, const std::string& what) {
  Buffer4 y(lc.out_shape(), Layout{.pixel_pad = lc.y_ld_pad, .guard = 64});
  layer(d.x.matrix(), y.matrix());
  check_guards(y, what);
  return y;
}

/// Builds linear(w) | chain (type form, `make(ops)` gives the chain or one op), runs it
/// and checks the output against the reference.
template <class MakeChain>
void linear_case(const LinearCase& lc, std::uint32_t seed, MakeChain&& make, const std::string& label = {}) {
  const std::string what = lc.name() + (label.empty() ? "" : ", " + label) + ", seed " + std::to_string(seed);
  Rng rng(seed);
  LinearData d = make_linear_data(lc, rng);
  Operands ops(rng, lc.out_shape());
  auto chain = as_chain(make(ops));
  using Epi = decltype(chain);
  const s::Linear<Epi> layer(d.w.data(), lc.n, lc.k, chain);
  const Buffer4 y = run_linear(layer, lc, d, what);
  check_output(y.view(), d.acc, layer.epilogue(), what);
}

// ---------------------------------------------------------------------------------
// Conv2d cases.
// ---------------------------------------------------------------------------------
struct ConvCase {
  index_t n = 1, h = 1, w = 1, cin = 1, cout = 1, kh = 1, kw = 1;
  s::Conv2DParams p{};
  Layout in_layout{};   ///< input memory layout (gaps hold NaN)
  Layout out_layout{};  ///< output memory layout (guard is always added)
  Dist x_dist = unit, w_dist = unit;

  std::string name() const {
    std::ostringstream os;
    os << "conv2d N=" << n << " " << h << "x" << w << " Cin=" << cin << " Cout=" << cout << " k=" << kh << "x" << kw
       << " stride=" << p.stride.h << "x" << p.stride.w;
    if (p.dilation.h != 1 || p.dilation.w != 1) os << " dilation=" << p.dilation.h << "x" << p.dilation.w;
    if (p.pad.top || p.pad.bottom || p.pad.left || p.pad.right)
      os << " pad(t,b,l,r)=(" << p.pad.top << "," << p.pad.bottom << "," << p.pad.left << "," << p.pad.right << ")";
    if (p.groups != 1) os << " groups=" << p.groups;
    if (!in_layout.dense()) os << " strided input";
    if (!out_layout.dense()) os << " strided output (c0=" << out_layout.c0 << ", pad=" << out_layout.pixel_pad << ")";
    return os.str();
  }
  Shape4 in_shape() const { return {n, h, w, cin}; }
  Shape4 out_shape() const {
    return {n, ref_out_size(h, kh, p.stride.h, p.dilation.h, p.pad.top, p.pad.bottom),
            ref_out_size(w, kw, p.stride.w, p.dilation.w, p.pad.left, p.pad.right), cout};
  }
};

/// Input, OHWI weights and reference accumulators of a conv case.
struct ConvData {
  Buffer4 in;
  std::vector<float> w;  // OHWI [cout, kh, kw, cin / groups]
  RefTensor acc;
  index_t cout = 0, kh = 0, kw = 0, cin_g = 0;
  s::FilterView filter() const { return s::ohwi(w.data(), cout, kh, kw, cin_g); }
};

inline ConvData make_conv_data(const ConvCase& cc, Rng& rng) {
  ConvData d;
  d.in = Buffer4(cc.in_shape(), cc.in_layout);
  d.in.fill(rng, cc.x_dist);
  d.cout = cc.cout;
  d.kh = cc.kh;
  d.kw = cc.kw;
  d.cin_g = cc.cin / cc.p.groups;
  d.w.resize(static_cast<std::size_t>(cc.cout * cc.kh * cc.kw * d.cin_g));
  for (float& v : d.w) v = cc.w_dist.draw(rng);
  d.acc = ref_conv2d(std::as_const(d.in).view(), d.w, cc.cout, cc.kh, cc.kw, cc.p);
  return d;
}

/// The OHWI filter `w` [cout, kh, kw, cin_g] transposed to HWIO [kh, kw, cin_g, cout].
inline std::vector<float> to_hwio(const std::vector<float>& w, index_t cout, index_t kh, index_t kw, index_t cin_g) {
  std::vector<float> t(w.size());
  for (index_t o = 0; o < cout; ++o)
    for (index_t y = 0; y < kh; ++y)
      for (index_t x = 0; x < kw; ++x)
        for (index_t i = 0; i < cin_g; ++i)
          t[static_cast<std::size_t>(((y * kw + x) * cin_g + i) * cout + o)] =
              w[static_cast<std::size_t>(((o * kh + y) * kw + x) * cin_g + i)];
  return t;
}

/// Runs `layer` on the case's input into a guarded output laid out as the case says;
/// checks the output shape the layer reports and the guards.
template <class Layer>
Buffer4 run_conv(const Layer& layer, const ConvCase& cc, const ConvData& d, const std::string& what) {
  INFO(what);
  const Shape4 expect = cc.out_shape();
  const Shape4 got = layer.output_shape(cc.in_shape());
  CHECK_MESSAGE(got == expect, "output_shape(): expected [" << expect.n << ", " << expect.h << ", " << expect.w << ", "
                                                            << expect.c << "], got [" << got.n << ", " << got.h << ", "
                                                            << got.w << ", " << got.c << "]");
  Layout ol = cc.out_layout;
  ol.guard = std::max<index_t>(ol.guard, 64);
  Buffer4 out(expect, ol);
  layer(d.in.view(), out.view());
  check_guards(out, what);
  return out;
}

/// Builds conv2d<KH, KW>(filter, p, algo::im2col) | chain (value form; KH = KW =
/// dynamic for a run-time extent; `make(ops)` gives the chain or one op), runs it and
/// checks the output against the reference with the im2col bound.
template <index_t KH = s::dynamic, index_t KW = KH, class MakeChain>
void conv_case(const ConvCase& cc, std::uint32_t seed, MakeChain&& make, const std::string& label = {}) {
  const std::string what = cc.name() + (label.empty() ? "" : ", " + label) + ", seed " + std::to_string(seed);
  Rng rng(seed);
  ConvData d = make_conv_data(cc, rng);
  REQUIRE_MESSAGE(d.acc.shape == cc.out_shape(), what);
  Operands ops(rng, cc.out_shape());
  const auto layer = s::conv2d<KH, KW>(d.filter(), cc.p, s::algo::im2col) | make(ops);
  const Buffer4 out = run_conv(layer, cc, d, what);
  check_output(out.view(), d.acc, layer.epilogue(), what);
}

// ---------------------------------------------------------------------------------
// Single-op harness: one op (or a short chain) through a linear and a conv2d layer,
// on shapes with full and edge register tiles in both directions, checked against
//   - the double-precision reference chain with the stated error bound, and
//   - the ops' IEEE float definitions applied to the same layer's accumulators (the
//     output of the layer without a chain): an op must be exactly one correctly
//     rounded float operation with its operands in the documented order (acc - x for
//     Sub, x - acc for RSub, a true division for Div / RDiv, NaN-propagating clamps).
//     Valid for chains whose ops are not fusable by the compiler (no mul followed by
//     add: the project builds with -ffp-contract=off, but a chain with mul then add may
//     legitimately be computed with one FMA by a kernel).
// ---------------------------------------------------------------------------------

inline constexpr Dist wide{-2.f, 2.f, false};
/// Tensor operands of the op tests get their own pixel stride (3 floats of gap).
inline constexpr Layout operand_layout{.pixel_pad = 3};

/// FNV-1a of a label: a stable seed per test case, whatever order cases run in.
inline std::uint32_t seed_of(const std::string& label) {
  std::uint32_t h = 2166136261u;
  for (unsigned char ch : label) h = (h ^ ch) * 16777619u;
  return h;
}

/// Checks `got` against the chain's IEEE float definition applied to the layer's own
/// accumulators `raw` (same-shaped output of the same layer without a chain).
template <class Epi>
void check_ieee(const Buffer4& got, const Buffer4& raw, const Epi& epi, const std::string& what) {
  INFO(what);
  const Shape4 sh = got.shape();
  std::size_t bad = 0, total = 0;
  std::ostringstream first;
  first << std::setprecision(9);  // enough digits to tell floats apart
  for (index_t n = 0; n < sh.n; ++n)
    for (index_t h = 0; h < sh.h; ++h)
      for (index_t w = 0; w < sh.w; ++w)
        for (index_t c = 0; c < sh.c; ++c) {
          ++total;
          const float acc = raw.at(n, h, w, c);
          const float expect = ieee_epilogue(epi, acc, At{n, h, w, c});
          const float g = got.at(n, h, w, c);
          if (!same_value(g, expect) && bad++ < 8)
            first << "\n  at [" << n << ", " << h << ", " << w << ", " << c << "]: acc " << acc << ", got " << g
                  << ", expected " << expect;
        }
  const std::string detail = first.str();
  INFO("first mismatches:" << detail);
  CHECK_MESSAGE(bad == 0, bad << " of " << total << " elements differ from the IEEE float ops");
}

/// make(operands) -> op or chain, through a linear layer with M = 2*MR + 3,
/// N = NR + LANES + 3, K = 37 and padded leading dimensions.
template <class MakeOp>
void op_on_linear(MakeOp&& make, const std::string& label, Dist data, bool ieee) {
  const LinearCase lc{
      .m = 2 * MR + 3, .n = NR + LANES + 3, .k = 37, .x_ld_pad = 1, .y_ld_pad = 2, .x_dist = data, .w_dist = data};
  const std::string what = lc.name() + ", " + label;
  Rng rng(seed_of(what));
  LinearData d = make_linear_data(lc, rng);
  Operands o(rng, lc.out_shape());
  const auto plain = s::linear(d.w.data(), lc.n, lc.k);
  // Type form: Linear offers `layer | op` but not `layer | chain`.
  const auto chain = as_chain(make(o));
  const s::Linear<std::remove_cvref_t<decltype(chain)>> layer(d.w.data(), lc.n, lc.k, chain);
  const Buffer4 raw = run_linear(plain, lc, d, what + " (no epilogue)");
  const Buffer4 y = run_linear(layer, lc, d, what);
  check_output(y.view(), d.acc, layer.epilogue(), what);
  if (ieee) check_ieee(y, raw, layer.epilogue(), what);
}

/// make(operands) -> op or chain, through an im2col conv2d with 2 images of 5x4 pixels (40
/// output rows: full and edge row tiles), C_out = NR + LANES + 3, 3x3, padding 1,
/// strided input and output.
template <class MakeOp>
void op_on_conv(MakeOp&& make, const std::string& label, Dist data, bool ieee) {
  ConvCase cc{.n = 2, .h = 5, .w = 4, .cin = 7, .cout = NR + LANES + 3, .kh = 3, .kw = 3};
  cc.p.pad = 1;
  cc.in_layout = Layout{.pixel_pad = 2};
  cc.out_layout = Layout{.pixel_pad = 3};
  cc.x_dist = cc.w_dist = data;
  const std::string what = cc.name() + ", " + label;
  Rng rng(seed_of(what));
  ConvData d = make_conv_data(cc, rng);
  Operands o(rng, cc.out_shape());
  const auto plain = s::conv2d<3, 3>(d.filter(), cc.p, s::algo::im2col);
  const auto layer = s::conv2d<3, 3>(d.filter(), cc.p, s::algo::im2col) | make(o);
  const Buffer4 raw = run_conv(plain, cc, d, what + " (no epilogue)");
  const Buffer4 out = run_conv(layer, cc, d, what);
  check_output(out.view(), d.acc, layer.epilogue(), what);
  if (ieee) check_ieee(out, raw, layer.epilogue(), what);
}

/// The op (or chain) made by `make(operands)` through both layers, one SUBCASE each.
/// `data`: distribution of the layers' inputs and weights (positive for ops that divide
/// by the accumulator). `ieee`: also check the exact float definition.
template <class MakeOp>
void op_everywhere(MakeOp&& make, const std::string& label, Dist data = unit, bool ieee = true) {
  SUBCASE((label + " via linear").c_str()) { op_on_linear(make, label, data, ieee); }
  SUBCASE((label + " via conv2d").c_str()) { op_on_conv(make, label, data, ieee); }
}

/// Printable chain description for test names.
template <class... Ops>
std::string chain_name(const s::Epilogue<Ops...>&) {
  std::string r;
  ((r += (r.empty() ? "" : " | ") + std::string(Ops::name)), ...);
  return r.empty() ? "(no epilogue)" : r;
}

// ---------------------------------------------------------------------------------
// Chain harness: one chain built three ways, which must give the same type and
// bit-identical outputs, through a linear and a conv2d layer whose K spans more than
// one cache block (partial sums, then the chain on the last block):
//   type form    Conv2D<Kernel<3, 3>, algo::Im2col, Epilogue<Ops...>>(filter, p, Epilogue(ops...))
//   value form   conv2d<3, 3>(filter, p, algo::im2col) | op1 | op2 | ...
//   chain form   conv2d<3, 3>(filter, p, algo::im2col) | (op1 | op2 | ...)  (conv2d only)
// ---------------------------------------------------------------------------------

/// Applies the value form: layer | op1 | op2 | ... (left to right).
template <class Layer, class... Ops>
auto value_form(Layer&& layer, const s::Epilogue<Ops...>& chain) {
  return std::apply([&](const Ops&... op) { return (std::forward<Layer>(layer) | ... | op); }, chain.ops);
}

/// Linear, M = 2*MR + 3, N = NR + LANES + 3, K = KC + 5: type form and value form.
template <class Epi>
void chain_on_linear(Epi (*make)(Operands&), const std::string& label) {
  const LinearCase lc{.m = 2 * MR + 3, .n = NR + LANES + 3, .k = KC + 5, .x_ld_pad = 2, .y_ld_pad = 1};
  const std::string what = lc.name() + ", " + label;
  Rng rng(seed_of(what));
  LinearData d = make_linear_data(lc, rng);
  Operands o(rng, lc.out_shape());
  const Epi chain = make(o);

  const s::Linear<Epi> typed(d.w.data(), lc.n, lc.k, chain);
  const auto valued = value_form(s::linear(d.w.data(), lc.n, lc.k), chain);
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(valued)>, s::Linear<Epi>>,
                "the value form must build the same layer type as the type form");

  const Buffer4 y1 = run_linear(typed, lc, d, what + " (type form)");
  const Buffer4 y2 = run_linear(valued, lc, d, what + " (value form)");
  check_output(y1.view(), d.acc, typed.epilogue(), what);
  INFO(what);
  CHECK_MESSAGE(same_bits(y1.dense(), y2.dense()), "type form and value form differ");
}

/// Conv2d, 2 images 6x5, 3x3 stride 1 pad (1, 0, 2, 1), C_in = KC/9 + 5 (K > KC),
/// C_out = NR + LANES + 3: type form, value form and chain form.
template <class Epi>
void chain_on_conv(Epi (*make)(Operands&), const std::string& label) {
  ConvCase cc{.n = 2, .h = 6, .w = 5, .cin = KC / 9 + 5, .cout = NR + LANES + 3, .kh = 3, .kw = 3};
  cc.p.pad = s::Padding(1, 0, 2, 1);
  cc.out_layout = Layout{.pixel_pad = 1};
  const std::string what = cc.name() + ", " + label;
  Rng rng(seed_of(what));
  ConvData d = make_conv_data(cc, rng);
  REQUIRE(d.acc.k > KC);
  Operands o(rng, cc.out_shape());
  const Epi chain = make(o);

  using Typed = s::Conv2D<s::Kernel<3, 3>, s::algo::Im2col, Epi>;
  const Typed typed(d.filter(), cc.p, chain);
  const auto valued = value_form(s::conv2d<3, 3>(d.filter(), cc.p, s::algo::im2col), chain);
  static_assert(std::is_same_v<typename std::remove_cvref_t<decltype(valued)>::epilogue_type, Epi>,
                "the value form must build the same chain type as the type form");
  const auto chained = s::conv2d<3, 3>(d.filter(), cc.p, s::algo::im2col) | chain;
  static_assert(std::is_same_v<typename std::remove_cvref_t<decltype(chained)>::epilogue_type, Epi>);

  const Buffer4 y1 = run_conv(typed, cc, d, what + " (type form)");
  const Buffer4 y2 = run_conv(valued, cc, d, what + " (value form)");
  const Buffer4 y3 = run_conv(chained, cc, d, what + " (chain form)");
  check_output(y1.view(), d.acc, typed.epilogue(), what);
  INFO(what);
  CHECK_MESSAGE(same_bits(y1.dense(), y2.dense()), "type form and value form differ");
  CHECK_MESSAGE(same_bits(y1.dense(), y3.dense()), "type form and chain form differ");
}

/// Both layers, one SUBCASE each.
template <class Epi>
void chain_everywhere(Epi (*make)(Operands&)) {
  const std::string label = "chain of " + std::to_string(Epi::size) + ": " + chain_name(Epi{});
  SUBCASE((label + " via linear").c_str()) { chain_on_linear(make, label); }
  SUBCASE((label + " via conv2d").c_str()) { chain_on_conv(make, label); }
}

}  // namespace sinter_test
