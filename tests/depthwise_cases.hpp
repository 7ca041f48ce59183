// tests/depthwise_cases.hpp - depthwise cases on top of the reference (reference.hpp):
// a depthwise case is a ConvCase with C_in = C_out = groups; dw_check builds the
// DepthwiseConv2D type from its OHWI [C, KH, KW, 1] filter and checks it, with a
// prologue dw_pro_check. Shared by the test_depthwise*.cpp files.
#pragma once

#include "reference.hpp"

namespace sinter_test {

/// A depthwise case: a ConvCase with C_in = C_out = groups = c.
inline ConvCase dw_case_of(index_t n, index_t h, index_t w, index_t c, index_t kh, index_t kw, index_t stride = 1,
                           s::Padding pad = {}, index_t dilation = 1) {
  ConvCase cc{.n = n, .h = h, .w = w, .cin = c, .cout = c, .kh = kh, .kw = kw};
  cc.p.stride = stride;
  cc.p.dilation = dilation;
  cc.p.pad = pad;
  cc.p.groups = c;
  return cc;
}

inline s::DepthwiseParams dw_params(const s::Conv2DParams& p) { return {p.stride, p.dilation, p.pad}; }

/// Builds DepthwiseConv2D<KernelSize, chain, Arch> (type form) from the case's OHWI
/// [C, KH, KW, 1] filter, runs it into a guarded output and checks it against the
/// reference. `make(operands)` gives the chain (or one op, or Epilogue<>{}).
template <class KernelSize, class Arch = s::default_arch, class MakeChain>
void dw_check(const ConvCase& cc, MakeChain&& make, const std::string& label = {}) {
  const std::string what = "depthwise " + cc.name() + (label.empty() ? "" : ", " + label) + " [" + Arch::name() + "]";
  Rng rng(seed_of(what));
  ConvData d = make_conv_data(cc, rng);
  REQUIRE_MESSAGE(d.acc.shape == cc.out_shape(), what);
  Operands ops(rng, cc.out_shape());
  auto chain = as_chain(make(ops));
  const s::DepthwiseConv2D<KernelSize, decltype(chain), s::Prologue<>, Arch> layer(
      s::depthwise_ohwi(d.w.data(), cc.cin, cc.kh, cc.kw), dw_params(cc.p), chain);
  const Buffer4 out = run_conv(layer, cc, d, what);
  check_output(out.view(), d.acc, layer.epilogue(), what);
}

/// The reference's view of a prologue: `in` with `pro` applied to every element, each
/// op rounded to float as the kernel computes it (no mul + add contraction), then the
/// plain reference conv on that. Padded positions are not in the tensor, so they stay
/// zero in the reference (TF / PyTorch semantics).
template <class Pro>
RefTensor prologue_reference(const ConvCase& cc, const ConvData& d, const Pro& pro) {
  Buffer4 x(cc.in_shape(), cc.in_layout);
  for (index_t n = 0; n < cc.n; ++n)
    for (index_t h = 0; h < cc.h; ++h)
      for (index_t w = 0; w < cc.w; ++w)
        for (index_t c = 0; c < cc.cin; ++c) x.at(n, h, w, c) = ieee_epilogue(pro, d.in.at(n, h, w, c), At{n, h, w, c});
  return ref_conv2d(std::as_const(x).view(), d.w, cc.cout, cc.kh, cc.kw, cc.p);
}

/// dw_check with a prologue: `make_pro(input operands)` gives the prologue (operands of
/// the input's shape), `make(output operands)` the epilogue. Type form
/// DepthwiseConv2D<KernelSize, Epi, Pro, Arch>, run into a guarded output, checked
/// against the reference conv of the prologue's output.
template <class KernelSize, class Arch = s::default_arch, class MakePro, class MakeChain>
void dw_pro_check(const ConvCase& cc, MakePro&& make_pro, MakeChain&& make, const std::string& label = {}) {
  const std::string what =
      "depthwise " + cc.name() + ", prologue" + (label.empty() ? "" : ", " + label) + " [" + Arch::name() + "]";
  Rng rng(seed_of(what));
  ConvData d = make_conv_data(cc, rng);
  Operands pro_ops(rng, cc.in_shape());
  auto pro = as_chain(make_pro(pro_ops));
  Operands ops(rng, cc.out_shape());
  auto chain = as_chain(make(ops));
  const RefTensor acc = prologue_reference(cc, d, pro);
  REQUIRE_MESSAGE(acc.shape == cc.out_shape(), what);
  const s::DepthwiseConv2D<KernelSize, decltype(chain), decltype(pro), Arch> layer(
      s::depthwise_ohwi(d.w.data(), cc.cin, cc.kh, cc.kw), dw_params(cc.p), chain, pro);
  const Buffer4 out = run_conv(layer, cc, d, what);
  check_output(out.view(), acc, layer.epilogue(), what);
}

inline auto bare(Operands&) { return s::Epilogue<>{}; }
inline auto bias(Operands& o) { return s::add(o.per_channel()); }

}  // namespace sinter_test
