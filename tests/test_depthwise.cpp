// depthwise_conv2d (the direct kernel of conv/depthwise.hpp) against the reference
// conv2d with groups = C: channels 1, 3, 17, 33 and whole vectors (the partial last
// vector, every channel-block width), images 1x1 / 2x3 / 13x7 / 112x112, filters 3x3,
// 5x5, 1x1 and 2x3 as compile-time and run-time extents, stride 1, 2 and 3 on odd
// sizes, dilation 2, symmetric / asymmetric / TF 'SAME' padding, batch 3, the filter
// layouts, the value and type forms, the generic groups = C path, and bad input.
// Chains, strided views, the narrower ISAs: test_depthwise_chains.cpp.
//
// Tolerance: the reference's (K + chain + 1) * FLT_EPSILON * sum|products| with
// K = KH * KW (an FMA dot product of K terms, see reference.hpp).
#include <doctest/doctest.h>

#include "depthwise_cases.hpp"

using namespace sinter_test;

namespace {

/// The sweep of one filter extent: channel counts around the vector width, 1x1 / 2x3 /
/// 13x7 images, stride 1 and 2, no / centred / asymmetric / TF SAME padding; the
/// compile-time extent and Kernel<dynamic, dynamic> on every case.
template <index_t KH, index_t KW>
void kernel_sweep() {
  const std::vector<index_t> channels = sizes({1, 3, 17, 33, 2 * LANES, 3 * LANES + 1, 8 * LANES + 5});
  const std::pair<index_t, index_t> images[] = {{1, 1}, {2, 3}, {13, 7}};
  for (index_t c : channels)
    for (auto [h, w] : images)
      for (index_t stride : {1, 2})
        for (int pad_kind = 0; pad_kind < 4; ++pad_kind) {
          s::Padding pad;
          if (pad_kind == 1) pad = s::Padding((KH - 1) / 2, KH / 2, (KW - 1) / 2, KW / 2);
          if (pad_kind == 2) pad = s::same_padding(h, w, KH, KW, stride);
          if (pad_kind == 3) pad = s::Padding(KH - 1, 0, 0, KW - 1);
          const ConvCase cc = dw_case_of(1, h, w, c, KH, KW, stride, pad);
          const Shape4 o = cc.out_shape();
          if (o.h < 1 || o.w < 1) continue;  // filter does not fit: see the error tests
          SUBCASE(cc.name().c_str()) {
            dw_check<s::Kernel<KH, KW>>(cc, bias);
            dw_check<s::Kernel<s::dynamic, s::dynamic>>(cc, bias, "run-time extent");
          }
        }
}

}  // namespace

TEST_CASE("depthwise 3x3") { kernel_sweep<3, 3>(); }
TEST_CASE("depthwise 5x5") { kernel_sweep<5, 5>(); }
TEST_CASE("depthwise 1x1") { kernel_sweep<1, 1>(); }
TEST_CASE("depthwise 2x3") { kernel_sweep<2, 3>(); }

TEST_CASE("depthwise: dilation 2, odd sizes, stride 1, 2 and 3, asymmetric padding") {
  for (index_t c : sizes({3, 17, LANES + 1}))
    for (index_t stride : {1, 2, 3})
      for (const s::Padding& pad : {s::Padding(2), s::Padding(1, 2, 0, 3), s::Padding(0)}) {
        const ConvCase cc = dw_case_of(2, 11, 9, c, 3, 3, stride, pad, 2);
        SUBCASE(cc.name().c_str()) {
          dw_check<s::Kernel<3, 3>>(cc, bias);
          dw_check<s::Kernel<s::dynamic, s::dynamic>>(cc, bias, "run-time extent");
        }
      }
  // Dilation different per axis, 5x5, with the filter barely fitting.
  ConvCase cc = dw_case_of(1, 13, 7, 17, 5, 5, 1, s::Padding(1, 0, 2, 1));
  cc.p.dilation = s::HW(2, 1);
  dw_check<s::Kernel<5, 5>>(cc, bias);
  cc.p.stride = s::HW(1, 2);
  dw_check<s::Kernel<5, 5>>(cc, bias);
}

TEST_CASE("depthwise: batch 3") {
  for (index_t c : sizes({3, 33, 2 * LANES})) {
    const ConvCase cc = dw_case_of(3, 13, 7, c, 3, 3, 2, s::same_padding(13, 7, 3, 3, 2));
    SUBCASE(cc.name().c_str()) { dw_check<s::Kernel<3, 3>>(cc, bias); }
  }
  const ConvCase cc5 = dw_case_of(3, 6, 9, 17, 5, 5, 1, s::Padding(2));
  dw_check<s::Kernel<5, 5>>(cc5, bare);
}

TEST_CASE("depthwise: 112x112 images (MobileNet shapes)") {
  SUBCASE("3x3 stride 1, C = 32, folded batch-norm + relu6") {
    const ConvCase cc = dw_case_of(1, 112, 112, 32, 3, 3, 1, s::Padding(1));
    dw_check<s::Kernel<3, 3>>(cc, [](Operands& o) {
      return s::mul(o.per_channel(positive)) | s::add(o.per_channel()) | s::relu6();
    });
  }
  SUBCASE("3x3 stride 2 SAME, C = 17") {
    const ConvCase cc = dw_case_of(1, 112, 112, 17, 3, 3, 2, s::same_padding(112, 112, 3, 3, 2));
    dw_check<s::Kernel<3, 3>>(cc, bias);
  }
  SUBCASE("5x5 stride 2 SAME, odd 113x111, C = 33") {
    const ConvCase cc = dw_case_of(1, 113, 111, 33, 5, 5, 2, s::same_padding(113, 111, 5, 5, 2));
    dw_check<s::Kernel<5, 5>>(cc, bias);
  }
}

TEST_CASE("depthwise: rows not a multiple of the pixel block, odd heights; compile-time and run-time extents agree") {
  // Row tails (the last pixel block overlapping the one before), narrow rows, blocks
  // reaching into the padding on one or both sides, pairs of output rows with an odd
  // row left over; the sliding window (compile-time extent) must give the tap-major
  // (run-time extent) result bit for bit: both sum each output's taps in (ky, kx) order.
  const std::pair<index_t, index_t> images[] = {{9, 19}, {6, 10}, {5, 16}, {4, 3}, {11, 2}};
  for (index_t c : sizes({3, 17, 2 * LANES + 1}))
    for (auto [h, w] : images)
      for (index_t k : {3, 5})
        for (index_t stride : {1, 2})
          for (const s::Padding& pad : {s::Padding(k / 2), s::Padding(0, k - 1, k - 1, 0), s::Padding(0)}) {
            const ConvCase cc = dw_case_of(1, h, w, c, k, k, stride, pad);
            const Shape4 o = cc.out_shape();
            if (o.h < 1 || o.w < 1) continue;
            SUBCASE(cc.name().c_str()) {
              Rng rng(seed_of(cc.name()));
              ConvData d = make_conv_data(cc, rng);
              const auto filter = s::depthwise_ohwi(d.w.data(), c, k, k);
              const auto dynamic = s::depthwise_conv2d(filter, dw_params(cc.p));
              const Buffer4 b = run_conv(dynamic, cc, d, cc.name() + ", run-time extent");
              check_output(b.view(), d.acc, dynamic.epilogue(), cc.name() + ", run-time extent");
              if (k == 3) {
                const auto fixed = s::depthwise_conv2d<3, 3>(filter, dw_params(cc.p));
                const Buffer4 a = run_conv(fixed, cc, d, cc.name());
                check_output(a.view(), d.acc, fixed.epilogue(), cc.name());
                CHECK(same_bits(a.dense(), b.dense()));
              } else {
                const auto fixed = s::depthwise_conv2d<5, 5>(filter, dw_params(cc.p));
                const Buffer4 a = run_conv(fixed, cc, d, cc.name());
                check_output(a.view(), d.acc, fixed.epilogue(), cc.name());
                CHECK(same_bits(a.dense(), b.dense()));
              }
            }
          }
}

TEST_CASE("depthwise: value form equals type form, bit for bit; chain appended whole") {
  const ConvCase cc = dw_case_of(1, 7, 10, 2 * LANES + 5, 3, 3, 1, s::Padding(1));
  Rng rng(7);
  ConvData d = make_conv_data(cc, rng);
  Operands o(rng, cc.out_shape());
  const s::PerChannel scale = o.per_channel(positive), shift = o.per_channel();
  const auto filter = s::depthwise_ohwi(d.w.data(), cc.cin, 3, 3);
  const auto value = s::depthwise_conv2d<3, 3>(filter, {.pad = 1}) | s::mul(scale) | s::add(shift) | s::relu6();
  const auto chained = s::depthwise_conv2d<3, 3>(filter, {.pad = 1}) | (s::mul(scale) | s::add(shift) | s::relu6());
  using Epi = s::Epilogue<s::Mul<s::PerChannel>, s::Add<s::PerChannel>, s::ReLU6>;
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(value)>, s::DepthwiseConv2D<s::Kernel<3, 3>, Epi>>);
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(chained)>, s::DepthwiseConv2D<s::Kernel<3, 3>, Epi>>);
  const s::DepthwiseConv2D<s::Kernel<3, 3>, Epi> typed(filter, {.pad = 1}, Epi(s::mul(scale), s::add(shift), s::relu6()));
  const Buffer4 a = run_conv(value, cc, d, "value form");
  const Buffer4 b = run_conv(chained, cc, d, "value form, chain appended whole");
  const Buffer4 t = run_conv(typed, cc, d, "type form");
  check_output(a.view(), d.acc, value.epilogue(), "value form");
  CHECK(same_bits(a.dense(), t.dense()));
  CHECK(same_bits(b.dense(), t.dense()));
  CHECK(value.channels() == cc.cin);
  CHECK(value.workspace_size(cc.in_shape()) == 0);
  // With a caller-provided (empty) workspace.
  Buffer4 w(cc.out_shape(), Layout{.guard = 16});
  value(d.in.view(), w.view(), s::workspace{});
  CHECK(same_bits(w.dense(), t.dense()));
}

TEST_CASE("depthwise: filter layouts give the same output, bit for bit") {
  const index_t c = LANES + 3, kh = 3, kw = 5;
  const ConvCase cc = dw_case_of(1, 9, 8, c, kh, kw, 1, s::Padding(1, 1, 2, 2));
  Rng rng(11);
  ConvData d = make_conv_data(cc, rng);  // d.w: OHWI [C, KH, KW, 1]
  std::vector<float> hwc(d.w.size());    // [KH, KW, C]: also TF's [KH, KW, C, 1] and HWIO [KH, KW, 1, C]
  for (index_t ch = 0; ch < c; ++ch)
    for (index_t y = 0; y < kh; ++y)
      for (index_t x = 0; x < kw; ++x)
        hwc[static_cast<std::size_t>((y * kw + x) * c + ch)] = d.w[static_cast<std::size_t>((ch * kh + y) * kw + x)];
  const s::DepthwiseParams p = dw_params(cc.p);
  const auto ref = s::depthwise_conv2d<3, 5>(s::depthwise_ohwi(d.w.data(), c, kh, kw), p);
  const Buffer4 r = run_conv(ref, cc, d, "depthwise_ohwi");
  check_output(r.view(), d.acc, ref.epilogue(), "depthwise_ohwi");
  const s::DepthwiseFilterView forms[] = {
      s::depthwise_filter(hwc.data(), kh, kw, c),
      s::depthwise_hwio(hwc.data(), kh, kw, c, 1),
      s::depthwise_filter(s::hwio(hwc.data(), kh, kw, 1, c)),
      s::depthwise_filter(s::ohwi(d.w.data(), c, kh, kw, 1)),
  };
  const char* names[] = {"depthwise_filter [KH, KW, C]", "depthwise_hwio [KH, KW, C, 1]",
                         "hwio [KH, KW, 1, C] (groups = C)", "ohwi [C, KH, KW, 1] (groups = C)"};
  for (int i = 0; i < 4; ++i) {
    const auto layer = s::depthwise_conv2d<3, 5>(forms[i], p);
    const Buffer4 o = run_conv(layer, cc, d, names[i]);
    CHECK_MESSAGE(same_bits(o.dense(), r.dense()), names[i]);
  }
}

TEST_CASE("depthwise through conv2d groups = C (generic path) agrees with the direct kernel") {
  const ConvCase cc = dw_case_of(2, 13, 7, 17, 3, 3, 2, s::same_padding(13, 7, 3, 3, 2));
  Rng rng(3);
  ConvData d = make_conv_data(cc, rng);
  const auto generic = s::conv2d<3, 3>(d.filter(), cc.p) | s::relu6();
  const auto direct = s::depthwise_conv2d<3, 3>(s::depthwise_filter(d.filter()), dw_params(cc.p)) | s::relu6();
  const Buffer4 g = run_conv(generic, cc, d, "conv2d groups = C");
  const Buffer4 o = run_conv(direct, cc, d, "depthwise_conv2d");
  check_output(g.view(), d.acc, generic.epilogue(), "conv2d groups = C");
  check_output(o.view(), d.acc, direct.epilogue(), "depthwise_conv2d");
}

TEST_CASE("depthwise: bad input is rejected with the expected and actual values; nothing written") {
  const index_t c = 17;
  std::vector<float> w(static_cast<std::size_t>(9 * c), 0.5f);
  const auto filter = s::depthwise_filter(w.data(), 3, 3, c);
  Buffer4 in(Shape4{1, 5, 6, c});
  Rng rng(5);
  in.fill(rng);

  SUBCASE("construction") {
    CHECK_THROWS_WITH_AS((s::depthwise_conv2d<3, 3>(s::depthwise_filter(nullptr, 3, 3, c))), doctest::Contains("null"),
                         s::error);
    CHECK_THROWS_WITH_AS((s::depthwise_conv2d<3, 3>(s::depthwise_filter(w.data(), 3, 3, 0))),
                         doctest::Contains("got [3, 3, 0]"), s::error);
    CHECK_THROWS_WITH_AS((s::depthwise_conv2d<5, 5>(filter)), doctest::Contains("must be 5x5 as the type says, got 3x3"),
                         s::error);
    CHECK_THROWS_WITH_AS((s::depthwise_conv2d<3, 3>(filter, {.stride = 0})), doctest::Contains("stride must be positive"),
                         s::error);
    CHECK_THROWS_WITH_AS((s::depthwise_conv2d<3, 3>(filter, {.dilation = s::HW(1, 0)})),
                         doctest::Contains("dilation must be positive, got 1x0"), s::error);
    CHECK_THROWS_WITH_AS((s::depthwise_conv2d<3, 3>(filter, {.pad = s::Padding(1, 1, -1, 1)})),
                         doctest::Contains("padding must be non-negative"), s::error);
    std::vector<float> short_bias(static_cast<std::size_t>(c - 1));
    CHECK_THROWS_WITH_AS((s::depthwise_conv2d<3, 3>(filter) | s::add(s::per_channel(short_bias))),
                         doctest::Contains("expected 17 values (output channels), got 16"), s::error);
    CHECK_THROWS_WITH_AS(s::depthwise_hwio(w.data(), 3, 3, c, 2), doctest::Contains("expected 1, got 2"), s::error);
    CHECK_THROWS_WITH_AS(s::depthwise_filter(s::ohwi(w.data(), c, 3, 3, 2)),
                         doctest::Contains("expected 1, got 2"), s::error);
  }

  SUBCASE("calls") {
    const auto layer = s::depthwise_conv2d<3, 3>(filter, {.pad = 1});
    Buffer4 out(Shape4{1, 5, 6, c}, Layout{.guard = 16});
    Buffer4 wrong_c(Shape4{1, 5, 6, c + 1});
    CHECK_THROWS_WITH_AS(layer(wrong_c.view(), out.view()), doctest::Contains("input channels: expected 17, got 18"),
                         s::error);
    Buffer4 small(Shape4{1, 5, 5, c}, Layout{.guard = 16});
    CHECK_THROWS_WITH_AS(layer(in.view(), small.view()),
                         doctest::Contains("output shape: expected [1, 5, 6, 17], got [1, 5, 5, 17]"), s::error);
    CHECK(small.all_sentinel());
    const auto no_pad = s::depthwise_conv2d<3, 3>(filter);
    Buffer4 tiny(Shape4{1, 2, 2, c});
    tiny.fill(rng);
    CHECK_THROWS_WITH_AS(no_pad.output_shape(tiny.shape()), doctest::Contains("does not fit the padded 2x2 input"),
                         s::error);
    CHECK_THROWS_WITH_AS(no_pad(tiny.view(), out.view()), doctest::Contains("does not fit"), s::error);
    s::TensorView<const float> null_in = in.view();
    null_in.data = nullptr;
    CHECK_THROWS_WITH_AS(layer(null_in, out.view()), doctest::Contains("input is a null pointer"), s::error);
    s::TensorView<float> overlapping = out.view();
    overlapping.stride_w = c - 1;
    CHECK_THROWS_WITH_AS(layer(in.view(), overlapping), doctest::Contains("strides must not overlap"), s::error);
    CHECK(out.all_sentinel());

    // Output aliasing the input (in-place depthwise is not supported).
    Buffer4 both(Shape4{1, 5, 6, c});
    both.fill(rng);
    CHECK_THROWS_WITH_AS(layer(std::as_const(both).view(), both.view()), doctest::Contains("output overlaps the input"),
                         s::error);

    // Tensor operand of the wrong shape, and one overlapping the output.
    Buffer4 res(Shape4{1, 5, 5, c});
    res.fill(rng);
    const auto with_res = s::depthwise_conv2d<3, 3>(filter, {.pad = 1}) | s::add(s::tensor(std::as_const(res).view()));
    CHECK_THROWS_WITH_AS(with_res(in.view(), out.view()),
                         doctest::Contains("expected shape [1, 5, 6, 17], got [1, 5, 5, 17]"), s::error);
    auto rebound = s::depthwise_conv2d<3, 3>(filter, {.pad = 1}) | s::add(s::tensor(std::as_const(out).view()));
    CHECK_THROWS_WITH_AS(rebound(in.view(), out.view()), doctest::Contains("overlaps the output"), s::error);
    CHECK(out.all_sentinel());
  }
}
