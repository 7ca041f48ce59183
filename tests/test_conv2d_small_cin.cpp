// conv2d with few input channels per group (the RGB stem): conv/im2col.hpp reads each
// filter row's KW taps as one segment of KW * C_in/groups floats from a band of input
// rows padded with zeros (merged taps). Checked against the plain reference conv:
//   - bare, and with a prologue (sub per channel, div constant: padding must stay zero
//     after it) and an epilogue (add per channel, relu6);
//   - thread_pool(2) and thread_pool(3) must give the serial bits.
// Matrix: C_in 1, 2, 3, 4 (below the lanes of every ISA, and up to 28 floats per merged
// segment) x 3x3 / 7x7 x stride 1 / 2 x TF 'SAME', asymmetric, 'valid' padding x images
// 1x1, 2x3, 13x7, 64x64 (output rows shorter and longer than a block of MC rows), batch
// 2. Then what must keep (or fall back from) the merged path: left padding wider than
// the filter, dilation 2 in height (merged) and in width (per-tap segments), groups
// (a band copied per group), a strided input view (copied pixel by pixel), C_in up to
// and past the merge limit (16), a 7x7 stride-2 ResNet-like stem with C_out over two panels.
#include <doctest/doctest.h>

#include "reference.hpp"

using namespace sinter_test;

namespace {

const s::thread_pool& pool(int threads) {
  static const s::thread_pool two(2), three(3);
  return threads == 2 ? two : three;
}

template <class Layer, class Exec = s::serial_executor>
Buffer4 run_on(const Layer& layer, const ConvCase& cc, const Buffer4& in, const Exec& exec = {}) {
  Layout ol = cc.out_layout;
  ol.guard = std::max<index_t>(ol.guard, 64);
  Buffer4 out(cc.out_shape(), ol);
  std::vector<std::byte> ws(layer.workspace_size(cc.in_shape(), exec.threads()));
  layer(in.view(), out.view(), ws, exec);
  check_guards(out, cc.name());
  return out;
}

/// Serial against `acc`, then 2 and 3 workers against the serial bits.
template <class Layer>
void check_layer(const Layer& layer, const ConvCase& cc, const Buffer4& in, const RefTensor& acc,
                 const std::string& what) {
  INFO(what);
  REQUIRE(acc.shape == cc.out_shape());
  const Buffer4 serial = run_on(layer, cc, in);
  check_output(serial.view(), acc, layer.epilogue(), what);
  for (int t : {2, 3}) {
    const Buffer4 par = run_on(layer, cc, in, pool(t));
    CHECK_MESSAGE(same_bits(par.dense(), serial.dense()), "thread_pool(" << t << ") differs from serial");
  }
}

/// The case bare, and with the prologue (x - mean[c]) / 64 and the epilogue
/// relu6(acc + bias[c]).
void small_cin_case(const ConvCase& cc) {
  const std::string what = cc.name();
  Rng rng(seed_of(what));
  ConvData d = make_conv_data(cc, rng);
  check_layer(s::conv2d(d.filter(), cc.p, s::algo::im2col), cc, d.in, d.acc, what + ", bare");

  Operands pro_ops(rng, cc.in_shape());
  // Means in [2, 3] against inputs in [-1, 1]: every transformed value is non-zero, so a
  // padded tap that went through the prologue would show.
  const auto pro = s::sub(pro_ops.per_channel(Dist{2.f, 3.f, false})) | s::div(s::constant<64.f>);
  Operands ops(rng, cc.out_shape());
  const auto layer =
      s::prologue(pro) | (s::conv2d(d.filter(), cc.p, s::algo::im2col) | s::add(ops.per_channel()) | s::relu6());
  const Buffer4 x = prologue_input(d.in, pro);
  const RefTensor acc = ref_conv2d(std::as_const(x).view(), d.w, cc.cout, cc.kh, cc.kw, cc.p);
  check_layer(layer, cc, d.in, acc, what + ", prologue and epilogue");
}

ConvCase make_case(index_t n, index_t h, index_t w, index_t cin, index_t cout, index_t k, index_t stride) {
  ConvCase cc{.n = n, .h = h, .w = w, .cin = cin, .cout = cout, .kh = k, .kw = k};
  cc.p.stride = stride;
  return cc;
}

}  // namespace

TEST_CASE("conv2d small C_in: channels 1-4, 3x3 and 7x7, stride 1 and 2, SAME / asymmetric / valid padding") {
  const std::pair<index_t, index_t> images[] = {{1, 1}, {2, 3}, {13, 7}, {64, 64}};
  for (index_t cin : {1, 2, 3, 4})
    for (index_t k : {3, 7})
      for (index_t stride : {1, 2})
        for (const auto& [h, w] : images)
          for (int pad = 0; pad < 3; ++pad) {
            ConvCase cc = make_case(2, h, w, cin, 11, k, stride);
            if (pad == 0) cc.p.pad = s::same_padding(h, w, k, k, stride);
            if (pad == 1) cc.p.pad = k == 3 ? s::Padding(0, 2, 2, 1) : s::Padding(3, 1, 0, 5);
            const Shape4 o = cc.out_shape();
            if (o.h <= 0 || o.w <= 0) continue;  // 'valid' filter larger than the image
            SUBCASE(cc.name().c_str()) { small_cin_case(cc); }
          }
}

TEST_CASE("conv2d small C_in: wide left padding, dilation, groups, strided input, C_in past the limit") {
  ConvCase wide = make_case(2, 9, 6, 3, 5, 3, 1);
  wide.p.pad = s::Padding(1, 0, 4, 3);  // the first output columns read only padding
  SUBCASE("left padding wider than the filter") { small_cin_case(wide); }
  ConvCase dh = make_case(2, 15, 12, 3, 7, 3, 1);
  dh.p.dilation = s::HW(2, 1);  // merged: rows of taps two input rows apart
  dh.p.pad = s::Padding(2, 1, 1, 2);
  SUBCASE("dilation 2x1") { small_cin_case(dh); }
  ConvCase dw = make_case(2, 12, 15, 3, 7, 3, 1);
  dw.p.dilation = s::HW(1, 2);  // per-tap segments
  dw.p.pad = s::Padding(1, 2, 2, 1);
  SUBCASE("dilation 1x2") { small_cin_case(dw); }
  ConvCase g = make_case(2, 13, 10, 6, 8, 3, 2);
  g.p.groups = 2;  // 3 channels per group: each group's band is copied from its slice
  g.p.pad = s::same_padding(13, 10, 3, 3, 2);
  SUBCASE("groups 2") { small_cin_case(g); }
  ConvCase g4 = make_case(1, 8, 9, 4, 4, 7, 1);
  g4.p.groups = 4;  // one channel per group
  g4.p.pad = s::Padding(3);
  SUBCASE("groups 4, 7x7") { small_cin_case(g4); }
  ConvCase strided = make_case(2, 11, 13, 3, 9, 3, 2);
  strided.in_layout = Layout{.pixel_pad = 2, .c0 = 1, .row_pad = 5};
  strided.p.pad = s::same_padding(11, 13, 3, 3, 2);
  SUBCASE("strided input") { small_cin_case(strided); }
  for (index_t cin : {8, 16, 17, 24}) {  // below, at, just past and well past the merge limit
    ConvCase c = make_case(1, 10, 11, cin, 6, 3, 1);
    c.p.pad = 1;
    SUBCASE(c.name().c_str()) { small_cin_case(c); }
  }
  // The ResNet-18 stem's geometry at a smaller image: 7x7 stride 2, pad 3, C_out past
  // one panel of NR columns, output rows longer than a block.
  ConvCase stem = make_case(1, 2 * MC + 9, 2 * MC + 5, 3, NR + 5, 7, 2);
  stem.p.pad = 3;
  SUBCASE("7x7 stride-2 stem") { small_cin_case(stem); }
}
