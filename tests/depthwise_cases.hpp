// tests/depthwise_cases.hpp - depthwise cases on top of the reference (reference.hpp):
// a depthwise case is a ConvCase with C_in = C_out = groups; dw_check builds the
// DepthwiseConv2D type from its OHWI [C, KH, KW, 1] filter and checks it. Shared by
// test_depthwise.cpp and test_depthwise_chains.cpp.
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
  const s::DepthwiseConv2D<KernelSize, decltype(chain), Arch> layer(s::depthwise_ohwi(d.w.data(), cc.cin, cc.kh, cc.kw),
                                                                    dw_params(cc.p), chain);
  const Buffer4 out = run_conv(layer, cc, d, what);
  check_output(out.view(), d.acc, layer.epilogue(), what);
}

inline auto bare(Operands&) { return s::Epilogue<>{}; }
inline auto bias(Operands& o) { return s::add(o.per_channel()); }

}  // namespace sinter_test
