// tests/differential.hpp - the randomized differential test: a generator of random
// layers, their description, and a runner that checks each one against the plain
// reference of reference.hpp. Shared by tests/test_differential.cpp (seeded, with a
// budget) and the libFuzzer entry tests/fuzz/fuzz_layers.cpp (the fuzzer's bytes are
// the generator's choices).
//
// A layer is drawn from a stream of choices (Choices): its kind (conv2d with
// algo::Im2col, algo::Winograd2x3 or algo::Automatic, pointwise 1x1 conv2d, depthwise,
// linear), shapes (1-sized and prime dimensions, sizes around the register tile and
// cache blocks of the build), stride, dilation, asymmetric padding, groups, batch,
// memory layouts (strided input, output written into a channel slice of a larger NHWC
// tensor), the kinds of its input, weight and operand values (realistic and extreme
// ranges), a worker count for the executor, and one of the pre-instantiated chain
// configurations (an epilogue chain type and a prologue chain type, see `gen` below:
// chains are types, so the set is fixed at compile time and picked by index at run
// time; their operands are drawn at run time).
//
// The runner builds the layer, runs it into a guarded output, and checks
//   - the floats around the output view (guards, pixel and row gaps, the channels of
//     the larger tensor outside the slice) still hold the sentinel, and every element
//     of the view was written;
//   - the input and every tensor operand are unchanged;
//   - every output element against the double-precision reference chain with the
//     reference's error bound (im2col / GEMM / depthwise: K + ops + 1 steps of
//     FLT_EPSILON times the element's magnitude; Winograd F(2x2,3x3): the bound of
//     conv/winograd.hpp, C_in + 7 steps over the Winograd magnitude W);
//   - with more than one worker, that the output is bitwise identical to a one-worker
//     run (the executor's documented guarantee).
// Non-finite values appear only where ops.hpp defines the result: NaN in any binary
// op's operand (NaN propagates through every op, ReLU and Clip included), +-Inf in the
// operands of Add / Sub / RSub (whose result does not depend on the rounding of the
// accumulator), +-Inf as Clip bounds. Inputs and weights stay finite: the convolution
// of a non-finite input is not part of the contract (Winograd's transforms turn an
// infinity into NaN). Data whose exact results leave float's normal range (overflow,
// or magnitudes where subnormal rounding would break the relative bound) are redrawn
// with unit values, and so is a prologue whose float result is not finite.
#pragma once

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "reference.hpp"

namespace sinter_test::diff {

// ---------------------------------------------------------------------------------
// Choices: where the generator's decisions come from.
// ---------------------------------------------------------------------------------

/// A stream of decisions: from a seeded generator, or from a byte string (a fuzzer's
/// input; once the bytes run out every decision takes its first option, so any byte
/// string describes a valid layer).
class Choices {
 public:
  explicit Choices(std::uint64_t seed) : rng_(seed) {}
  Choices(const std::uint8_t* data, std::size_t size) : bytes_(data), size_(size) {}

  /// A value in [lo, hi] (lo <= hi).
  index_t range(index_t lo, index_t hi) {
    const std::uint64_t span = static_cast<std::uint64_t>(hi - lo) + 1;
    if (span <= 1) return lo;
    return lo + static_cast<index_t>(next(span) % span);
  }
  /// True with probability num / den.
  bool chance(int num, int den) { return range(0, den - 1) < num; }
  /// One of `values`.
  template <class T>
  T pick(std::initializer_list<T> values) {
    return *(values.begin() + range(0, static_cast<index_t>(values.size()) - 1));
  }
  template <class T>
  T pick(const std::vector<T>& values) {
    return values[static_cast<std::size_t>(range(0, static_cast<index_t>(values.size()) - 1))];
  }
  std::uint32_t word() { return static_cast<std::uint32_t>(next(std::uint64_t{1} << 32)); }

 private:
  std::uint64_t next(std::uint64_t span) {
    if (!bytes_) return rng_();
    std::uint64_t v = 0;  // as many bytes as the span needs, little endian
    for (std::uint64_t rest = span - 1, shift = 0; rest > 0; rest >>= 8, shift += 8)
      v |= static_cast<std::uint64_t>(pos_ < size_ ? bytes_[pos_++] : 0) << shift;
    return v;
  }
  std::mt19937_64 rng_{0};
  const std::uint8_t* bytes_ = nullptr;
  std::size_t size_ = 0, pos_ = 0;
};

/// splitmix64: the seed of layer `index` of a run with seed `seed`.
inline std::uint64_t layer_seed(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + index + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// ---------------------------------------------------------------------------------
// The chain types: a fixed set generated at compile time.
//
// An op kind is one of 27: the six binary ops Add, Sub, RSub, Mul, Div, RDiv (both
// operand orders) times the four operand kinds Scalar, Constant<V>, PerChannel, Tensor,
// then ReLU, Clip and ClipTo<Lo, Hi> (ReLU6 among them). A stream of op positions reads
// a fresh pseudo-random permutation of the 27 kinds every 27 positions (so every kind
// occurs in every aligned run of 27 positions); a chain takes the next `length`
// positions of its stream. Epilogue chains (stream 0) have lengths 0..8, prologue
// chains (stream 1) lengths 1..8.
//
// Every (chain, kernel) pair is compiled code, so not every configuration instantiates
// every kernel (features()): all of them run im2col conv2d and linear; half of them
// Winograd and algo::Automatic; a third the run-time-extent depthwise kernel; a few the
// compile-time 1x1 / 3x3 conv2d and 3x3 / 5x5 depthwise kernels. The stream salts were
// chosen (by search) so that the static_asserts below hold: all 27 op kinds in the
// epilogues and in the prologues; every op and every operand kind in the epilogues of
// the Winograd and depthwise subsets; every operand kind in those of the
// compile-time-extent kernels and in the Winograd prologues.
// ---------------------------------------------------------------------------------
namespace gen {

inline constexpr int n_kinds = 27;

/// Salt of each stream's permutations (see above).
inline constexpr std::uint32_t salt[2] = {26, 0};

constexpr int kind_at(int stream, int pos) {
  int perm[n_kinds] = {};
  for (int i = 0; i < n_kinds; ++i) perm[i] = i;
  std::uint32_t s = 0x9E3779B9u * static_cast<std::uint32_t>(stream + 1) +
                    0x85EBCA6Bu * static_cast<std::uint32_t>(pos / n_kinds + 1) + 0x27D4EB2Fu * salt[stream];
  for (int i = n_kinds - 1; i > 0; --i) {  // Fisher-Yates with an LCG (Numerical Recipes)
    s = s * 1664525u + 1013904223u;
    const int j = static_cast<int>((s >> 8) % static_cast<std::uint32_t>(i + 1));
    const int t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm[pos % n_kinds];
}
/// Which constant or clip range a kind with variants takes at `pos` (0..2).
constexpr int variant_at(int stream, int pos) { return (pos / n_kinds + pos + stream) % 3; }

/// Constant<V> values by binary op (Add, Sub, RSub, Mul, Div, RDiv) and variant;
/// divisors are non-zero.
constexpr float constant_value(int op, int variant) {
  constexpr float additive[3] = {0.5f, -0.f, -1.25f};
  constexpr float factor[3] = {0.5f, -2.f, 1.5f};
  constexpr float divisor[3] = {0.5f, -2.f, 3.f};
  return op < 3 ? additive[variant] : op == 3 ? factor[variant] : divisor[variant];
}

template <int Op, class O>
struct binary_op;
template <class O>
struct binary_op<0, O> {
  using type = s::Add<O>;
};
template <class O>
struct binary_op<1, O> {
  using type = s::Sub<O>;
};
template <class O>
struct binary_op<2, O> {
  using type = s::RSub<O>;
};
template <class O>
struct binary_op<3, O> {
  using type = s::Mul<O>;
};
template <class O>
struct binary_op<4, O> {
  using type = s::Div<O>;
};
template <class O>
struct binary_op<5, O> {
  using type = s::RDiv<O>;
};

template <int Kind, int Variant>
struct op_at {
  static constexpr int op = Kind / 4, operand = Kind % 4;
  using O = std::conditional_t<
      operand == 0, s::Scalar,
      std::conditional_t<operand == 1, s::Constant<constant_value(op, Variant)>,
                         std::conditional_t<operand == 2, s::PerChannel, s::Tensor>>>;
  using type = typename binary_op<op, O>::type;
};
template <int Variant>
struct op_at<24, Variant> {
  using type = s::ReLU;
};
template <int Variant>
struct op_at<25, Variant> {
  using type = s::Clip;
};
template <int Variant>
struct op_at<26, Variant> {
  using type = std::conditional_t<Variant == 0, s::ReLU6,
                                  std::conditional_t<Variant == 1, s::ClipTo<-1.f, 1.f>, s::ClipTo<-0.5f, 2.f>>>;
};

inline constexpr int n_epilogues = 12;
inline constexpr int n_prologues = 8;
constexpr int epilogue_length(int i) {
  constexpr int len[n_epilogues] = {8, 1, 2, 7, 3, 4, 6, 5, 0, 8, 2, 6};
  return len[i];
}
constexpr int prologue_length(int i) { return 1 + (i * 3) % 8; }
constexpr int epilogue_start(int i) {
  int s = 0;
  for (int k = 0; k < i; ++k) s += epilogue_length(k);
  return s;
}
constexpr int prologue_start(int i) {
  int s = 0;
  for (int k = 0; k < i; ++k) s += prologue_length(k);
  return s;
}

/// ReLU or ReLU6 at `pos`: an op after which many values are exactly zero.
constexpr bool zeroing(int stream, int pos, int kind) {
  return kind == 24 || (kind == 26 && variant_at(stream, pos) == 0);
}
constexpr bool is_rdiv(int kind) { return kind >= 20 && kind < 24; }
constexpr bool is_additive(int kind) { return kind < 12; }

/// Kind of op j of the chain at positions [start, start + len) of `stream`. An RDiv
/// never follows a ReLU / ReLU6 without an Add / Sub / RSub between them: x / 0 would
/// give a prologue's convolution an infinite input, and an epilogue half its elements
/// that no bound can check. Such an RDiv swaps places with the op before it, which keeps
/// the set of kinds.
constexpr int chain_kind(int stream, int start, int len, int j) {
  int k[16] = {};
  for (int i = 0; i < len; ++i) k[i] = kind_at(stream, start + i);
  for (bool moved = true; moved;) {
    moved = false;
    bool zero = false;
    for (int i = 0; i < len && !moved; ++i) {
      if (is_rdiv(k[i]) && zero) {
        const int t = k[i];
        k[i] = k[i - 1];
        k[i - 1] = t;
        moved = true;
      }
      zero = zeroing(stream, start + i, k[i]) || (zero && !is_additive(k[i]));
    }
  }
  return k[j];
}

template <int Stream, int Start, class Seq>
struct chain_of;
template <int Stream, int Start, std::size_t... J>
struct chain_of<Stream, Start, std::index_sequence<J...>> {
  static constexpr int len = static_cast<int>(sizeof...(J));
  using type = s::Epilogue<typename op_at<chain_kind(Stream, Start, len, static_cast<int>(J)),
                                          variant_at(Stream, Start + static_cast<int>(J))>::type...>;
};
template <int I>
using epilogue_t =
    typename chain_of<0, epilogue_start(I), std::make_index_sequence<static_cast<std::size_t>(epilogue_length(I))>>::type;
template <int I>
using prologue_t =
    typename chain_of<1, prologue_start(I), std::make_index_sequence<static_cast<std::size_t>(prologue_length(I))>>::type;

/// Kernels a configuration instantiates.
enum Feature : unsigned {
  im2col = 1,           ///< Conv2D<Kernel<dynamic, dynamic>, algo::Im2col>, and Linear
  winograd = 2,         ///< Conv2D<Kernel<dynamic, dynamic>, algo::Winograd2x3 / algo::Automatic>
  conv_static = 4,      ///< Conv2D<Kernel<1, 1> / Kernel<3, 3>, ...> (with winograd: Kernel<3, 3> Winograd too)
  depthwise = 8,        ///< DepthwiseConv2D<Kernel<dynamic, dynamic>>
  depthwise_static = 16 ///< DepthwiseConv2D<Kernel<3, 3> / Kernel<5, 5>>
};
constexpr unsigned all_features(int c) {
  return im2col | (c % 2 == 0 ? winograd : 0u) | (c % 4 == 2 ? conv_static : 0u) | (c % 3 == 0 ? depthwise : 0u) |
         (c == 1 || c == 5 ? depthwise_static : 0u);
}
/// The kernels configuration c instantiates in this build. AddressSanitizer's
/// instrumentation of the unrolled kernels makes the sanitizer build (and the fuzzer)
/// compile several times slower than -O3, so with SINTER_DIFF_FEW_CONFIGS (set by the
/// sanitizer build) three configurations remain that still run every kernel with every
/// operand kind, and a prologue on im2col and Winograd.
#if defined(SINTER_TEST_SANITIZED) && !defined(SINTER_DIFF_FEW_CONFIGS)
#define SINTER_DIFF_FEW_CONFIGS 1
#endif
constexpr unsigned features(int c) {
#if defined(SINTER_DIFF_FEW_CONFIGS) && SINTER_DIFF_FEW_CONFIGS
  return c == 0 ? (im2col | winograd | depthwise) : c == 2 ? (im2col | winograd | conv_static)
         : c == 5 ? depthwise_static : 0u;
#else
  return all_features(c);
#endif
}
/// Configuration c has a prologue unless c % 3 == 0 (the depthwise ones, which take none).
constexpr int prologue_index(int c) { return c % 3 == 0 ? -1 : c - c / 3 - 1; }

/// Kinds and op / operand features seen in the epilogues (stream 0) or prologues
/// (stream 1) of the configurations with feature `f` (0: all).
struct Coverage {
  bool kind[n_kinds] = {};
  bool op[6] = {}, operand[4] = {}, unary[3] = {};
  constexpr bool all_kinds() const {
    for (bool b : kind)
      if (!b) return false;
    return true;
  }
  constexpr bool all_features() const {
    for (bool b : op)
      if (!b) return false;
    for (bool b : unary)
      if (!b) return false;
    return all_operands();
  }
  constexpr bool all_operands() const {
    for (bool b : operand)
      if (!b) return false;
    return true;
  }
};
constexpr Coverage coverage(int stream, unsigned f) {
  Coverage cv;
  for (int c = 0; c < n_epilogues; ++c) {
    if (f && !(all_features(c) & f)) continue;
    const int i = stream == 0 ? c : prologue_index(c);
    if (i < 0) continue;
    const int start = stream == 0 ? epilogue_start(i) : prologue_start(i);
    const int len = stream == 0 ? epilogue_length(i) : prologue_length(i);
    for (int p = start; p < start + len; ++p) {
      const int k = kind_at(stream, p);
      cv.kind[k] = true;
      if (k < 24) {
        cv.op[k / 4] = true;
        cv.operand[k % 4] = true;
      } else {
        cv.unary[k - 24] = true;
      }
    }
  }
  return cv;
}
static_assert(coverage(0, 0).all_kinds(), "the epilogues must hold every op in every operand kind");
static_assert(coverage(1, 0).all_kinds(), "the prologues must hold every op in every operand kind");
static_assert(coverage(0, winograd).all_features() && coverage(0, depthwise).all_features(),
              "the Winograd and depthwise epilogues must hold every op and every operand kind");
static_assert(coverage(0, depthwise_static).all_operands() && coverage(0, conv_static).all_operands(),
              "the compile-time-extent kernels must see every operand kind");
static_assert(coverage(1, winograd).all_operands(), "the Winograd prologues must hold every operand kind");

}  // namespace gen

/// Number of chain configurations (epilogue, prologue) and their types.
inline constexpr int n_configs = gen::n_epilogues;
template <int C>
using config_epilogue = gen::epilogue_t<C>;
template <int C>
using config_prologue = std::conditional_t<(gen::prologue_index(C) >= 0),
                                           gen::prologue_t<std::max(gen::prologue_index(C), 0)>, s::Prologue<>>;

// ---------------------------------------------------------------------------------
// Names of op types, for descriptions (C++ spelling, to paste into a test).
// ---------------------------------------------------------------------------------

/// A float as a C++ literal that reads back exactly (hexadecimal), with its decimal value.
inline std::string float_literal(float v) {
  if (std::isnan(v)) return "NAN";
  if (std::isinf(v)) return v > 0 ? "INFINITY" : "-INFINITY";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%af", static_cast<double>(v));
  return buf;
}
inline std::string float_short(float v) {
  if (v == 0.f) return std::signbit(v) ? "-0.f" : "0.f";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%gf", static_cast<double>(v));
  std::string r = buf;
  if (r.find_first_of(".en") == std::string::npos) r.insert(r.size() - 1, ".");
  return r;
}

template <class T>
struct tag {};

inline std::string type_name(tag<s::Scalar>) { return "s::Scalar"; }
inline std::string type_name(tag<s::PerChannel>) { return "s::PerChannel"; }
inline std::string type_name(tag<s::Tensor>) { return "s::Tensor"; }
template <float V>
std::string type_name(tag<s::Constant<V>>) {
  return "s::Constant<" + float_short(V) + ">";
}
template <class O>
std::string type_name(tag<s::Add<O>>) {
  return "s::Add<" + type_name(tag<O>{}) + ">";
}
template <class O>
std::string type_name(tag<s::Sub<O>>) {
  return "s::Sub<" + type_name(tag<O>{}) + ">";
}
template <class O>
std::string type_name(tag<s::RSub<O>>) {
  return "s::RSub<" + type_name(tag<O>{}) + ">";
}
template <class O>
std::string type_name(tag<s::Mul<O>>) {
  return "s::Mul<" + type_name(tag<O>{}) + ">";
}
template <class O>
std::string type_name(tag<s::Div<O>>) {
  return "s::Div<" + type_name(tag<O>{}) + ">";
}
template <class O>
std::string type_name(tag<s::RDiv<O>>) {
  return "s::RDiv<" + type_name(tag<O>{}) + ">";
}
inline std::string type_name(tag<s::ReLU>) { return "s::ReLU"; }
inline std::string type_name(tag<s::Clip>) { return "s::Clip"; }
template <float Lo, float Hi>
std::string type_name(tag<s::ClipTo<Lo, Hi>>) {
  return "s::ClipTo<" + float_short(Lo) + ", " + float_short(Hi) + ">";
}
template <class... Ops>
std::string type_name(tag<s::Epilogue<Ops...>>) {
  std::string r;
  ((r += (r.empty() ? "" : ", ") + type_name(tag<Ops>{})), ...);
  return "s::Epilogue<" + r + ">";
}

/// Op kinds (0..26, see gen) of a chain type, for coverage statistics.
template <class Op>
constexpr int kind_of() {
  constexpr auto operand_index = []<class O>(tag<O>) {
    if constexpr (std::is_same_v<O, s::Scalar>) return 0;
    else if constexpr (std::is_same_v<O, s::PerChannel>) return 2;
    else if constexpr (std::is_same_v<O, s::Tensor>) return 3;
    else return 1;
  };
  if constexpr (s::BinaryOp<Op>) {
    using O = std::remove_cvref_t<decltype(std::declval<Op>().operand)>;
    constexpr int op = [] {
      if constexpr (std::is_same_v<Op, s::Add<O>>) return 0;
      else if constexpr (std::is_same_v<Op, s::Sub<O>>) return 1;
      else if constexpr (std::is_same_v<Op, s::RSub<O>>) return 2;
      else if constexpr (std::is_same_v<Op, s::Mul<O>>) return 3;
      else if constexpr (std::is_same_v<Op, s::Div<O>>) return 4;
      else return 5;
    }();
    return op * 4 + operand_index(tag<O>{});
  } else if constexpr (std::is_same_v<Op, s::ReLU>) {
    return 24;
  } else if constexpr (std::is_same_v<Op, s::Clip>) {
    return 25;
  } else {
    return 26;
  }
}

// ---------------------------------------------------------------------------------
// Value kinds.
// ---------------------------------------------------------------------------------

/// How the values of an input or a weight tensor are drawn.
enum class Values {
  unit,      ///< uniform in [-1, 1]
  positive,  ///< uniform in [0, 1] (activations after a ReLU)
  tiny,      ///< uniform in [-1, 1] * 2^-50
  large,     ///< uniform in [-1, 1] * 2^40
  wide,      ///< +-[1, 2) * 2^e, e uniform in [-20, 20]: 12 decades in one tensor
  specials,  ///< unit, with +0, -0, +-1 and powers of two mixed in (1 in 4)
};
inline const char* name(Values v) {
  constexpr const char* names[] = {"unit", "positive", "tiny", "large", "wide", "specials"};
  return names[static_cast<int>(v)];
}
inline float draw(Values v, Rng& r) {
  switch (v) {
    case Values::unit: return r.uniform(-1.f, 1.f);
    case Values::positive: return r.uniform(0.f, 1.f);
    case Values::tiny: return std::ldexp(r.uniform(-1.f, 1.f), -50);
    case Values::large: return std::ldexp(r.uniform(-1.f, 1.f), 40);
    case Values::wide: {
      const float m = std::ldexp(r.uniform(1.f, 2.f), static_cast<int>(r.integer(-20, 20)));
      return r.integer(0, 1) ? m : -m;
    }
    case Values::specials:
      switch (r.integer(0, 15)) {
        case 0: return 0.f;
        case 1: return -0.f;
        case 2: return r.integer(0, 1) ? 1.f : -1.f;
        case 3: return std::ldexp(r.integer(0, 1) ? 1.f : -1.f, static_cast<int>(r.integer(-12, 3)));
        default: return r.uniform(-1.f, 1.f);
      }
  }
  return 0.f;
}

/// How an operand is used by its op, which decides what values it may take.
enum class Role {
  additive,  ///< Add, Sub, RSub: finite values, NaN, +-Inf, -0
  factor,    ///< Mul, RDiv (the numerator): finite values, NaN, -0
  divisor,   ///< Div: values away from zero, NaN
};

template <class Op>
constexpr Role role_of() {
  constexpr int k = kind_of<Op>() / 4;
  return k <= 2 ? Role::additive : k == 4 ? Role::divisor : Role::factor;
}

// ---------------------------------------------------------------------------------
// Layer description.
// ---------------------------------------------------------------------------------

enum class Kind { conv2d, depthwise, linear };
enum class Algo { im2col, winograd, automatic };
/// The kernel extent in the layer's type: Kernel<dynamic, dynamic> or a fixed one.
enum class Extent { dynamic, k1x1, k3x3, k5x5 };

struct Desc {
  std::uint64_t seed = 0;       ///< the layer's seed (Choices)
  std::uint32_t data_seed = 0;  ///< seed of every value (Rng)
  int config = 0;               ///< chain configuration (config_epilogue / config_prologue)
  Kind kind = Kind::conv2d;
  Algo algo = Algo::im2col;
  Extent extent = Extent::dynamic;
  bool pointwise = false;
  // conv2d / depthwise: N, H, W, C_in, C_out, KH, KW and params; linear: M = w,
  // K = cin, N = cout (n = h = 1).
  index_t n = 1, h = 1, w = 1, cin = 1, cout = 1, kh = 1, kw = 1;
  s::Conv2DParams p{};
  bool hwio = false;  ///< conv2d filter in HWIO (else OHWI); depthwise: HWC (else CHW)
  Layout in_layout{}, out_layout{};
  Values x_values = Values::unit, w_values = Values::unit;
  bool wide_operands = false;  ///< operands as +-2^[-6, 6] instead of [-2, 2]
  bool non_finite = false;     ///< NaN / Inf in epilogue operands
  int threads = 1;             ///< workers of the executor
  std::uint32_t exec_seed = 0;

  Shape4 in_shape() const { return kind == Kind::linear ? Shape4{1, 1, w, cin} : Shape4{n, h, w, cin}; }
  Shape4 out_shape() const {
    if (kind == Kind::linear) return {1, 1, w, cout};
    return {n, ref_out_size(h, kh, p.stride.h, p.dilation.h, p.pad.top, p.pad.bottom),
            ref_out_size(w, kw, p.stride.w, p.dilation.w, p.pad.left, p.pad.right), cout};
  }
  /// Multiply-adds of the layer (its cost, and the reference's).
  double macs() const {
    const Shape4 o = out_shape();
    const double k = kind == Kind::linear ? static_cast<double>(cin)
                                          : static_cast<double>(kh * kw * (cin / std::max<index_t>(p.groups, 1)));
    return static_cast<double>(o.n) * static_cast<double>(o.h) * static_cast<double>(o.w) * static_cast<double>(o.c) *
           k;
  }
  /// Whether the layer runs Winograd F(2x2, 3x3): forced, or algo::Automatic's rule as
  /// documented in layers/common.hpp (3x3, stride 1, dilation 1, groups 1, C_in >= 16
  /// and (C_in <= 64 or 8 * C_out >= C_in)).
  bool runs_winograd() const {
    if (kind != Kind::conv2d || algo == Algo::im2col) return false;
    if (algo == Algo::winograd) return true;
    return kh == 3 && kw == 3 && p.stride.h == 1 && p.stride.w == 1 && p.dilation.h == 1 && p.dilation.w == 1 &&
           p.groups == 1 && cin >= 16 && (cin <= 64 || 8 * cout >= cin);
  }
  std::string describe() const;
};

inline std::string layout_string(const Layout& l) {
  std::ostringstream os;
  os << "Layout{.pixel_pad = " << l.pixel_pad << ", .c0 = " << l.c0 << ", .row_pad = " << l.row_pad
     << ", .image_pad = " << l.image_pad << "}";
  return os.str();
}

inline std::string Desc::describe() const {
  std::ostringstream os;
  const Shape4 o = out_shape();
  static constexpr const char* algo_names[] = {"algo::Im2col", "algo::Winograd2x3", "algo::Automatic"};
  static constexpr const char* extent_names[] = {"Kernel<dynamic, dynamic>", "Kernel<1, 1>", "Kernel<3, 3>",
                                                 "Kernel<5, 5>"};
  const char* ext = extent_names[static_cast<int>(extent)];
  switch (kind) {
    case Kind::conv2d:
      os << (pointwise ? "pointwise " : "") << "conv2d: s::Conv2D<s::" << ext << ", s::" << algo_names[static_cast<int>(algo)]
         << ", Epi, Pro>" << (runs_winograd() ? " (runs Winograd)" : " (runs im2col)") << ", filter "
         << (hwio ? "HWIO" : "OHWI") << "\n";
      break;
    case Kind::depthwise:
      os << "depthwise: s::DepthwiseConv2D<s::" << ext << ", Epi>, filter " << (hwio ? "[KH, KW, C]" : "[C, KH, KW]")
         << "\n";
      break;
    case Kind::linear: os << "linear: s::Linear<Epi, Pro>, weights [N x K]\n"; break;
  }
  if (kind == Kind::linear) {
    os << "  M=" << w << " K=" << cin << " N=" << cout << ", x ld " << in_layout.c0 + cin + in_layout.pixel_pad
       << " (column offset " << in_layout.c0 << "), y ld " << out_layout.c0 + cout + out_layout.pixel_pad
       << " (column offset " << out_layout.c0 << ")\n";
  } else {
    os << "  input [" << n << ", " << h << ", " << w << ", " << cin << "] -> output [" << o.n << ", " << o.h << ", "
       << o.w << ", " << o.c << "], kernel " << kh << "x" << kw << ", stride " << p.stride.h << "x" << p.stride.w
       << ", dilation " << p.dilation.h << "x" << p.dilation.w << ", pad (t, b, l, r) = (" << p.pad.top << ", "
       << p.pad.bottom << ", " << p.pad.left << ", " << p.pad.right << "), groups " << p.groups << "\n";
    os << "  input " << layout_string(in_layout) << ", output " << layout_string(out_layout) << "\n";
  }
  os << "  values: input " << name(x_values) << ", weights " << name(w_values) << ", operands "
     << (wide_operands ? "wide" : "unit") << (non_finite ? " with NaN / Inf" : "") << "; data seed " << data_seed
     << "\n";
  os << "  executor: " << threads << " worker(s)" << (threads > 1 ? ", shuffled task order, seed " : "");
  if (threads > 1) os << exec_seed;
  os << "\n";
  if (kind != Kind::linear) {
    os << "  as a test case: ConvCase cc{.n = " << n << ", .h = " << h << ", .w = " << w << ", .cin = " << cin
       << ", .cout = " << cout << ", .kh = " << kh << ", .kw = " << kw << "}; cc.p.stride = s::HW(" << p.stride.h
       << ", " << p.stride.w << "); cc.p.dilation = s::HW(" << p.dilation.h << ", " << p.dilation.w
       << "); cc.p.pad = s::Padding(" << p.pad.top << ", " << p.pad.bottom << ", " << p.pad.left << ", "
       << p.pad.right << "); cc.p.groups = " << p.groups << "; cc.in_layout = " << layout_string(in_layout)
       << "; cc.out_layout = " << layout_string(out_layout) << ";\n";
  } else {
    os << "  as a test case: LinearCase lc{.m = " << w << ", .n = " << cout << ", .k = " << cin
       << ", .x_ld_pad = " << in_layout.pixel_pad << ", .y_ld_pad = " << out_layout.pixel_pad << "};"
       << (in_layout.c0 || out_layout.c0 ? " (plus the column offsets above)" : "") << "\n";
  }
  return os.str();
}

// ---------------------------------------------------------------------------------
// The generator.
// ---------------------------------------------------------------------------------

/// Channel counts around the build's vector width and register tile, and primes.
inline std::vector<index_t> channel_counts() {
  return sizes({1, 2, 3, 4, 5, 7, 8, 11, 13, 16, 17, 19, 23, 31, 32, 33, 37, 64, 67, LANES - 1, LANES, LANES + 1,
                NR - 1, NR, NR + 1, 2 * NR + 3});
}
inline std::vector<index_t> image_sizes() { return {1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 16, 17, 19, 23}; }

/// A layout: dense (exact-size allocation), or with gaps / a channel slice.
inline Layout draw_layout(Choices& ch, bool spatial, bool slice_likely) {
  Layout l;
  if (!ch.chance(slice_likely ? 3 : 1, 5)) return l;
  l.c0 = ch.chance(2, 3) ? ch.range(1, 9) : 0;
  l.pixel_pad = ch.range(l.c0 ? 0 : 1, 9);
  if (spatial) {
    l.row_pad = ch.chance(1, 3) ? ch.range(1, 7) : 0;
    l.image_pad = ch.chance(1, 3) ? ch.range(1, 11) : 0;
  }
  return l;
}

/// Shrinks the spatial extent, batch and channels until the layer's cost is at most
/// `cap` multiply-adds (sizes stay valid: the filter still fits the padded input).
inline void shrink_to(Desc& d, double cap, bool keep_k = false) {
  for (int guard = 0; guard < 64 && d.macs() > cap; ++guard) {
    const Shape4 o = d.out_shape();
    const index_t min_h = std::max<index_t>(1, d.p.dilation.h * (d.kh - 1) + 1 - d.p.pad.top - d.p.pad.bottom);
    const index_t min_w = std::max<index_t>(1, d.p.dilation.w * (d.kw - 1) + 1 - d.p.pad.left - d.p.pad.right);
    if (d.n > 1) {
      --d.n;
    } else if (o.h > 1 && d.h > min_h && (o.h >= o.w || d.w <= min_w)) {
      d.h = std::max(min_h, d.h * 2 / 3);
    } else if (o.w > 1 && d.w > min_w) {
      d.w = std::max(min_w, d.w * 2 / 3);
    } else if (d.kind == Kind::depthwise && d.cin > 8) {
      d.cin = d.cout = d.cin * 2 / 3;
      d.p.groups = d.cin;
    } else if (d.kind != Kind::depthwise && d.cout > d.p.groups * 4) {
      d.cout = std::max<index_t>(d.p.groups, d.cout / 2 / d.p.groups * d.p.groups);
    } else if (d.kind != Kind::depthwise && !keep_k && d.cin > d.p.groups * 4) {
      d.cin = std::max<index_t>(d.p.groups, d.cin / 2 / d.p.groups * d.p.groups);
    } else {
      break;
    }
  }
}

/// Input extent with the filter fitting the padded input.
inline index_t fit_extent(index_t in, index_t k, index_t dilation, index_t pad_sum, Choices& ch) {
  const index_t need = dilation * (k - 1) + 1 - pad_sum;
  return in >= need ? in : std::max<index_t>(1, need + ch.range(0, 3));
}

/// Padding on one side, up to the dilated filter extent.
inline index_t draw_pad(Choices& ch, index_t extent) {
  return ch.chance(2, 5) ? 0 : ch.range(0, std::max<index_t>(0, std::min<index_t>(extent, 4)));
}

/// Draws a layer. `cap`: the largest cost in multiply-adds (the default keeps a layer,
/// reference included, near a millisecond at -O3); one layer in 10 may cost 10 times
/// more (large images: several GEMM row blocks and Winograd tile blocks).
inline Desc generate(Choices& ch, double cap = 3e5) {
  Desc d;
  if (ch.chance(1, 10)) cap *= 10;
  d.seed = 0;
  const index_t what = ch.range(0, 99);
  const std::vector<index_t> chans = channel_counts();
  const std::vector<index_t> imgs = image_sizes();
  d.n = ch.chance(2, 3) ? 1 : ch.range(2, 3);
  bool long_k = false;

  if (what < 62) {  // conv2d
    d.kind = Kind::conv2d;
    if (what < 20) {
      d.algo = Algo::im2col;
    } else if (what < 36) {
      d.algo = Algo::winograd;
    } else if (what < 50) {
      d.algo = Algo::automatic;
    } else {
      d.algo = ch.chance(3, 4) ? Algo::im2col : Algo::automatic;
      d.pointwise = true;
    }
    const bool wino_shape = d.algo == Algo::winograd || (d.algo == Algo::automatic && ch.chance(1, 2));
    if (d.pointwise) {
      d.kh = d.kw = 1;
      d.p.stride = ch.chance(1, 2) ? s::HW(1) : ch.chance(3, 4) ? s::HW(2) : s::HW(2, 1);
      if (ch.chance(1, 8)) d.p.pad = s::Padding(ch.range(0, 1), ch.range(0, 1), ch.range(0, 1), ch.range(0, 1));
      d.p.groups = ch.chance(1, 8) ? ch.range(2, 3) : 1;
      d.extent = ch.chance(1, 2) ? Extent::k1x1 : Extent::dynamic;
    } else if (wino_shape) {
      d.kh = d.kw = 3;
      d.p.pad = s::Padding(ch.range(0, 2), ch.range(0, 2), ch.range(0, 2), ch.range(0, 2));
      if (ch.chance(1, 3)) d.p.pad = s::Padding(ch.range(0, 1));
      d.extent = ch.chance(1, 2) ? Extent::k3x3 : Extent::dynamic;
    } else {
      d.kh = ch.pick<index_t>({1, 2, 3, 3, 3, 5, 7});
      d.kw = ch.chance(3, 5) ? d.kh : ch.pick<index_t>({1, 2, 3, 5});
      d.p.stride.h = ch.pick<index_t>({1, 1, 1, 2, 2, 3});
      d.p.stride.w = ch.chance(3, 4) ? d.p.stride.h : ch.pick<index_t>({1, 2, 3});
      if (ch.chance(1, 4)) {
        d.p.dilation.h = ch.range(1, 3);
        d.p.dilation.w = ch.chance(1, 2) ? d.p.dilation.h : ch.range(1, 3);
      }
      d.p.pad.top = draw_pad(ch, d.p.dilation.h * (d.kh - 1) + 1);
      d.p.pad.bottom = ch.chance(1, 2) ? d.p.pad.top : draw_pad(ch, d.p.dilation.h * (d.kh - 1) + 1);
      d.p.pad.left = draw_pad(ch, d.p.dilation.w * (d.kw - 1) + 1);
      d.p.pad.right = ch.chance(1, 2) ? d.p.pad.left : draw_pad(ch, d.p.dilation.w * (d.kw - 1) + 1);
      if (ch.chance(1, 4)) d.p.groups = ch.pick<index_t>({2, 3, 4, 5, 7});
      d.extent = (d.kh == 1 && d.kw == 1 && ch.chance(1, 2))   ? Extent::k1x1
                 : (d.kh == 3 && d.kw == 3 && ch.chance(1, 2)) ? Extent::k3x3
                                                               : Extent::dynamic;
    }
    if (d.p.groups > 1) {
      d.cin = d.p.groups * ch.pick<index_t>({1, 2, 3, 5, 8, 9, 16, 17});
      d.cout = d.p.groups * ch.pick<index_t>({1, 2, 3, 4, 7, 8, 13, LANES, LANES + 1, NR});
    } else if (d.algo == Algo::automatic && wino_shape) {
      // Around the rule's thresholds: C_in 16 and 64, 8 * C_out vs C_in.
      d.cin = ch.pick<index_t>({3, 15, 16, 17, 33, 64, 65, 80, 130});
      d.cout = ch.pick<index_t>({1, 5, 8, 9, 16, 17, 33});
    } else {
      d.cin = ch.pick(chans);
      d.cout = ch.pick(chans);
    }
    d.hwio = ch.chance(1, 4);
  } else if (what < 84) {  // depthwise
    d.kind = Kind::depthwise;
    d.kh = ch.pick<index_t>({1, 2, 3, 3, 3, 5, 5, 7});
    d.kw = ch.chance(3, 4) ? d.kh : ch.pick<index_t>({1, 3, 5});
    d.p.stride.h = ch.pick<index_t>({1, 1, 1, 2, 2, 3});
    d.p.stride.w = ch.chance(4, 5) ? d.p.stride.h : ch.pick<index_t>({1, 2});
    if (ch.chance(1, 5)) d.p.dilation = s::HW(ch.range(1, 2), ch.range(1, 2));
    d.p.pad = s::Padding(draw_pad(ch, d.p.dilation.h * (d.kh - 1) + 1), draw_pad(ch, d.p.dilation.h * (d.kh - 1) + 1),
                         draw_pad(ch, d.p.dilation.w * (d.kw - 1) + 1), draw_pad(ch, d.p.dilation.w * (d.kw - 1) + 1));
    if (ch.chance(1, 3)) d.p.pad = s::Padding(d.p.dilation.h * (d.kh / 2), d.p.dilation.h * ((d.kh - 1) / 2),
                                              d.p.dilation.w * (d.kw / 2), d.p.dilation.w * ((d.kw - 1) / 2));
    d.cin = d.cout = ch.pick(sizes({1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 48, 64, 67, LANES - 1,
                                    LANES + 1, 2 * LANES, 4 * LANES + 1}));
    d.p.groups = d.cin;
    d.extent = (d.kh == 3 && d.kw == 3 && ch.chance(2, 3))   ? Extent::k3x3
               : (d.kh == 5 && d.kw == 5 && ch.chance(2, 3)) ? Extent::k5x5
                                                             : Extent::dynamic;
    d.hwio = ch.chance(1, 2);
  } else {  // linear
    d.kind = Kind::linear;
    d.n = d.h = 1;
    d.w = ch.pick(sizes({1, 2, 3, 5, MR - 1, MR, MR + 1, 2 * MR + 1, 13, 37, MC - 1, MC, MC + 1, 2 * MC + 3}));
    d.cin = ch.chance(1, 8) ? ch.pick(sizes({KC - 1, KC, KC + 1, 2 * KC + 3}))
                            : ch.pick(sizes({1, 2, 3, 5, 7, 8, 16, 17, 31, 64, 100, 129}));
    d.cout = ch.pick(chans);
  }

  if (d.kind != Kind::linear) {
    // Images: small ones mostly; wide rows for the depthwise interior and Winograd
    // blocks of tiles that cross rows and images.
    const bool big = ch.chance(1, 5);
    d.h = big ? ch.range(20, 40) : ch.pick(imgs);
    d.w = big ? ch.range(20, 40) : ch.chance(1, 3) ? d.h : ch.pick(imgs);
    d.h = fit_extent(d.h, d.kh, d.p.dilation.h, d.p.pad.top + d.p.pad.bottom, ch);
    d.w = fit_extent(d.w, d.kw, d.p.dilation.w, d.p.pad.left + d.p.pad.right, ch);
    // K beyond the GEMM's K block: a partial sum stored and reloaded before the epilogue.
    if (d.kind == Kind::conv2d && d.p.groups == 1 && ch.chance(1, 12)) {
      long_k = true;
      d.cin = KC / (d.kh * d.kw) + ch.range(1, 9);
      d.n = 1;
      d.h = std::min<index_t>(d.h, 6);
      d.w = std::min<index_t>(d.w, 6);
      d.h = fit_extent(d.h, d.kh, d.p.dilation.h, d.p.pad.top + d.p.pad.bottom, ch);
      d.w = fit_extent(d.w, d.kw, d.p.dilation.w, d.p.pad.left + d.p.pad.right, ch);
    }
  }
  if (d.kind == Kind::linear && d.cin >= KC - 1) long_k = true;
  d.in_layout = draw_layout(ch, d.kind != Kind::linear, false);
  d.out_layout = draw_layout(ch, d.kind != Kind::linear, true);
  shrink_to(d, long_k ? 4 * cap : cap, long_k);

  // A chain configuration that instantiates the layer's kernel.
  unsigned need = gen::im2col;
  if (d.kind == Kind::conv2d) {
    if (d.algo != Algo::im2col) need |= gen::winograd;
    if (d.extent != Extent::dynamic) need |= gen::conv_static;
  } else if (d.kind == Kind::depthwise) {
    need = d.extent == Extent::dynamic ? gen::depthwise : gen::depthwise_static;
  }
  std::vector<int> configs;
  for (int c = 0; c < n_configs; ++c)
    if ((gen::features(c) & need) == need) configs.push_back(c);
  d.config = ch.pick(configs);

  constexpr Values xs[] = {Values::unit, Values::unit, Values::unit, Values::positive,
                           Values::tiny, Values::large, Values::wide, Values::specials};
  d.x_values = xs[ch.range(0, 7)];
  constexpr Values ws[] = {Values::unit, Values::unit, Values::wide, Values::specials, Values::tiny, Values::large};
  d.w_values = ws[ch.range(0, 5)];
  if (d.x_values == Values::tiny && d.w_values == Values::tiny) d.w_values = Values::unit;  // products stay normal
  d.wide_operands = ch.chance(1, 4);
  d.non_finite = ch.chance(1, 4);
  d.threads = ch.chance(2, 3) ? 1 : static_cast<int>(ch.range(2, 4));
  d.exec_seed = ch.word();
  d.data_seed = ch.word();
  return d;
}

// ---------------------------------------------------------------------------------
// Operands of one chain, drawn at run time.
// ---------------------------------------------------------------------------------

/// Owns the operands of a chain (exact-size per-channel vectors, tensors with their own
/// layouts) and notes what was drawn for each op, for the failure report.
class OperandStore {
 public:
  /// `shape`: the output's (epilogue) or the input's (prologue); `matrix`: a linear
  /// layer's [M x C] operands. A prologue's operands stay finite.
  OperandStore(Rng& rng, Choices& layout_choices, Shape4 shape, bool matrix, bool prologue, const Desc& d)
      : rng_(rng), ch_(layout_choices), shape_(shape), matrix_(matrix), prologue_(prologue),
        wide_(d.wide_operands), non_finite_(d.non_finite && !prologue) {}

  float value(Role role) {
    if (non_finite_ && rng_.integer(0, 15) == 0) {
      if (role == Role::additive && rng_.integer(0, 1)) return rng_.integer(0, 1) ? INFINITY : -INFINITY;
      return NAN;
    }
    // -0 as a factor of a prologue would zero whole channels before an RDiv.
    if ((role == Role::additive || (role == Role::factor && !prologue_)) && rng_.integer(0, 31) == 0) return -0.f;
    if (role == Role::divisor) {
      const float m = wide_ ? std::ldexp(rng_.uniform(1.f, 2.f), static_cast<int>(rng_.integer(-6, 6)))
                            : rng_.uniform(0.5f, 2.f);
      return rng_.integer(0, 1) ? m : -m;
    }
    if (wide_) {
      const float m = std::ldexp(rng_.uniform(1.f, 2.f), static_cast<int>(rng_.integer(-6, 6)));
      return rng_.integer(0, 1) ? m : -m;
    }
    return rng_.uniform(-2.f, 2.f);
  }

  s::Scalar scalar(Role role, int pos) {
    const float v = value(role);
    note(pos, "scalar " + float_literal(v));
    return s::scalar(v);
  }
  s::PerChannel per_channel(Role role, int pos) {
    std::vector<float>& v = vectors_.emplace_back(static_cast<std::size_t>(shape_.c));
    for (float& x : v) x = value(role);
    note(pos, "per_channel[" + std::to_string(shape_.c) + "]" + specials(v));
    return s::per_channel(v);
  }
  s::Tensor tensor(Role role, int pos) {
    const Layout l = draw_layout(ch_, !matrix_, false);
    Buffer4& b = tensors_.emplace_back(shape_, l);
    std::vector<float> vals(static_cast<std::size_t>(shape_.n * shape_.h * shape_.w * shape_.c));
    for (float& x : vals) x = value(role);
    std::size_t i = 0;
    for (index_t n = 0; n < shape_.n; ++n)
      for (index_t h = 0; h < shape_.h; ++h)
        for (index_t w = 0; w < shape_.w; ++w)
          for (index_t c = 0; c < shape_.c; ++c) b.at(n, h, w, c) = vals[i++];
    snapshots_.push_back(b.dense());
    note(pos, "tensor " + layout_string(l) + specials(vals));
    if (matrix_) {
      const s::TensorView<const float> v = std::as_const(b).view();
      return s::tensor(s::MatrixView<const float>{v.data, shape_.w, shape_.c, v.stride_w});
    }
    return s::tensor(std::as_const(b).view());
  }
  s::Clip clip(int pos) {
    float lo = rng_.uniform(-2.f, 0.5f), hi = lo + rng_.uniform(0.f, 3.f);
    switch (rng_.integer(0, 9)) {
      case 0: lo = hi; break;
      case 1: lo = -INFINITY; break;
      case 2: hi = INFINITY; break;
      case 3: lo = -0.f, hi = 0.f; break;
      default: break;
    }
    if (wide_) {
      const int e = static_cast<int>(rng_.integer(-4, 8));
      lo = std::ldexp(lo, e);
      hi = std::ldexp(hi, e);
    }
    note(pos, "s::clip(" + float_literal(lo) + ", " + float_literal(hi) + ")");
    return s::clip(lo, hi);
  }

  /// Tensor operands whose memory (view or gaps) changed since they were drawn.
  std::size_t tensors_changed() const {
    std::size_t bad = 0, i = 0;
    for (const Buffer4& b : tensors_) bad += b.outside_changed() != 0 || !same_bits(b.dense(), snapshots_[i++]);
    return bad;
  }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  void note(int pos, const std::string& s) {
    notes_.push_back("op " + std::to_string(pos) + ": " + s + (prologue_ ? " (prologue)" : ""));
  }
  static std::string specials(const std::vector<float>& v) {
    std::size_t nan = 0, inf = 0, nz = 0;
    for (float x : v) {
      nan += std::isnan(x);
      inf += std::isinf(x);
      nz += x == 0.f && std::signbit(x);
    }
    std::string r;
    if (nan) r += ", " + std::to_string(nan) + " NaN";
    if (inf) r += ", " + std::to_string(inf) + " Inf";
    if (nz) r += ", " + std::to_string(nz) + " -0";
    return r;
  }

  Rng& rng_;
  Choices& ch_;
  Shape4 shape_;
  bool matrix_, prologue_, wide_, non_finite_;
  std::deque<std::vector<float>> vectors_;
  std::deque<Buffer4> tensors_;
  std::vector<std::vector<float>> snapshots_;
  std::vector<std::string> notes_;
};

template <class Op>
Op make_op(OperandStore& st, int pos) {
  if constexpr (s::BinaryOp<Op>) {
    using O = std::remove_cvref_t<decltype(std::declval<Op>().operand)>;
    constexpr Role role = role_of<Op>();
    if constexpr (std::is_same_v<O, s::Scalar>) return Op{st.scalar(role, pos)};
    else if constexpr (std::is_same_v<O, s::PerChannel>) return Op{st.per_channel(role, pos)};
    else if constexpr (std::is_same_v<O, s::Tensor>) return Op{st.tensor(role, pos)};
    else return Op{O{}};
  } else if constexpr (std::is_same_v<Op, s::Clip>) {
    return st.clip(pos);
  } else {
    return Op{};
  }
}

/// The chain with its operands drawn (ops left to right: braces fix the order).
template <class... Ops>
s::Epilogue<Ops...> make_chain(OperandStore& st, tag<s::Epilogue<Ops...>>) {
  if constexpr (sizeof...(Ops) == 0) {
    return {};
  } else {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return s::Epilogue<Ops...>{make_op<Ops>(st, static_cast<int>(I))...};
    }(std::index_sequence_for<Ops...>{});
  }
}

// ---------------------------------------------------------------------------------
// Reference magnitudes of Winograd F(2x2, 3x3).
// ---------------------------------------------------------------------------------

/// The reference accumulators with the Winograd magnitude W and C_in + 7 rounding
/// steps (the bound of conv/winograd.hpp), computed from the input and filter here:
///   W = sum_ci sum_xi |A^T_xi| |U[xi][ci][co]| (|B^T| |d| |B|)[xi],  U = G g G^T.
inline RefTensor winograd_magnitudes(RefTensor r, const Buffer4& in, const std::vector<float>& w_ohwi, index_t cout,
                                     const s::Padding& pad) {
  static constexpr double BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static constexpr double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
  const Shape4 is = in.shape();
  const index_t cin = is.c;
  r.k = cin + 7;
  std::vector<double> uabs(static_cast<std::size_t>(cout * cin * 16));
  for (index_t co = 0; co < cout; ++co)
    for (index_t ci = 0; ci < cin; ++ci) {
      double t[4][3];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 3; ++j) {
          t[i][j] = 0;
          for (int k = 0; k < 3; ++k) t[i][j] += G[i][k] * w_ohwi[static_cast<std::size_t>(((co * 3 + k) * 3 + j) * cin + ci)];
        }
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          uabs[static_cast<std::size_t>((co * cin + ci) * 16 + i * 4 + j)] =
              std::fabs(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
    }
  const Shape4 os = r.shape;
  std::vector<double> vabs(static_cast<std::size_t>(cin * 16));
  for (index_t n = 0; n < os.n; ++n)
    for (index_t th = 0; th < (os.h + 1) / 2; ++th)
      for (index_t tw = 0; tw < (os.w + 1) / 2; ++tw) {
        for (index_t ci = 0; ci < cin; ++ci) {
          double dd[4][4], t[4][4];
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
              const index_t ih = 2 * th - pad.top + i, iw = 2 * tw - pad.left + j;
              const bool inside = ih >= 0 && ih < is.h && iw >= 0 && iw < is.w;
              dd[i][j] = inside ? std::fabs(static_cast<double>(in.at(n, ih, iw, ci))) : 0.0;
            }
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
              t[i][j] = 0;
              for (int k = 0; k < 4; ++k) t[i][j] += std::fabs(BT[i][k]) * dd[k][j];
            }
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
              double v = 0;
              for (int k = 0; k < 4; ++k) v += t[i][k] * std::fabs(BT[j][k]);
              vabs[static_cast<std::size_t>(ci * 16 + i * 4 + j)] = v;
            }
        }
        for (index_t co = 0; co < cout; ++co) {
          double m[16] = {};
          for (index_t ci = 0; ci < cin; ++ci)
            for (int x = 0; x < 16; ++x)
              m[x] += uabs[static_cast<std::size_t>((co * cin + ci) * 16 + x)] * vabs[static_cast<std::size_t>(ci * 16 + x)];
          for (int ph = 0; ph < 2; ++ph)
            for (int pw = 0; pw < 2; ++pw) {
              const index_t oh = 2 * th + ph, ow = 2 * tw + pw;
              if (oh >= os.h || ow >= os.w) continue;
              double wmag = 0;
              for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) wmag += std::fabs(AT[ph][i]) * std::fabs(AT[pw][j]) * m[i * 4 + j];
              Ref& ref = r.at(n, oh, ow, co);
              ref.mag = std::max(wmag, std::fabs(ref.v));
            }
        }
      }
  return r;
}

// ---------------------------------------------------------------------------------
// Checking one layer.
// ---------------------------------------------------------------------------------

/// What running one layer found.
struct Outcome {
  bool ok = true;
  bool skipped = false;  ///< no data in float's range after the redraws
  int redraws = 0;       ///< data redrawn with unit values (out of float's normal range)
  std::string failure;   ///< what went wrong, with the first mismatches
  std::size_t checked = 0, unchecked = 0;
  double worst = 0.0;   ///< largest |error| / tolerance
  std::string operands; ///< what the chains' operands were drawn as

  void fail(const std::string& why) {
    ok = false;
    failure += why + "\n";
  }
};

/// True when every value and magnitude of the exact chain over `acc` stays in float's
/// normal range (so float rounding is relative, as the bound assumes).
template <class... Ops>
bool in_float_range(const RefTensor& acc, const s::Epilogue<Ops...>& epi) {
  const auto ok = [](const Ref& r) {
    if (!std::isfinite(r.v)) return true;
    const double big = 0x1p120, small = 0x1p-100;
    return std::fabs(r.v) < big && r.mag < big && (r.mag == 0.0 || r.mag > small);
  };
  const Shape4 sh = acc.shape;
  for (index_t n = 0; n < sh.n; ++n)
    for (index_t h = 0; h < sh.h; ++h)
      for (index_t w = 0; w < sh.w; ++w)
        for (index_t c = 0; c < sh.c; ++c) {
          Ref r = acc.at(n, h, w, c);
          bool good = ok(r);
          const At at{n, h, w, c};
          std::apply([&](const Ops&... op) { ((r = ref_op(op, r, at), good = good && ok(r)), ...); }, epi.ops);
          if (!good) return false;
        }
  return true;
}

/// The exact chain at one element, op by op, for a failure report.
template <class... Ops>
std::string trace(const s::Epilogue<Ops...>& epi, Ref r, const At& at) {
  std::ostringstream os;
  os << std::setprecision(9) << "acc " << r.v << " (mag " << r.mag << ")";
  std::apply(
      [&](const Ops&... op) {
        (
            [&](const auto& o) {
              using Op = std::remove_cvref_t<decltype(o)>;
              os << " -> " << Op::name;
              if constexpr (s::BinaryOp<Op>) os << "(" << operand_value(o.operand, at) << ")";
              r = ref_op(o, r, at);
              os << " " << r.v;
            }(op),
            ...);
      },
      epi.ops);
  return os.str();
}

/// Every element of `got` against the reference chain over `acc`: the tolerance of
/// check_output() in reference.hpp ((K + ops + 1) * FLT_EPSILON * mag; NaN for NaN,
/// the same infinity for an infinity), without its per-call share of checkable
/// elements (the random test accounts for that over the whole run).
template <class Epi>
void compare(const Buffer4& got, const RefTensor& acc, const Epi& epi, Outcome& o) {
  std::size_t bad = 0;
  std::ostringstream first;
  first << std::setprecision(9);
  const Shape4 sh = acc.shape;
  for (index_t n = 0; n < sh.n; ++n)
    for (index_t h = 0; h < sh.h; ++h)
      for (index_t w = 0; w < sh.w; ++w)
        for (index_t c = 0; c < sh.c; ++c) {
          const At at{n, h, w, c};
          const Ref r = ref_epilogue(epi, acc.at(n, h, w, c), at);
          const float g = got.at(n, h, w, c);
          if (!r.checkable) {
            ++o.unchecked;
            continue;
          }
          ++o.checked;
          bool ok;
          double tol = 0.0, err = 0.0;
          if (std::isnan(r.v)) {
            ok = std::isnan(g);
          } else if (!std::isfinite(r.v)) {
            ok = static_cast<double>(g) == r.v;
          } else {
            tol = (static_cast<double>(acc.k) + r.ops + 1.0) * FLT_EPSILON * r.mag;
            err = std::fabs(static_cast<double>(g) - r.v);
            ok = std::isfinite(g) && err <= tol;
            if (ok && tol > 0.0) o.worst = std::max(o.worst, err / tol);
          }
          if (!ok && bad++ < 6)
            first << "\n    at [n " << n << ", h " << h << ", w " << w << ", c " << c << "]: got " << g
                  << ", expected " << r.v << " (|error| " << err << ", tolerance " << tol << ")\n      "
                  << trace(epi, acc.at(n, h, w, c), at);
        }
  if (bad) {
    std::ostringstream os;
    os << bad << " of " << sh.n * sh.h * sh.w * sh.c << " output elements outside the tolerance:" << first.str();
    o.fail(os.str());
  }
}

/// Checks an output buffer's guards and that the input and operands are unchanged.
inline void check_memory(const Buffer4& out, const Buffer4& in, const std::vector<float>& in_before,
                         const OperandStore& epi_ops, const OperandStore& pro_ops, Outcome& o) {
  if (const std::size_t n = out.outside_changed())
    o.fail(std::to_string(n) + " floats outside the output view were overwritten (guards, gaps or channels outside "
                               "the slice)");
  if (const std::size_t n = out.inside_unwritten()) o.fail(std::to_string(n) + " output elements were left unwritten");
  if (in.outside_changed() || !same_bits(in.dense(), in_before)) o.fail("the input was modified");
  if (epi_ops.tensors_changed() || pro_ops.tensors_changed()) o.fail("a tensor operand was modified");
}

/// Fills a buffer's view with values of kind `v`.
inline void fill(Buffer4& b, Values v, Rng& rng) {
  const Shape4 s = b.shape();
  for (index_t n = 0; n < s.n; ++n)
    for (index_t h = 0; h < s.h; ++h)
      for (index_t w = 0; w < s.w; ++w)
        for (index_t c = 0; c < s.c; ++c) b.at(n, h, w, c) = draw(v, rng);
}

/// The prologue applied to the input in float, one rounded IEEE op at a time, as the
/// kernel computes it. (GCC may contract a mul followed by an add into an FMA here or
/// in the kernel: one rounding less, an input off by at most 2u|x|, which moves the
/// convolution by at most 2u * mag, inside the slack of the bound's factor 2.) False
/// when a value is not finite (the convolution of a non-finite input is not part of the
/// contract).
template <class Pro>
bool apply_prologue(const Pro& pro, const Buffer4& in, Buffer4& out) {
  const Shape4 s = in.shape();
  bool finite = true;
  for (index_t n = 0; n < s.n; ++n)
    for (index_t h = 0; h < s.h; ++h)
      for (index_t w = 0; w < s.w; ++w)
        for (index_t c = 0; c < s.c; ++c) {
          const float v = ieee_epilogue(pro, in.at(n, h, w, c), At{n, h, w, c});
          finite = finite && std::isfinite(v);
          out.at(n, h, w, c) = v;
        }
  return finite;
}

/// One attempt's data: values drawn with the layer's kinds (attempt 0) or unit values.
struct Draw {
  Values x, w;
  Desc d;
  static Draw of(const Desc& desc, int attempt) {
    Draw r{desc.x_values, desc.w_values, desc};
    if (attempt > 0) {
      r.x = r.w = Values::unit;
      r.d.wide_operands = false;
      r.d.data_seed = desc.data_seed + static_cast<std::uint32_t>(attempt);
    }
    return r;
  }
};

/// Runs `layer` (anything with output_shape() and operator()(in, out[, ws, exec])) into
/// a guarded output; checks shape, memory, values; with more than one worker, also
/// against a one-worker run, bitwise.
template <class Layer, class Call>
void run_and_check(const Layer& layer, const Desc& d, const Buffer4& in, const RefTensor& acc,
                   const OperandStore& epi_ops, const OperandStore& pro_ops, Call&& call, Outcome& o) {
  const Shape4 expect = d.out_shape();
  const Shape4 got = layer.output_shape(in.shape());
  if (!(got == expect)) {
    std::ostringstream os;
    os << "output_shape(): expected [" << expect.n << ", " << expect.h << ", " << expect.w << ", " << expect.c
       << "], got [" << got.n << ", " << got.h << ", " << got.w << ", " << got.c << "]";
    o.fail(os.str());
    return;
  }
  const std::vector<float> in_before = in.dense();
  Layout ol = d.out_layout;
  ol.guard = 16;
  Buffer4 out(expect, ol);
  call(out, ShuffledExecutor{d.threads, d.exec_seed});
  check_memory(out, in, in_before, epi_ops, pro_ops, o);
  compare(out, acc, layer.epilogue(), o);
  if (d.threads > 1) {
    // Same bits, except that a NaN equals any NaN: IEEE 754 leaves a NaN result's sign
    // unspecified, and GCC contracts acc * x - y into a fused multiply-subtract by
    // default in C++ (-ffp-contract=fast), which on AArch64 (FMLS) negates whichever
    // factor the register allocator puts first, a NaN's sign included; the choice can
    // differ between two tile paths that compute the same element.
    Buffer4 one(expect, ol);
    call(one, ShuffledExecutor{1, 0});
    const std::vector<float> a = out.dense(), b = one.dense();
    const auto differ = [&](std::size_t i) {
      return std::memcmp(&a[i], &b[i], sizeof(float)) != 0 && !(std::isnan(a[i]) && std::isnan(b[i]));
    };
    std::size_t n = 0, first = a.size();
    for (std::size_t i = 0; i < a.size(); ++i)
      if (differ(i)) n += (first = std::min(first, i), 1);
    if (n > 0) {
      std::uint32_t ua, ub;
      std::memcpy(&ua, &a[first], 4);
      std::memcpy(&ub, &b[first], 4);
      char buf[160];
      std::snprintf(buf, sizeof buf, "%zu elements, the first at dense index %zu: %.9g (0x%08x) vs %.9g (0x%08x)", n,
                    first, static_cast<double>(a[first]), ua, static_cast<double>(b[first]), ub);
      o.fail("the output with " + std::to_string(d.threads) + " workers differs from the one-worker output: " + buf);
    }
  }
}

/// Calls f.template operator()<Conv2D<...>>() with the description's kernel extent and
/// algorithm, among the kernels that configuration features `F` instantiates.
template <class Epi, class Pro, unsigned F, class Fn>
void with_conv_type(const Desc& d, Outcome& o, Fn&& f) {
  using Dyn = s::Kernel<s::dynamic, s::dynamic>;
  using K1 = s::Kernel<1, 1>;
  using K3 = s::Kernel<3, 3>;
  constexpr bool wino = (F & gen::winograd) != 0, fixed = (F & gen::conv_static) != 0;
  if (d.extent == Extent::dynamic) {
    if constexpr ((F & gen::im2col) != 0)
      if (d.algo == Algo::im2col) return f.template operator()<s::Conv2D<Dyn, s::algo::Im2col, Epi, Pro>>();
    if constexpr (wino) {
      if (d.algo == Algo::winograd) return f.template operator()<s::Conv2D<Dyn, s::algo::Winograd2x3, Epi, Pro>>();
      return f.template operator()<s::Conv2D<Dyn, s::algo::Automatic, Epi, Pro>>();
    }
  } else if constexpr (fixed) {
    if (d.algo == Algo::im2col) {
      if (d.extent == Extent::k1x1) return f.template operator()<s::Conv2D<K1, s::algo::Im2col, Epi, Pro>>();
      return f.template operator()<s::Conv2D<K3, s::algo::Im2col, Epi, Pro>>();
    }
    if constexpr (wino) {
      if (d.algo == Algo::winograd) return f.template operator()<s::Conv2D<K3, s::algo::Winograd2x3, Epi, Pro>>();
      if (d.extent == Extent::k1x1) return f.template operator()<s::Conv2D<K1, s::algo::Automatic, Epi, Pro>>();
      return f.template operator()<s::Conv2D<K3, s::algo::Automatic, Epi, Pro>>();
    }
  }
  o.fail("chain configuration " + std::to_string(d.config) + " does not instantiate this conv2d");
}

template <class Epi, class Pro, unsigned F>
void run_conv(const Desc& desc, Outcome& o) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    const Draw dr = Draw::of(desc, attempt);
    const Desc& d = dr.d;
    Rng rng(d.data_seed);
    Choices layout_choices(d.data_seed);
    const index_t cin_g = d.cin / d.p.groups;
    Buffer4 in(d.in_shape(), d.in_layout);
    fill(in, dr.x, rng);
    std::vector<float> w(static_cast<std::size_t>(d.cout * d.kh * d.kw * cin_g));
    for (float& v : w) v = draw(dr.w, rng);
    OperandStore pro_ops(rng, layout_choices, d.in_shape(), false, true, d);
    OperandStore epi_ops(rng, layout_choices, d.out_shape(), false, false, d);
    const Pro pro = make_chain(pro_ops, tag<Pro>{});
    const Epi epi = make_chain(epi_ops, tag<Epi>{});

    Buffer4 x(d.in_shape(), d.in_layout);  // the convolution's input: in after the prologue
    if (Pro::size > 0) {
      if (!apply_prologue(pro, in, x)) {
        ++o.redraws;
        continue;
      }
    }
    const Buffer4& xr = Pro::size > 0 ? x : in;
    RefTensor acc = ref_conv2d(std::as_const(xr).view(), w, d.cout, d.kh, d.kw, d.p);
    if (d.runs_winograd()) acc = winograd_magnitudes(std::move(acc), xr, w, d.cout, d.p.pad);
    if (!in_float_range(acc, epi)) {
      ++o.redraws;
      continue;
    }
    const std::vector<float> hwio = d.hwio ? to_hwio(w, d.cout, d.kh, d.kw, cin_g) : std::vector<float>{};
    const s::FilterView filter =
        d.hwio ? s::hwio(hwio.data(), d.kh, d.kw, cin_g, d.cout) : s::ohwi(w.data(), d.cout, d.kh, d.kw, cin_g);
    o.operands = "";
    for (const auto& n : pro_ops.notes()) o.operands += "    " + n + "\n";
    for (const auto& n : epi_ops.notes()) o.operands += "    " + n + "\n";
    with_conv_type<Epi, Pro, F>(d, o, [&]<class Layer>() {
      const Layer layer(filter, d.p, epi, pro);
      run_and_check(
          layer, d, in, acc, epi_ops, pro_ops,
          [&](Buffer4& out, const ShuffledExecutor& exec) {
            std::vector<std::byte> ws(layer.workspace_size(in.shape(), exec.threads()));  // exact size
            layer(in.view(), out.view(), s::workspace(ws.data(), ws.size()), exec);
          },
          o);
    });
    return;
  }
  o.skipped = true;
}

template <class Epi, unsigned F>
void run_depthwise(const Desc& desc, Outcome& o) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    const Draw dr = Draw::of(desc, attempt);
    const Desc& d = dr.d;
    Rng rng(d.data_seed);
    Choices layout_choices(d.data_seed);
    Buffer4 in(d.in_shape(), d.in_layout);
    fill(in, dr.x, rng);
    std::vector<float> w(static_cast<std::size_t>(d.cout * d.kh * d.kw));  // [C, KH, KW]
    for (float& v : w) v = draw(dr.w, rng);
    OperandStore pro_ops(rng, layout_choices, d.in_shape(), false, true, d);  // stays empty
    OperandStore epi_ops(rng, layout_choices, d.out_shape(), false, false, d);
    const Epi epi = make_chain(epi_ops, tag<Epi>{});
    const RefTensor acc = ref_conv2d(std::as_const(in).view(), w, d.cout, d.kh, d.kw, d.p);
    if (!in_float_range(acc, epi)) {
      ++o.redraws;
      continue;
    }
    const std::vector<float> hwc = d.hwio ? to_hwio(w, d.cout, d.kh, d.kw, 1) : std::vector<float>{};
    const s::DepthwiseFilterView filter = d.hwio ? s::depthwise_filter(hwc.data(), d.kh, d.kw, d.cout)
                                                 : s::depthwise_ohwi(w.data(), d.cout, d.kh, d.kw);
    const s::DepthwiseParams params{d.p.stride, d.p.dilation, d.p.pad};
    o.operands = "";
    for (const auto& n : epi_ops.notes()) o.operands += "    " + n + "\n";
    const auto go = [&]<class K>() {
      const s::DepthwiseConv2D<K, Epi> layer(filter, params, epi);
      run_and_check(
          layer, d, in, acc, epi_ops, pro_ops,
          [&](Buffer4& out, const ShuffledExecutor& exec) {
            std::vector<std::byte> ws(layer.workspace_size(in.shape(), exec.threads()));  // exact size
            layer(in.view(), out.view(), s::workspace(ws.data(), ws.size()), exec);
          },
          o);
    };
    if constexpr ((F & gen::depthwise_static) != 0) {
      if (d.extent == Extent::k3x3) return go.template operator()<s::Kernel<3, 3>>();
      if (d.extent == Extent::k5x5) return go.template operator()<s::Kernel<5, 5>>();
    }
    if constexpr ((F & gen::depthwise) != 0) {
      if (d.extent == Extent::dynamic) return go.template operator()<s::Kernel<s::dynamic, s::dynamic>>();
    }
    o.fail("chain configuration " + std::to_string(d.config) + " does not instantiate this depthwise kernel");
    return;
  }
  o.skipped = true;
}

/// A [rows x cols] matrix over a buffer of shape [1, 1, rows, cols].
template <class T>
s::MatrixView<T> as_matrix(T* data, const Buffer4& b) {
  return {data, b.shape().w, b.shape().c, b.view().stride_w};
}

/// A linear layer behind the interface run_and_check() expects of a conv.
template <class L>
struct LinearAsConv {
  const L& l;
  Shape4 output_shape(Shape4 in) const { return {1, 1, in.w, l.out_features()}; }
  const auto& epilogue() const { return l.epilogue(); }
};

template <class Epi, class Pro>
void run_linear(const Desc& desc, Outcome& o) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    const Draw dr = Draw::of(desc, attempt);
    const Desc& d = dr.d;
    Rng rng(d.data_seed);
    Choices layout_choices(d.data_seed);
    Buffer4 in(d.in_shape(), d.in_layout);
    fill(in, dr.x, rng);
    std::vector<float> w(static_cast<std::size_t>(d.cout * d.cin));  // [N x K]
    for (float& v : w) v = draw(dr.w, rng);
    OperandStore pro_ops(rng, layout_choices, d.in_shape(), true, true, d);
    OperandStore epi_ops(rng, layout_choices, d.out_shape(), true, false, d);
    const Pro pro = make_chain(pro_ops, tag<Pro>{});
    const Epi epi = make_chain(epi_ops, tag<Epi>{});
    Buffer4 x(d.in_shape(), d.in_layout);
    if (Pro::size > 0) {
      if (!apply_prologue(pro, in, x)) {
        ++o.redraws;
        continue;
      }
    }
    const Buffer4& xr = Pro::size > 0 ? x : in;
    const RefTensor acc = ref_linear(as_matrix(xr.data(), xr), w, d.cout);
    if (!in_float_range(acc, epi)) {
      ++o.redraws;
      continue;
    }
    o.operands = "";
    for (const auto& n : pro_ops.notes()) o.operands += "    " + n + "\n";
    for (const auto& n : epi_ops.notes()) o.operands += "    " + n + "\n";
    const s::Linear<Epi, Pro> layer(w.data(), d.cout, d.cin, epi, pro);
    run_and_check(
        LinearAsConv<s::Linear<Epi, Pro>>{layer}, d, in, acc, epi_ops, pro_ops,
        [&](Buffer4& out, const ShuffledExecutor& exec) {
          std::vector<std::byte> ws(layer.workspace_size(exec.threads()));  // exact size
          layer(as_matrix(in.data(), in), as_matrix(out.data(), out), s::workspace(ws.data(), ws.size()), exec);
        },
        o);
    return;
  }
  o.skipped = true;
}

template <int C>
void run_config(const Desc& d, Outcome& o) {
  using Epi = config_epilogue<C>;
  using Pro = config_prologue<C>;
  constexpr unsigned F = gen::features(C);
  constexpr bool gemm = (F & gen::im2col) != 0;
  switch (d.kind) {
    case Kind::conv2d:
      if constexpr (gemm) run_conv<Epi, Pro, F>(d, o);
      else o.fail("chain configuration " + std::to_string(C) + " instantiates no conv2d");
      break;
    case Kind::depthwise:
      if constexpr ((F & (gen::depthwise | gen::depthwise_static)) != 0) run_depthwise<Epi, F>(d, o);
      else o.fail("chain configuration " + std::to_string(C) + " instantiates no depthwise kernel");
      break;
    case Kind::linear:
      if constexpr (gemm) run_linear<Epi, Pro>(d, o);
      else o.fail("chain configuration " + std::to_string(C) + " instantiates no linear layer");
      break;
  }
}

template <std::size_t... C>
constexpr auto config_table(std::index_sequence<C...>) {
  return std::array<void (*)(const Desc&, Outcome&), sizeof...(C)>{&run_config<static_cast<int>(C)>...};
}

/// The chain types of configuration `c`, as C++.
template <std::size_t... C>
std::string config_types(int c, std::index_sequence<C...>) {
  std::string r;
  ((static_cast<int>(C) == c ? (r = "    using Epi = " + type_name(tag<config_epilogue<static_cast<int>(C)>>{}) +
                                    ";\n    using Pro = " + type_name(tag<config_prologue<static_cast<int>(C)>>{}) + ";\n")
                             : r),
   ...);
  return r;
}

/// Builds and checks the layer `d`. Never throws: a sinter::error (or any exception)
/// is a failure, as the generator only draws valid layers.
inline Outcome run_layer(const Desc& d) {
  static constexpr auto table = config_table(std::make_index_sequence<n_configs>{});
  Outcome o;
  try {
    table[static_cast<std::size_t>(d.config)](d, o);
  } catch (const std::exception& e) {
    o.fail(std::string("exception: ") + e.what());
  }
  return o;
}

/// The full report of a failed layer: description, chain types, operands, failure.
inline std::string report(const Desc& d, const Outcome& o) {
  std::ostringstream os;
  os << d.describe() << "  chain configuration " << d.config << ":\n"
     << config_types(d.config, std::make_index_sequence<n_configs>{})
     << (d.kind == Kind::depthwise ? "    (the prologue is not used by depthwise layers)\n" : "")
     << "  operands (drawn from the data seed):\n"
     << o.operands << "  failure:\n    " << o.failure;
  return os.str();
}

}  // namespace sinter_test::diff
