// conv2d (algo::Im2col) layouts and structure against the reference: groups (2 and
// depthwise, groups = C_in = C_out), HWIO filters equal to OHWI, Kernel<dynamic,
// dynamic> equal to Kernel<KH, KW>, strided input views and outputs written into a
// channel slice of a larger NHWC tensor (the channels around the slice stay untouched),
// the 5-op residual chain, and 56x56 images for a few channel pairs.
#include <doctest/doctest.h>

#include "reference.hpp"

using namespace sinter_test;

namespace {

auto bias(Operands& o) { return s::add(o.per_channel()); }

// bias, folded batch norm (scale, shift), residual, activation
auto block5(Operands& o) {
  return s::add(o.per_channel()) | s::mul(o.per_channel(wide)) | s::add(o.per_channel()) | s::add(o.tensor()) |
         s::relu();
}

std::uint32_t seed_for(const ConvCase& cc) { return seed_of(cc.name()); }

}  // namespace

TEST_CASE("conv2d groups = 2") {
  const std::pair<index_t, index_t> channels[] = {{2, 2}, {6, 10}, {34, 18}, {64, 64}, {2, 66}};
  for (auto [cin, cout] : channels)
    for (auto [kh, kw] : {std::pair<index_t, index_t>{3, 3}, {1, 1}, {2, 3}})
      for (index_t stride : {1, 2}) {
        ConvCase cc{.n = 2, .h = 7, .w = 6, .cin = cin, .cout = cout, .kh = kh, .kw = kw};
        cc.p.groups = 2;
        cc.p.stride = stride;
        cc.p.pad = s::Padding(kh / 2, (kh - 1) / 2, kw / 2, (kw - 1) / 2);
        SUBCASE(cc.name().c_str()) { conv_case(cc, seed_for(cc), bias); }
      }
}

TEST_CASE("conv2d groups = 4 and 3, C_out / groups not a multiple of the vector width") {
  ConvCase a{.h = 5, .w = 5, .cin = 12, .cout = 20, .kh = 3, .kw = 3};
  a.p.groups = 4;
  a.p.pad = 1;
  SUBCASE(a.name().c_str()) { conv_case(a, seed_for(a), bias); }
  ConvCase b{.n = 2, .h = 4, .w = 6, .cin = 3 * 17, .cout = 3 * (NR + 1), .kh = 3, .kw = 1};
  b.p.groups = 3;
  b.p.pad = s::Padding(1, 1, 0, 0);
  SUBCASE(b.name().c_str()) { conv_case(b, seed_for(b), bias); }
}

TEST_CASE("conv2d depthwise (groups = C_in = C_out)") {
  for (index_t c : {1, 3, 5, 17, 33, 64})
    for (auto [kh, kw] : {std::pair<index_t, index_t>{3, 3}, {5, 5}})
      for (index_t stride : {1, 2})
        for (index_t dilation : {1, 2}) {
          ConvCase cc{.n = stride == 1 ? 1 : 3, .h = 13, .w = 7, .cin = c, .cout = c, .kh = kh, .kw = kw};
          cc.p.groups = c;
          cc.p.stride = stride;
          cc.p.dilation = dilation;
          cc.p.pad = s::same_padding(13, 7, kh, kw, stride, dilation);
          SUBCASE(cc.name().c_str()) { conv_case(cc, seed_for(cc), bias); }
        }
}

TEST_CASE("conv2d depthwise with a channel multiplier (groups = C_in, C_out = 2 * C_in)") {
  for (index_t c : {3, 17}) {
    ConvCase cc{.h = 6, .w = 5, .cin = c, .cout = 2 * c, .kh = 3, .kw = 3};
    cc.p.groups = c;
    cc.p.pad = 1;
    SUBCASE(cc.name().c_str()) { conv_case(cc, seed_for(cc), bias); }
  }
}

TEST_CASE("conv2d HWIO filter gives the same output as OHWI, bit for bit") {
  struct Case {
    index_t cin, cout, kh, kw, groups;
  };
  const Case cases[] = {{3, 17, 3, 3, 1}, {17, 5, 2, 3, 1}, {64, 33, 1, 1, 1}, {6, 10, 3, 3, 2}, {17, 17, 5, 5, 17}};
  for (const Case& k : cases) {
    ConvCase cc{.h = 9, .w = 6, .cin = k.cin, .cout = k.cout, .kh = k.kh, .kw = k.kw};
    cc.p.groups = k.groups;
    cc.p.pad = s::Padding(1, 0, 0, 1);
    SUBCASE((cc.name() + " HWIO").c_str()) {
      Rng rng(seed_for(cc));
      ConvData d = make_conv_data(cc, rng);
      Operands o(rng, cc.out_shape());
      const s::PerChannel b = o.per_channel();
      const std::vector<float> hwio = to_hwio(d.w, cc.cout, cc.kh, cc.kw, d.cin_g);
      const auto from_ohwi = s::conv2d(d.filter(), cc.p, s::algo::im2col) | s::add(b);
      const auto from_hwio =
          s::conv2d(s::hwio(hwio.data(), cc.kh, cc.kw, d.cin_g, cc.cout), cc.p, s::algo::im2col) | s::add(b);
      const Buffer4 y1 = run_conv(from_ohwi, cc, d, cc.name() + " OHWI");
      const Buffer4 y2 = run_conv(from_hwio, cc, d, cc.name() + " HWIO");
      check_output(y2.view(), d.acc, from_hwio.epilogue(), cc.name() + " HWIO");
      CHECK(same_bits(y1.dense(), y2.dense()));
    }
  }
}

TEST_CASE("conv2d Kernel<dynamic, dynamic> gives the same output as Kernel<KH, KW>") {
  ConvCase cc{.n = 2, .h = 8, .w = 7, .cin = 5, .cout = NR + 3, .kh = 3, .kw = 3};
  cc.p.stride = s::HW(2, 1);
  cc.p.pad = s::Padding(1, 1, 0, 2);
  Rng rng(seed_for(cc));
  ConvData d = make_conv_data(cc, rng);
  Operands o(rng, cc.out_shape());
  const s::PerChannel b = o.per_channel();
  using Epi = s::Epilogue<s::Add<s::PerChannel>>;
  const s::Conv2D<s::Kernel<3, 3>, s::algo::Im2col, Epi> fixed(d.filter(), cc.p, Epi({b}));
  const s::Conv2D<s::Kernel<s::dynamic, s::dynamic>, s::algo::Im2col, Epi> dyn(d.filter(), cc.p, Epi({b}));
  const auto valued = s::conv2d<s::dynamic>(d.filter(), cc.p, s::algo::im2col) | s::add(b);
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(valued)>, std::remove_cvref_t<decltype(dyn)>>);
  const Buffer4 y1 = run_conv(fixed, cc, d, cc.name() + " Kernel<3, 3>");
  const Buffer4 y2 = run_conv(dyn, cc, d, cc.name() + " Kernel<dynamic, dynamic>");
  const Buffer4 y3 = run_conv(valued, cc, d, cc.name() + " conv2d<dynamic>(..., algo::im2col)");
  check_output(y1.view(), d.acc, fixed.epilogue(), cc.name());
  CHECK(same_bits(y1.dense(), y2.dense()));
  CHECK(same_bits(y1.dense(), y3.dense()));
  CHECK(fixed.in_channels() == cc.cin);
  CHECK(fixed.out_channels() == cc.cout);
}

TEST_CASE("conv2d strided views: input with gaps, output into a channel slice of a larger tensor") {
  // The input's gaps hold NaN (any read of them poisons an output); the output is
  // channels [c0, c0 + C_out) of a wider NHWC tensor whose other channels, row and
  // image paddings must keep their sentinel.
  struct Views {
    Layout in, out;
    const char* what;
  };
  const Views views[] = {
      {Layout{.pixel_pad = 3}, Layout{}, "input pixel stride C_in + 3"},
      {Layout{}, Layout{.pixel_pad = 5, .c0 = 7}, "output = channels [7, 7 + C_out) of C_out + 12"},
      {Layout{.pixel_pad = 1, .c0 = 2, .row_pad = 5, .image_pad = 9},
       Layout{.pixel_pad = 1, .c0 = 3, .row_pad = 2, .image_pad = 11}, "both strided, row and image padding"},
  };
  const std::pair<index_t, index_t> channels[] = {{3, 17}, {17, 5}, {33, NR + 1}};
  for (const Views& v : views)
    for (auto [cin, cout] : channels) {
      ConvCase cc{.n = 2, .h = 7, .w = 6, .cin = cin, .cout = cout, .kh = 3, .kw = 3};
      cc.p.pad = 1;
      cc.p.stride = s::HW(1, 2);
      cc.in_layout = v.in;
      cc.out_layout = v.out;
      SUBCASE((cc.name() + ", " + v.what).c_str()) { conv_case(cc, seed_for(cc), block5, "5-op chain"); }
    }
}

TEST_CASE("conv2d 5-op chain (bias, scale, shift, residual, relu)") {
  struct Case {
    index_t n, h, w, cin, cout, k, stride;
  };
  const Case cases[] = {{1, 13, 7, 17, 33, 3, 1},
                        {3, 2, 3, 5, 64, 3, 2},
                        {2, 9, 9, 64, 17, 1, 1},
                        {1, 8, 8, 33, 5, 5, 2},
                        {1, 1, 1, 3, 3, 3, 1},
                        // residuals of 2 MiB and more, which the GEMM's tiles prefetch
                        {1, 64, 64, 16, 128, 1, 1},
                        {1, 130, 130, 3, 128, 3, 2}};
  for (const Case& k : cases) {
    ConvCase cc{.n = k.n, .h = k.h, .w = k.w, .cin = k.cin, .cout = k.cout, .kh = k.k, .kw = k.k};
    cc.p.stride = k.stride;
    cc.p.pad = s::same_padding(k.h, k.w, k.k, k.k, k.stride);
    SUBCASE(cc.name().c_str()) { conv_case(cc, seed_for(cc), block5, "5-op chain"); }
  }
}

TEST_CASE("conv2d 56x56 images") {
  struct Case {
    index_t cin, cout, k, stride;
  };
  const Case cases[] = {{64, 64, 3, 1}, {3, 33, 3, 2}, {17, 5, 1, 1}, {33, 64, 5, 2}};
  for (const Case& k : cases) {
    ConvCase cc{.h = 56, .w = 56, .cin = k.cin, .cout = k.cout, .kh = k.k, .kw = k.k};
    cc.p.stride = k.stride;
    cc.p.pad = s::same_padding(56, 56, k.k, k.k, k.stride);
    SUBCASE(cc.name().c_str()) { conv_case(cc, seed_for(cc), block5, "5-op chain"); }
  }
  ConvCase dw{.h = 56, .w = 56, .cin = 64, .cout = 64, .kh = 3, .kw = 3};
  dw.p.groups = 64;
  dw.p.pad = 1;
  SUBCASE(dw.name().c_str()) { conv_case(dw, seed_for(dw), block5, "5-op chain"); }
}
