// depthwise_conv2d: epilogue chains with every op and operand kind, strided views and
// channel slices (guards around the output, NaN in the input's gaps), the narrower
// ISAs compiled into the same binary, and the sliding-window and tap-major interior
// paths giving the same bits. Shapes and errors: test_depthwise.cpp.
#include <doctest/doctest.h>

#include "depthwise_cases.hpp"

using namespace sinter_test;

TEST_CASE("depthwise: compile-time and run-time extents give the same bits (every path sums in (ky, kx) order)") {
  // Kernel<K, K> runs the interior as a sliding window (stride 1, 2) or tap-major
  // (stride 3, dilation); Kernel<dynamic, dynamic> always tap-major.
  for (index_t stride : {1, 2, 3})
    for (index_t k : {3, 5}) {
      const ConvCase cc = dw_case_of(2, 19, 23, 2 * LANES + 3, k, k, stride, s::same_padding(19, 23, k, k, stride));
      SUBCASE(cc.name().c_str()) {
        Rng rng(seed_of(cc.name()));
        ConvData d = make_conv_data(cc, rng);
        const auto filter = s::depthwise_ohwi(d.w.data(), cc.cin, k, k);
        const Buffer4 dyn = run_conv(s::depthwise_conv2d(filter, dw_params(cc.p)), cc, d, "run-time extent");
        const Buffer4 fixed = k == 3 ? run_conv(s::depthwise_conv2d<3, 3>(filter, dw_params(cc.p)), cc, d, "3x3")
                                     : run_conv(s::depthwise_conv2d<5, 5>(filter, dw_params(cc.p)), cc, d, "5x5");
        CHECK(same_bits(dyn.dense(), fixed.dense()));
      }
    }
}

TEST_CASE("depthwise: epilogue chains, every op and operand kind") {
  // Full and partial channel vectors, full and short pixel blocks, border rows/columns.
  const index_t c = 2 * LANES + 3;
  for (index_t stride : {1, 2}) {
    const ConvCase cc = dw_case_of(2, 9, 11, c, 3, 3, stride, s::Padding(1, 1, 1, 1));
    SUBCASE(("stride " + std::to_string(stride)).c_str()) {
      dw_check<s::Kernel<3, 3>>(cc, bare, "no chain");
      dw_check<s::Kernel<3, 3>>(cc, [](Operands& o) {
        return s::mul(o.per_channel(positive)) | s::add(o.per_channel()) | s::relu6();
      }, "folded batch-norm + relu6");
      dw_check<s::Kernel<3, 3>>(cc, [](Operands& o) {
        return s::add(o.per_channel()) | s::add(o.tensor(unit, operand_layout)) | s::relu();
      }, "bias + residual (strided) + relu");
      dw_check<s::Kernel<3, 3>>(cc, [](Operands& o) {
        return s::sub(o.per_channel()) | s::div(o.per_channel(divisor)) | s::clip(-0.5f, 0.75f);
      }, "sub, div per channel, clip");
      dw_check<s::Kernel<3, 3>>(cc, [](Operands& o) {
        return s::mul(o.tensor()) | s::rsub(0.25f) | s::mul(s::constant<2.f>) | s::add(o.tensor(wide)) |
               s::ClipTo<-1.f, 1.f>{};
      }, "tensor mul, rsub scalar, constant, tensor add, ClipTo");
      dw_check<s::Kernel<3, 3>>(cc, [](Operands& o) {
        return s::add(o.per_channel(positive)) | s::rdiv(o.tensor(positive)) | s::sub(s::scalar(0.5f));
      }, "rdiv by the accumulator");
      dw_check<s::Kernel<s::dynamic, s::dynamic>>(cc, [](Operands& o) {
        return s::mul(o.per_channel(positive)) | s::add(o.per_channel()) | s::add(o.tensor()) | s::relu6();
      }, "run-time extent, 4-op chain");
    }
  }
}

TEST_CASE("depthwise: strided views, channel slices; gaps and neighbouring channels untouched") {
  const index_t c = 2 * LANES + 1;
  const Layout in_layouts[] = {Layout{.pixel_pad = 3}, Layout{.pixel_pad = 2, .c0 = 5, .row_pad = 7, .image_pad = 11}};
  const Layout out_layouts[] = {Layout{.pixel_pad = 1}, Layout{.pixel_pad = LANES + 3, .c0 = 3, .row_pad = 5},
                                Layout{.pixel_pad = 0, .c0 = 1, .image_pad = 9}};
  for (index_t cc_c : sizes({3, c}))
    for (index_t stride : {1, 2})
      for (const Layout& il : in_layouts)
        for (const Layout& ol : out_layouts) {
          ConvCase cc = dw_case_of(2, 13, 7, cc_c, 3, 3, stride, s::same_padding(13, 7, 3, 3, stride));
          cc.in_layout = il;
          cc.out_layout = ol;
          SUBCASE(cc.name().c_str()) {
            // run_conv checks that no float outside the output view changed (the gaps
            // and the channels of the slice's neighbours hold a NaN sentinel) and that
            // every element of the view was written; the NaN in the input's gaps would
            // reach the output if the kernel read them.
            dw_check<s::Kernel<3, 3>>(cc, [](Operands& o) {
              return s::mul(o.per_channel(positive)) | s::add(o.tensor(unit, operand_layout)) | s::relu6();
            });
          }
        }
}

TEST_CASE("depthwise: narrower ISAs compiled into the same binary") {
  auto sweep = [](auto arch_tag) {
    using Arch = decltype(arch_tag);
    for (index_t c : sizes({1, 3, 17, 33}))
      for (index_t stride : {1, 2}) {
        const ConvCase cc = dw_case_of(2, 13, 7, c, 3, 3, stride, s::same_padding(13, 7, 3, 3, stride));
        dw_check<s::Kernel<3, 3>, Arch>(cc, [](Operands& o) {
          return s::mul(o.per_channel(positive)) | s::add(o.tensor()) | s::relu6();
        });
        const ConvCase c5 = dw_case_of(1, 9, 8, c, 5, 5, stride, s::Padding(2, 1, 2, 1), 1);
        dw_check<s::Kernel<s::dynamic, s::dynamic>, Arch>(c5, bias);
      }
  };
  sweep(s::default_arch{});
#if XSIMD_WITH_AVX512F && XSIMD_WITH_FMA3_AVX2
  sweep(xsimd::fma3<xsimd::avx2>{});
#endif
#if XSIMD_WITH_SSE4_2
  sweep(xsimd::sse4_2{});
#endif
}

