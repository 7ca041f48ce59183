// depthwise_conv2d with a prologue chain on its input: zero padding after the prologue
// (exact values with add(1) on a zero input), the edge-case matrix (channels 1, 3, 17,
// 33 and whole vectors; images 1x1, 2x3, 13x7; stride 1 and 2 on odd sizes; asymmetric
// and TF 'SAME' padding; batch 3), every op and operand kind in a prologue on every
// tile path (sliding window, tap-major, border, partial vector), long rows, value and
// type forms, bad input.
// Threads: test_depthwise_threads.cpp.
//
// Reference: the prologue applied to the input element by element in float, each op
// rounded as the kernel computes it, then the plain reference conv (double precision)
// on that tensor, with the depthwise tolerance (K + chain + 1) * FLT_EPSILON * sum|products|.
#include <doctest/doctest.h>

#include "depthwise_cases.hpp"

using namespace sinter_test;

namespace {

/// Input normalisation plus a constant: padded positions would read 1 - mean * inv_std
/// instead of 0 if the prologue ran on them.
auto normalise_plus_one(Operands& o) {
  return s::sub(o.per_channel()) | s::mul(o.per_channel(positive)) | s::add(1.f);
}

}  // namespace

TEST_CASE("depthwise prologue: padding is zero after the prologue (add(1) on a zero input, exact)") {
  // Input 0 everywhere, prologue + 1, weights 1: an output sums one 1 per tap inside the
  // input, so it equals the number of real taps; a padded tap that went through the
  // prologue would add 1 more. All values are small integers, exact in float.
  struct Geometry {
    index_t h, w, k, stride;
    s::Padding pad;
  };
  const Geometry cases[] = {
      {5, 6, 3, 1, s::Padding(1)},           {7, 5, 3, 2, s::Padding(0, 2, 1, 0)}, {1, 1, 3, 1, s::Padding(1)},
      {2, 3, 5, 1, s::Padding(2, 2, 1, 3)},  {9, 8, 5, 2, s::Padding(2)},          {3, 4, 3, 1, s::Padding(2, 0, 0, 2)},
      {13, 7, 3, 2, s::same_padding(13, 7, 3, 3, 2)},
  };
  for (const Geometry& g : cases)
    for (index_t c : sizes({1, 3, 17, 33, 2 * LANES})) {
      const index_t n = 2;
      std::vector<float> in(static_cast<std::size_t>(n * g.h * g.w * c), 0.f);
      std::vector<float> w(static_cast<std::size_t>(g.k * g.k * c), 1.f);
      const s::DepthwiseParams p{.stride = g.stride, .pad = g.pad};
      const auto layer = s::prologue(s::add(1.f)) | s::depthwise_conv2d(s::depthwise_filter(w.data(), g.k, g.k, c), p);
      const Shape4 os = layer.output_shape({n, g.h, g.w, c});
      Buffer4 out(os, Layout{.guard = 16});
      layer(s::nhwc<const float>(in.data(), n, g.h, g.w, c), out.view());
      check_guards(out, "add(1) prologue");
      std::size_t bad = 0;
      for (index_t b = 0; b < n; ++b)
        for (index_t oh = 0; oh < os.h; ++oh)
          for (index_t ow = 0; ow < os.w; ++ow) {
            index_t real = 0;  // taps of (oh, ow) inside the input
            for (index_t ky = 0; ky < g.k; ++ky)
              for (index_t kx = 0; kx < g.k; ++kx) {
                const index_t y = oh * g.stride - g.pad.top + ky, x = ow * g.stride - g.pad.left + kx;
                real += y >= 0 && y < g.h && x >= 0 && x < g.w;
              }
            for (index_t ch = 0; ch < c; ++ch) bad += out.at(b, oh, ow, ch) != static_cast<float>(real);
          }
      CHECK_MESSAGE(bad == 0, bad << " outputs differ from the count of real taps; " << g.h << "x" << g.w << " k="
                                  << g.k << " stride=" << g.stride << " C=" << c);
    }
}

TEST_CASE("depthwise prologue: edge-case matrix against the reference") {
  const std::pair<index_t, index_t> images[] = {{1, 1}, {2, 3}, {13, 7}};
  for (index_t c : sizes({1, 3, 17, 33, 2 * LANES + 1}))
    for (auto [h, w] : images)
      for (index_t stride : {1, 2})
        for (int pad_kind = 0; pad_kind < 3; ++pad_kind) {
          s::Padding pad(1);
          if (pad_kind == 1) pad = s::Padding(2, 0, 0, 1);  // asymmetric
          if (pad_kind == 2) pad = s::same_padding(h, w, 3, 3, stride);
          const ConvCase cc = dw_case_of(1, h, w, c, 3, 3, stride, pad);
          const Shape4 o = cc.out_shape();
          if (o.h < 1 || o.w < 1) continue;
          SUBCASE(cc.name().c_str()) {
            dw_pro_check<s::Kernel<3, 3>>(cc, normalise_plus_one, bias);
            dw_pro_check<s::Kernel<s::dynamic, s::dynamic>>(cc, normalise_plus_one, bias, "run-time extent");
          }
        }
}

TEST_CASE("depthwise prologue: batch 3, 5x5, stride 2 on odd sizes, dilation, strided input") {
  for (index_t c : sizes({3, 17, 33})) {
    const ConvCase cc = dw_case_of(3, 13, 7, c, 3, 3, 2, s::same_padding(13, 7, 3, 3, 2));
    SUBCASE(cc.name().c_str()) {
      dw_pro_check<s::Kernel<3, 3>>(cc, normalise_plus_one, [](Operands& o) {
        return s::mul(o.per_channel(positive)) | s::add(o.per_channel()) | s::relu6();
      });
    }
  }
  ConvCase c5 = dw_case_of(3, 11, 9, 17, 5, 5, 2, s::Padding(2, 1, 1, 2));
  dw_pro_check<s::Kernel<5, 5>>(c5, normalise_plus_one, bias, "5x5");
  ConvCase cd = dw_case_of(2, 11, 9, 2 * LANES + 3, 3, 3, 1, s::Padding(2, 1, 0, 3), 2);
  dw_pro_check<s::Kernel<3, 3>>(cd, normalise_plus_one, bias, "dilation 2");
  // A strided channel slice as input: NaN in the gaps reaches the output if the
  // prologue's loads read them.
  ConvCase cs = dw_case_of(2, 13, 7, 2 * LANES + 1, 3, 3, 1, s::Padding(1, 2, 2, 1));
  cs.in_layout = Layout{.pixel_pad = 2, .c0 = 5, .row_pad = 7, .image_pad = 11};
  cs.out_layout = Layout{.pixel_pad = LANES + 3, .c0 = 3, .row_pad = 5};
  dw_pro_check<s::Kernel<3, 3>>(cs, normalise_plus_one, bias, "strided input and output");
}

TEST_CASE("depthwise prologue: every op and operand kind") {
  // Full and partial channel vectors, full and short pixel blocks, border rows and columns.
  const index_t c = 2 * LANES + 3;
  for (index_t stride : {1, 2}) {
    ConvCase cc = dw_case_of(2, 9, 11, c, 3, 3, stride, s::Padding(1, 2, 2, 1));
    SUBCASE(("stride " + std::to_string(stride)).c_str()) {
      dw_pro_check<s::Kernel<3, 3>>(cc, [](Operands& o) {
        return s::add(o.per_channel()) | s::mul(o.tensor(positive, operand_layout)) | s::relu();
      }, bias, "add per channel, mul by a strided tensor, relu");
      dw_pro_check<s::Kernel<3, 3>>(cc, [](Operands& o) {
        return s::sub(s::scalar(0.25f)) | s::rsub(o.per_channel()) | s::clip(-0.5f, 0.75f);
      }, bias, "sub scalar, rsub per channel, clip");
      dw_pro_check<s::Kernel<3, 3>>(cc, [](Operands& o) {
        return s::div(o.per_channel(divisor)) | s::mul(s::constant<2.f>) | s::add(o.tensor()) | s::relu6();
      }, bias, "div per channel, constant, tensor add, relu6");
      dw_pro_check<s::Kernel<3, 3>>(cc, [](Operands& o) {
        return s::sub(o.tensor()) | s::ClipTo<-1.f, 1.f>{} | s::add(s::constant<2.f>) |
               s::rdiv(o.per_channel(positive));
      }, [](Operands& o) {
        return s::mul(o.per_channel(positive)) | s::add(o.tensor()) | s::relu();
      }, "tensor sub, ClipTo, rdiv by the input");
      dw_pro_check<s::Kernel<s::dynamic, s::dynamic>>(cc, [](Operands& o) {
        return s::mul(s::scalar(1.5f)) | s::div(o.tensor(divisor)) | s::rsub(s::constant<0.5f>);
      }, bias, "run-time extent: mul scalar, div tensor, rsub constant");
    }
  }
}

TEST_CASE("depthwise prologue: long rows, tensor operands on both sides, 5x5 stride 2") {
  ConvCase cc = dw_case_of(2, 9, 131, 4 * LANES + 3, 3, 3, 1, s::Padding(1, 1, 1, 1));
  dw_pro_check<s::Kernel<3, 3>>(cc, [](Operands& o) {
    return s::add(o.tensor(unit, operand_layout)) | s::mul(o.per_channel(positive));
  }, [](Operands& o) { return s::add(o.per_channel()) | s::add(o.tensor()) | s::relu(); }, "long rows");
  ConvCase c2 = dw_case_of(1, 40, 61, 2 * LANES, 5, 5, 2, s::same_padding(40, 61, 5, 5, 2));
  dw_pro_check<s::Kernel<5, 5>>(c2, normalise_plus_one, bias, "5x5 stride 2");
}

TEST_CASE("depthwise prologue: value form equals type form, bit for bit; prologues compose") {
  const ConvCase cc = dw_case_of(1, 7, 10, 2 * LANES + 5, 3, 3, 1, s::Padding(1));
  Rng rng(17);
  ConvData d = make_conv_data(cc, rng);
  Operands pro_ops(rng, cc.in_shape());
  Operands ops(rng, cc.out_shape());
  const s::PerChannel mean = pro_ops.per_channel(), inv_std = pro_ops.per_channel(positive);
  const s::PerChannel scale = ops.per_channel(positive), shift = ops.per_channel();
  const auto filter = s::depthwise_ohwi(d.w.data(), cc.cin, 3, 3);
  const auto value = s::prologue(s::sub(mean) | s::mul(inv_std)) | s::depthwise_conv2d<3, 3>(filter, {.pad = 1}) |
                     s::mul(scale) | s::add(shift) | s::relu6();
  // The prologue attached after the epilogue, and as two prologues (outer runs first).
  const auto late = s::prologue(s::sub(mean) | s::mul(inv_std)) |
                    (s::depthwise_conv2d<3, 3>(filter, {.pad = 1}) | s::mul(scale) | s::add(shift) | s::relu6());
  const auto twice = s::prologue(s::sub(mean)) | (s::prologue(s::mul(inv_std)) |
                                                 (s::depthwise_conv2d<3, 3>(filter, {.pad = 1}) | s::mul(scale) |
                                                  s::add(shift) | s::relu6()));
  using Epi = s::Epilogue<s::Mul<s::PerChannel>, s::Add<s::PerChannel>, s::ReLU6>;
  using Pro = s::Prologue<s::Sub<s::PerChannel>, s::Mul<s::PerChannel>>;
  using Layer = s::DepthwiseConv2D<s::Kernel<3, 3>, Epi, Pro>;
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(value)>, Layer>);
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(late)>, Layer>);
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(twice)>, Layer>);
  const Layer typed(filter, {.pad = 1}, Epi(s::mul(scale), s::add(shift), s::relu6()),
                    Pro(s::sub(mean), s::mul(inv_std)));
  const Buffer4 a = run_conv(value, cc, d, "value form");
  const Buffer4 b = run_conv(late, cc, d, "prologue attached last");
  const Buffer4 c2 = run_conv(twice, cc, d, "two prologues");
  const Buffer4 t = run_conv(typed, cc, d, "type form");
  check_output(a.view(), prologue_reference(cc, d, typed.prologue()), value.epilogue(), "value form");
  CHECK(same_bits(a.dense(), t.dense()));
  CHECK(same_bits(b.dense(), t.dense()));
  CHECK(same_bits(c2.dense(), t.dense()));
  // No workspace, whatever the thread count: the prologue runs in registers.
  CHECK(value.workspace_size(cc.in_shape()) == 0);
  CHECK(value.workspace_size(cc.in_shape(), 3) == 0);
  Buffer4 w(cc.out_shape(), Layout{.guard = 16});
  value(d.in.view(), w.view(), s::workspace{}, s::thread_executor(2));
  check_guards(w, "two threads, empty workspace");
  CHECK(same_bits(w.dense(), t.dense()));
}

TEST_CASE("depthwise prologue: bad operands are rejected; nothing written") {
  const index_t c = 17;
  std::vector<float> w(static_cast<std::size_t>(9 * c), 0.5f);
  const auto filter = s::depthwise_filter(w.data(), 3, 3, c);
  Buffer4 in(Shape4{1, 5, 6, c});
  Rng rng(5);
  in.fill(rng);
  std::vector<float> short_mean(static_cast<std::size_t>(c - 1));
  CHECK_THROWS_WITH_AS((s::prologue(s::sub(s::per_channel(short_mean))) | s::depthwise_conv2d<3, 3>(filter)),
                       doctest::Contains("depthwise_conv2d prologue: per-channel operand of op 0: expected 17"),
                       s::error);
  Buffer4 out(Shape4{1, 5, 6, c}, Layout{.guard = 16});
  // A tensor operand of the output's shape where the input's is expected.
  Buffer4 small(Shape4{1, 5, 5, c});
  small.fill(rng);
  const auto wrong = s::prologue(s::add(s::tensor(std::as_const(small).view()))) |
                     s::depthwise_conv2d<3, 3>(filter, {.pad = s::Padding(1, 1, 1, 0)});
  Buffer4 out5(Shape4{1, 5, 5, c}, Layout{.guard = 16});
  CHECK_THROWS_WITH_AS(wrong(in.view(), out5.view()),
                       doctest::Contains("expected shape [1, 5, 6, 17], got [1, 5, 5, 17]"), s::error);
  CHECK(out5.all_sentinel());
  // A prologue operand overlapping the output.
  const auto overlapping = s::prologue(s::add(s::tensor(std::as_const(out).view()))) |
                           s::depthwise_conv2d<3, 3>(filter, {.pad = 1});
  CHECK_THROWS_WITH_AS(overlapping(in.view(), out.view()), doctest::Contains("prologue: a tensor operand overlaps"),
                       s::error);
  // A per-channel operand rebound to a null pointer after construction.
  std::vector<float> mean(static_cast<std::size_t>(c), 0.5f);
  auto layer = s::prologue(s::sub(s::per_channel(mean))) | s::depthwise_conv2d<3, 3>(filter, {.pad = 1});
  layer.prologue().op<0>().operand.data = nullptr;
  CHECK_THROWS_WITH_AS(layer(in.view(), out.view()),
                       doctest::Contains("depthwise_conv2d prologue: per-channel operand of op 0 is a null pointer"),
                       s::error);
  CHECK(out.all_sentinel());
}
