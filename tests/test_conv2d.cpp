// conv2d with algo::Im2col (implicit im2col + GEMM) against the reference conv: channel counts around the
// vector width and tile (1, 3, 5, 17, 33, 64), 1x1 / 2x3 / 13x7 images, every filter
// shape (1x1, 3x3, 5x5, 7x7, 1x3, 3x1, 2x3) with stride 1 and 2, dilation 1 and 2,
// no / symmetric / asymmetric padding, TF 'SAME' padding with stride 2, batch 3, and K
// beyond the cache block KC. Every case adds a per-channel bias in the epilogue and
// checks the guards around its output. Groups, depthwise, filter layouts, strided
// views, the 5-op chain and 56x56 images: test_conv2d_shapes.cpp.
#include <doctest/doctest.h>

#include "reference.hpp"

using namespace sinter_test;

namespace {

const std::vector<index_t> channel_counts{1, 3, 5, 17, 33, 64};

auto bias(Operands& o) { return s::add(o.per_channel()); }

std::uint32_t seed_for(const ConvCase& cc) { return seed_of(cc.name()); }

/// A case whose dilated filter does not fit the padded input: building the layer
/// works, asking for the output shape or running it throws sinter::error and writes
/// nothing.
template <index_t KH, index_t KW>
void check_does_not_fit(const ConvCase& cc) {
  INFO(cc.name());
  Rng rng(1);
  ConvData d = make_conv_data(cc, rng);
  const auto layer = s::conv2d<KH, KW>(d.filter(), cc.p, s::algo::im2col);
  CHECK_THROWS_WITH_AS(layer.output_shape(cc.in_shape()), doctest::Contains("does not fit"), s::error);
  Buffer4 out(Shape4{cc.n, 1, 1, cc.cout}, Layout{.guard = 16});
  CHECK_THROWS_AS(layer(d.in.view(), out.view()), s::error);
  CHECK(out.all_sentinel());
}

/// Filter KH x KW: stride 1 / 2, dilation 1 / 2, padding none / symmetric /
/// asymmetric / larger than the filter on one side, on 2x3 and 13x7 images.
template <index_t KH, index_t KW>
void kernel_sweep() {
  const s::Padding pads[] = {
      s::Padding(0),                                           // none
      s::Padding((KH - 1) / 2, KH / 2, (KW - 1) / 2, KW / 2),  // output = input at stride 1, dilation 1
      s::Padding(KH - 1, 0, 0, KW - 1),                        // all on one side
      s::Padding(2, 0, 1, 3),                                  // uneven, partly wider than the filter
  };
  const std::pair<index_t, index_t> images[] = {{2, 3}, {13, 7}};
  const std::pair<index_t, index_t> channels[] = {{5, 17}, {17, 33}};
  for (index_t stride : {1, 2})
    for (index_t dilation : {1, 2})
      for (const s::Padding& pad : pads)
        for (auto [h, w] : images)
          for (auto [cin, cout] : channels) {
            ConvCase cc{.h = h, .w = w, .cin = cin, .cout = cout, .kh = KH, .kw = KW};
            cc.p.stride = stride;
            cc.p.dilation = dilation;
            cc.p.pad = pad;
            SUBCASE(cc.name().c_str()) {
              const Shape4 o = cc.out_shape();
              if (o.h < 1 || o.w < 1)
                check_does_not_fit<KH, KW>(cc);
              else
                conv_case<KH, KW>(cc, seed_for(cc), bias);
            }
          }
}

}  // namespace

TEST_CASE("conv2d: C_in x C_out in {1,3,5,17,33,64}^2, images 1x1 2x3 13x7, 3x3 pad 1, stride 1 and 2") {
  for (index_t cin : channel_counts)
    for (index_t cout : channel_counts)
      for (auto [h, w] : {std::pair<index_t, index_t>{1, 1}, {2, 3}, {13, 7}})
        for (index_t stride : {1, 2}) {
          ConvCase cc{.h = h, .w = w, .cin = cin, .cout = cout, .kh = 3, .kw = 3};
          cc.p.pad = 1;
          cc.p.stride = stride;
          SUBCASE(cc.name().c_str()) { conv_case<3, 3>(cc, seed_for(cc), bias); }
        }
}

TEST_CASE("conv2d: filter 1x1") { kernel_sweep<1, 1>(); }
TEST_CASE("conv2d: filter 3x3") { kernel_sweep<3, 3>(); }
TEST_CASE("conv2d: filter 5x5") { kernel_sweep<5, 5>(); }
TEST_CASE("conv2d: filter 7x7") { kernel_sweep<7, 7>(); }
TEST_CASE("conv2d: filter 1x3") { kernel_sweep<1, 3>(); }
TEST_CASE("conv2d: filter 3x1") { kernel_sweep<3, 1>(); }
TEST_CASE("conv2d: filter 2x3") { kernel_sweep<2, 3>(); }

TEST_CASE("conv2d: batch 3") {
  const std::pair<index_t, index_t> channels[] = {{3, 17}, {17, 5}, {64, 33}, {1, 64}};
  for (auto [cin, cout] : channels)
    for (auto [h, w] : {std::pair<index_t, index_t>{2, 3}, {13, 7}}) {
      ConvCase a{.n = 3, .h = h, .w = w, .cin = cin, .cout = cout, .kh = 3, .kw = 3};
      a.p.stride = 2;
      a.p.pad = s::Padding(0, 1, 1, 0);
      SUBCASE(a.name().c_str()) { conv_case(a, seed_for(a), bias); }
      ConvCase b{.n = 3, .h = h, .w = w, .cin = cin, .cout = cout, .kh = 1, .kw = 1};
      SUBCASE(b.name().c_str()) { conv_case(b, seed_for(b), bias); }
      ConvCase c{.n = 3, .h = h, .w = w, .cin = cin, .cout = cout, .kh = 2, .kw = 3};
      c.p.dilation = s::HW(2, 1);
      c.p.pad = s::Padding(1, 2, 0, 1);
      SUBCASE(c.name().c_str()) { conv_case(c, seed_for(c), bias); }
    }
}

TEST_CASE("conv2d: TF SAME padding (same_padding) with stride 2") {
  // TensorFlow: output = ceil(input / stride), total padding split with the extra
  // pixel at the bottom / right, so even inputs get asymmetric padding.
  const std::pair<index_t, index_t> images[] = {{2, 3}, {8, 8}, {13, 7}, {14, 9}};
  const std::pair<index_t, index_t> filters[] = {{1, 1}, {3, 3}, {5, 5}, {2, 3}};
  for (auto [h, w] : images)
    for (auto [kh, kw] : filters)
      for (index_t dilation : {1, 2}) {
        ConvCase cc{.h = h, .w = w, .cin = 5, .cout = 17, .kh = kh, .kw = kw};
        cc.p.stride = 2;
        cc.p.dilation = dilation;
        cc.p.pad = s::same_padding(h, w, kh, kw, 2, dilation);
        SUBCASE(cc.name().c_str()) {
          const Shape4 o = cc.out_shape();
          CHECK(o.h == (h + 1) / 2);
          CHECK(o.w == (w + 1) / 2);
          const index_t total_h = std::max<index_t>(0, (o.h - 1) * 2 + (kh - 1) * dilation + 1 - h);
          CHECK(cc.p.pad.top == total_h / 2);
          CHECK(cc.p.pad.bottom == total_h - total_h / 2);
          conv_case(cc, seed_for(cc), bias);
        }
      }
}

TEST_CASE("conv2d: K beyond the cache block KC (segments split and grouped)") {
  struct Shape {
    index_t cin, kh, kw, cout;
  };
  const Shape shapes[] = {
      {KC + 3, 2, 2, 5},              // every tap longer than KC: split into pieces
      {KC + 3, 2, 2, NR + 1},         // ... with full and edge column tiles
      {2 * KC + 7, 1, 1, LANES + 1},  // one tap, three pieces
      {KC / 2 + 1, 3, 3, 17},         // two taps per block, then a remainder block
      {KC - 1, 1, 3, 3},              // a tap just under KC
  };
  for (const Shape& sh : shapes) {
    ConvCase cc{.h = 3, .w = 4, .cin = sh.cin, .cout = sh.cout, .kh = sh.kh, .kw = sh.kw};
    cc.p.pad = s::Padding(0, 1, 1, 0);
    SUBCASE(cc.name().c_str()) { conv_case(cc, seed_for(cc), bias); }
  }
}

TEST_CASE("conv2d: output rows spanning several MC blocks, with a partial last tile") {
  // N*OH*OW = 2*MC + MR + 1 rows: two full row blocks and a last block of one tile plus
  // one row.
  const index_t rows = 2 * MC + MR + 1;
  ConvCase cc{.n = 1, .h = 1, .w = rows, .cin = 3, .cout = NR + 1, .kh = 1, .kw = 3};
  cc.p.pad = s::Padding(0, 0, 1, 1);
  SUBCASE(cc.name().c_str()) { conv_case<1, 3>(cc, seed_for(cc), bias); }
}
