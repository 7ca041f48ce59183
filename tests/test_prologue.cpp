// Prologue chains on the im2col conv2d and linear paths (conv/prologue.hpp,
// conv/im2col.hpp): the chain's output must equal the chain applied element by element
// in IEEE float, then the convolution, with zero padding after the prologue.
//
// The reference applies the prologue to every input element in float (each op one
// rounding, as the kernels do), then runs the plain reference conv / linear on that
// tensor; the im2col error bound applies to the rest. The prologue ends in `+ 1, relu`,
// or `/ 127.5 - 1`, so a padded tap that went through it would read a non-zero value.
//
// Matrix: channels 1, 3, 5, 17, 33 (below, between and above the 4 / 8 / 16 lanes of
// SSE / AVX2 / AVX-512, so flat runs end in partial vectors and per-channel patterns
// have periods lcm(C, lanes)); 1x1 filters (pixel band) and 3x3 / 5x3 filters (ring of
// input rows) at stride 1 and 2, dilation 2, TF 'SAME' (asymmetric) padding; output rows
// shorter and longer than a block of MC rows and images taller than the ring; batch 3;
// groups 3 (per-pixel runs at a channel offset); strided input views (pixel gap, channel
// slice, row gap) and strided tensor operands (per-pixel runs); an operand kind unknown
// to the flat reader (the generic per-vector path); linear layers with K = 1 .. 33 and
// K > KC, dense and strided x. Executors: thread_executor and a reversed task order must
// give the serial bits (the ring is per worker and must not reuse rows it lost), and a
// workspace reused by a call on other data must not leak rows of the previous call.
#include <doctest/doctest.h>

#include "reference.hpp"

using namespace sinter_test;

namespace sinter_test {

/// An operand kind the flat prologue reader does not know: x[c] = 0.25 * (c mod 4) - 0.5
/// for channel c, computed, not loaded. Exercises the chain's generic per-vector path.
struct ChannelRamp {
  void validate(Shape4, const char*, int) const noexcept {}
  static float value(index_t c) { return 0.25f * static_cast<float>(c % 4) - 0.5f; }
  template <class B, int MR, int NV>
  struct state {
    B v[NV];
    B get(int, int j) const noexcept { return v[j]; }
  };
  template <class B>
  static B ramp(index_t c0) noexcept {
    alignas(64) float t[B::size];
    for (std::size_t i = 0; i < B::size; ++i) t[i] = value(c0 + static_cast<index_t>(i));
    return B::load_aligned(t);
  }
  template <class B, int MR, int NV>
  state<B, MR, NV> tile_state(const s::TileLoc& t) const noexcept {
    state<B, MR, NV> st;
    for (int j = 0; j < NV; ++j) st.v[j] = ramp<B>(t.col0 + j * static_cast<index_t>(B::size));
    return st;
  }
  template <class B>
  B load_edge(const s::TileLoc& t, int, index_t col, int) const noexcept {
    return ramp<B>(t.col0 + col);
  }
};
static_assert(s::Operand<ChannelRamp>);
inline float operand_value(const ChannelRamp&, const At& at) { return ChannelRamp::value(at.c); }

}  // namespace sinter_test

namespace {

/// Runs tasks on the calling thread in reverse order, task i on worker i mod n.
struct reverse_executor {
  int n = 2;
  int threads() const noexcept { return n; }
  template <class F>
  void parallel_for(index_t tasks, F&& f) const {
    for (index_t i = tasks - 1; i >= 0; --i) f(i, static_cast<int>(i % n));
  }
};

template <class Layer, class Exec = s::serial_executor>
Buffer4 run_conv_on(const Layer& layer, const ConvCase& cc, const Buffer4& in, const Exec& exec = {},
                    std::vector<std::byte>* ws_in = nullptr) {
  Layout ol = cc.out_layout;
  ol.guard = std::max<index_t>(ol.guard, 64);
  Buffer4 out(cc.out_shape(), ol);
  std::vector<std::byte> own(layer.workspace_size(cc.in_shape(), exec.threads()));
  std::vector<std::byte>& ws = ws_in != nullptr ? *ws_in : own;
  layer(in.view(), out.view(), ws, exec);
  check_guards(out, cc.name());
  return out;
}

// Prologue chains (a few types, so the file compiles in reasonable time).
auto normalise(Operands& o, Layout tensor_layout) {
  // (x - mean[c]) * inv_std[c] + 1, relu, + skip[n][h][w][c]
  return s::sub(o.per_channel()) | s::mul(o.per_channel(positive)) | s::add(1.f) | s::relu() |
         s::add(o.tensor(unit, tensor_layout));
}
auto detector(Operands&) { return s::div(s::constant<127.5f>) | s::sub(s::constant<1.f>); }
auto ramp(Operands& o) { return s::mul(o.per_channel(positive)) | s::add(ChannelRamp{}) | s::add(1.f); }

/// conv2d (im2col) with the prologue `make_pro(input operands)` and a bias: serial
/// against the reference, executors against the serial bits.
template <class MakePro>
void conv_pro_case(const ConvCase& cc, MakePro&& make_pro, const std::string& label) {
  const std::string what = cc.name() + ", prologue " + label;
  INFO(what);
  Rng rng(seed_of(what));
  ConvData d = make_conv_data(cc, rng);
  Operands pro_ops(rng, cc.in_shape());
  const auto pro = make_pro(pro_ops);
  Operands ops(rng, cc.out_shape());
  const auto layer = s::prologue(pro) | (s::conv2d(d.filter(), cc.p, s::algo::im2col) | s::add(ops.per_channel()));
  const Buffer4 x = prologue_input(d.in, pro);
  const RefTensor acc = ref_conv2d(std::as_const(x).view(), d.w, cc.cout, cc.kh, cc.kw, cc.p);
  REQUIRE(acc.shape == cc.out_shape());
  const Buffer4 serial = run_conv_on(layer, cc, d.in);
  check_output(serial.view(), acc, layer.epilogue(), what);
  const Buffer4 threads = run_conv_on(layer, cc, d.in, s::thread_executor(3));
  CHECK_MESSAGE(same_bits(threads.dense(), serial.dense()), "thread_executor(3) differs from serial");
  const Buffer4 reversed = run_conv_on(layer, cc, d.in, reverse_executor{2});
  CHECK_MESSAGE(same_bits(reversed.dense(), serial.dense()), "reversed task order differs from serial");
}

ConvCase conv(index_t n, index_t h, index_t w, index_t cin, index_t cout, index_t k, index_t stride) {
  ConvCase cc{.n = n, .h = h, .w = w, .cin = cin, .cout = cout, .kh = k, .kw = k};
  cc.p.stride = stride;
  cc.p.pad = s::same_padding(h, w, k, k, stride);
  return cc;
}

}  // namespace

TEST_CASE("conv2d prologue: channels against the lanes, 1x1 and 3x3, stride 1 and 2") {
  for (index_t c : {1, 3, 5, 17, 33})
    for (index_t k : {1, 3})
      for (index_t stride : {1, 2}) {
        // Output rows shorter than a block (several rows per block, the ring wraps).
        ConvCase a = conv(2, 23, 9, c, 7, k, stride);
        SUBCASE(a.name().c_str()) { conv_pro_case(a, [](Operands& o) { return normalise(o, {}); }, "normalise"); }
        // Output rows longer than a block (several blocks per row share ring rows).
        ConvCase b = conv(1, 7, 2 * MC + 13, c, NR + 3, k, stride);
        SUBCASE(b.name().c_str()) { conv_pro_case(b, [](Operands& o) { return normalise(o, {}); }, "normalise"); }
      }
}

TEST_CASE("conv2d prologue: the face detector's stem (x / 127.5 - 1, 3x3 stride 2 SAME, C = 3)") {
  ConvCase cc = conv(1, 37, 2 * MC + 7, 3, 32, 3, 2);
  cc.x_dist = Dist{0.f, 255.f, false};
  conv_pro_case(cc, detector, "x / 127.5 - 1");
  ConvCase batch = conv(3, 9, 11, 3, 5, 3, 2);
  batch.x_dist = Dist{0.f, 255.f, false};
  conv_pro_case(batch, detector, "x / 127.5 - 1");
}

TEST_CASE("conv2d prologue: padding stays zero after it, asymmetric, dilation, 5x3, batch 3") {
  ConvCase cc{.n = 3, .h = 13, .w = 7, .cin = 5, .cout = 9, .kh = 5, .kw = 3};
  cc.p.pad = s::Padding(2, 3, 0, 2);
  SUBCASE("5x3 asymmetric") { conv_pro_case(cc, [](Operands& o) { return normalise(o, {}); }, "normalise"); }
  ConvCase dil{.n = 2, .h = 11, .w = 10, .cin = 17, .cout = 6, .kh = 3, .kw = 3};
  dil.p.dilation = 2;
  dil.p.pad = s::Padding(2, 1, 3, 2);
  SUBCASE("dilation 2") { conv_pro_case(dil, [](Operands& o) { return normalise(o, {}); }, "normalise"); }
  // 1x1 with padding: the border pixels of the output read only padding.
  ConvCase pw{.n = 2, .h = 5, .w = 6, .cin = 3, .cout = 4, .kh = 1, .kw = 1};
  pw.p.pad = s::Padding(1, 2, 2, 1);
  pw.p.stride = s::HW(1, 2);
  SUBCASE("1x1 padded") { conv_pro_case(pw, [](Operands& o) { return normalise(o, {}); }, "normalise"); }
  // A tall image, a short ring: the ring holds a few rows and wraps many times.
  ConvCase tall = conv(1, 3 * MC + 5, 4, 3, 5, 3, 1);
  SUBCASE("tall") { conv_pro_case(tall, [](Operands& o) { return normalise(o, {}); }, "normalise"); }
}

TEST_CASE("conv2d prologue: strided views, strided tensor operands, groups, generic operand kind") {
  for (index_t c : {3, 17}) {
    ConvCase cc = conv(2, 11, 13, c, 6, 3, 1);
    cc.in_layout = Layout{.pixel_pad = 2, .c0 = 1, .row_pad = 5};
    SUBCASE(("strided input, " + cc.name()).c_str()) {
      conv_pro_case(cc, [](Operands& o) { return normalise(o, {}); }, "normalise");
    }
    ConvCase pw = conv(2, 9, 10, c, 5, 1, 1);
    pw.in_layout = Layout{.pixel_pad = 1};
    SUBCASE(("strided input, " + pw.name()).c_str()) {
      conv_pro_case(pw, [](Operands& o) { return normalise(o, {}); }, "normalise");
    }
    ConvCase t = conv(2, 8, 9, c, 5, 3, 2);
    SUBCASE(("strided tensor operand, " + t.name()).c_str()) {
      conv_pro_case(t, [](Operands& o) { return normalise(o, Layout{.pixel_pad = 3}); }, "normalise");
    }
  }
  ConvCase g = conv(2, 9, 8, 15, 6, 3, 1);
  g.p.groups = 3;
  SUBCASE("groups 3") { conv_pro_case(g, [](Operands& o) { return normalise(o, {}); }, "normalise"); }
  ConvCase r = conv(2, 10, 7, 5, 4, 3, 2);
  SUBCASE("generic operand kind") { conv_pro_case(r, ramp, "ramp"); }
}

TEST_CASE("conv2d prologue: a reused workspace holds no rows of the previous call") {
  ConvCase cc = conv(1, 20, 30, 3, 8, 3, 1);
  Rng rng(seed_of("reused workspace"));
  ConvData d = make_conv_data(cc, rng);
  Operands pro_ops(rng, cc.in_shape());
  const auto pro = normalise(pro_ops, {});
  const auto layer = s::prologue(pro) | s::conv2d(d.filter(), cc.p, s::algo::im2col);
  Buffer4 other(cc.in_shape());
  other.fill(rng);
  std::vector<std::byte> ws(layer.workspace_size(cc.in_shape()));
  const Buffer4 fresh = run_conv_on(layer, cc, d.in);
  run_conv_on(layer, cc, other, s::serial_executor{}, &ws);
  const Buffer4 reused = run_conv_on(layer, cc, d.in, s::serial_executor{}, &ws);
  CHECK(same_bits(reused.dense(), fresh.dense()));
}

namespace {

template <class MakePro>
void linear_pro_case(const LinearCase& lc, MakePro&& make_pro, const std::string& label) {
  const std::string what = lc.name() + ", prologue " + label;
  INFO(what);
  Rng rng(seed_of(what));
  LinearData d = make_linear_data(lc, rng);
  Operands pro_ops(rng, Shape4{1, 1, lc.m, lc.k});
  const auto pro = make_pro(pro_ops);
  const auto layer = s::prologue(pro) | s::linear(d.w.data(), lc.n, lc.k);
  const Buffer4 x = prologue_input(d.x, pro);
  const RefTensor acc = ref_linear(std::as_const(x).matrix(), d.w, lc.n);
  const Buffer4 y = run_linear(layer, lc, d, what);
  check_output(y.view(), acc, layer.epilogue(), what);
  Buffer4 yt(lc.out_shape(), Layout{.pixel_pad = lc.y_ld_pad, .guard = 64});
  std::vector<std::byte> ws(layer.workspace_size(3));
  layer(d.x.matrix(), yt.matrix(), ws, s::thread_executor(3));
  check_guards(yt, what);
  CHECK_MESSAGE(same_bits(yt.dense(), y.dense()), "thread_executor(3) differs from serial");
}

auto linear_norm(Operands& o, index_t ld_pad) {
  return s::sub(o.per_channel()) | s::mul(o.per_channel(positive)) | s::add(1.f) | s::relu() |
         s::add(o.matrix(unit, ld_pad));
}

}  // namespace

TEST_CASE("linear prologue: K against the lanes, dense and strided x and operands, K > KC") {
  for (index_t k : {index_t{1}, index_t{3}, index_t{5}, index_t{17}, index_t{33}, KC + 5})
    for (index_t pad : {0, 2}) {
      const LinearCase lc{.m = MC + MR + 1, .n = NR + 3, .k = k, .x_ld_pad = pad, .y_ld_pad = 1};
      SUBCASE((lc.name() + (pad ? ", strided operand" : "")).c_str()) {
        linear_pro_case(lc, [pad](Operands& o) { return linear_norm(o, pad); }, "normalise");
      }
    }
}
