// sinter/layers/depthwise.hpp - depthwise conv2d with fused prologue and epilogue chains,
// as a type.
#pragma once

#include <algorithm>
#include <utility>

#include "../conv/depthwise.hpp"
#include "../core/executor.hpp"
#include "common.hpp"

namespace sinter {

/// Memory order of a depthwise filter (channel multiplier 1).
enum class DepthwiseLayout {
  HWC,  ///< [KH, KW, C]; also TF's depthwise [KH, KW, C, 1] and a groups = C HWIO
        ///< filter [KH, KW, 1, C] (the same memory)
  CHW,  ///< [C, KH, KW]; also a groups = C OHWI filter [C, KH, KW, 1] and PyTorch's
        ///< depthwise weight [C, 1, KH, KW] (the same memory)
};

/// Non-owning view of a depthwise filter: one KH x KW filter per channel, C channels.
struct DepthwiseFilterView {
  const float* data = nullptr;
  index_t kh = 0, kw = 0, c = 0;
  DepthwiseLayout layout = DepthwiseLayout::HWC;

  /// Element (y, x, ch).
  float at(index_t y, index_t x, index_t ch) const noexcept {
    return layout == DepthwiseLayout::HWC ? data[(y * kw + x) * c + ch] : data[(ch * kh + y) * kw + x];
  }
};

/// Depthwise filter [kh, kw, c] (channels innermost).
inline DepthwiseFilterView depthwise_filter(const float* data, index_t kh, index_t kw, index_t c) {
  return {data, kh, kw, c, DepthwiseLayout::HWC};
}

/// Depthwise filter in OHWI form [c, kh, kw, 1], as a groups = C conv2d stores it; also
/// PyTorch's depthwise Conv2d weight [c, 1, kh, kw] (same memory).
inline DepthwiseFilterView depthwise_ohwi(const float* data, index_t c, index_t kh, index_t kw) {
  return {data, kh, kw, c, DepthwiseLayout::CHW};
}

/// TensorFlow's depthwise filter [kh, kw, c, multiplier] (tf.nn.depthwise_conv2d).
/// Throws sinter::error unless multiplier == 1 (a multiplier M > 1 is a groups = C
/// conv2d with C * M outputs: use conv2d with s::ohwi / s::hwio filters).
inline DepthwiseFilterView depthwise_hwio(const float* data, index_t kh, index_t kw, index_t c,
                                          index_t multiplier = 1) {
  detail::check(multiplier == 1, "depthwise_conv2d: channel multiplier: expected 1, got ", multiplier,
                " (use conv2d with groups = C for a multiplier > 1)");
  return {data, kh, kw, c, DepthwiseLayout::HWC};
}

/// The filter of a groups = C conv2d with C outputs, as a depthwise filter: s::ohwi(w,
/// C, kh, kw, 1) or s::hwio(w, kh, kw, 1, C). Throws sinter::error unless the filter
/// has one input channel per group.
inline DepthwiseFilterView depthwise_filter(const FilterView& f) {
  detail::check(f.in == 1, "depthwise_conv2d: filter input channels per group: expected 1, got ", f.in);
  return {f.data, f.kh, f.kw, f.out,
          f.layout == FilterLayout::OHWI ? DepthwiseLayout::CHW : DepthwiseLayout::HWC};
}

/// A depthwise 2-D convolution (groups = C_in = C_out, channel multiplier 1), with a
/// prologue chain on its input and an epilogue chain on its output, run as one loop
/// nest.
///
/// Layouts: input NHWC [N, H, W, C]; filter [KH, KW, C] (depthwise_filter), or
/// [C, KH, KW, 1] (depthwise_ohwi), or TF's [KH, KW, C, 1] (depthwise_hwio); output
/// NHWC [N, OH, OW, C] with
///   OH = floor((H + pad.top + pad.bottom - dilation.h*(KH-1) - 1) / stride.h) + 1
/// (likewise OW); views may be strided (pixel stride > C: a channel slice of a larger
/// tensor). Semantics:
///   out = Epi(depthwise_conv2d(Pro(in)))
/// element-wise chains, ops left to right; Pro's per-channel operands index the C
/// input channels and its tensor operands have the input's shape [N, H, W, C]; Epi's
/// per-channel operands index the C output channels and its tensor operands have the
/// output's shape. Zero padding is applied after the prologue (TF and PyTorch
/// semantics): padded positions are exactly zero whatever Pro does. See DepthwiseParams.
///
/// Template parameters:
///   KernelSize  Kernel<KH, KW> (the tap loop is unrolled at compile time), or
///               Kernel<dynamic, dynamic> for a run-time extent
///   Epi         Epilogue<Ops...> (e.g. Epilogue<Mul<PerChannel>, Add<PerChannel>, ReLU6>)
///   Pro         Prologue<Ops...> (e.g. Prologue<Sub<PerChannel>, Mul<PerChannel>>);
///               empty by default
///   Arch        the xsimd architecture of the kernel (default: the build's best)
///
/// The weights are packed when the layer is built (the filter memory is not kept).
/// Algorithm: a direct kernel with channels in the SIMD lanes and a register block of
/// output pixels x channel vectors (see conv/depthwise.hpp; the scheme of XNNPACK's
/// f32-dwconv and oneDNN's jit_uni_dw_conv); separate interior and border code; the
/// epilogue runs on the accumulators before the single store, the prologue on each
/// input vector as the kernel loads it (never on padding, which is not loaded). Work is
/// split into images x bands of output rows x channel blocks run by an executor;
/// results are bitwise identical for any thread count. No workspace.
///
/// Errors (sinter::error): non-positive sizes, a filter extent differing from
/// KernelSize, a null pointer, non-positive stride or dilation, negative padding, input
/// channels != C, output shape != expected, an output overlapping the input or a tensor
/// operand (of either chain), operands of the wrong length or shape; when the layer is
/// built, a program compiled by a compiler known to corrupt constant parameters (GCC 12
/// with AVX-512 without -fno-tree-slp-vectorize; see core/compiler_check.hpp). Nothing
/// is written when a call throws.
template <class KernelSize = Kernel<dynamic, dynamic>, class Epi = Epilogue<>, class Pro = Prologue<>,
          class Arch = default_arch>
class DepthwiseConv2D {
  static_assert(EpilogueChain<Epi>, "sinter::DepthwiseConv2D: the second parameter must be sinter::Epilogue<Ops...>");
  static_assert(EpilogueChain<Pro>, "sinter::DepthwiseConv2D: the third parameter must be sinter::Prologue<Ops...>");
  static constexpr const char* name = "depthwise_conv2d";
  static constexpr const char* pro_name = "depthwise_conv2d prologue";

 public:
  using kernel_size = KernelSize;
  using epilogue_type = Epi;
  using prologue_type = Pro;
  using arch = Arch;

  /// Packs `filter` for `params`. Throws sinter::error on invalid sizes (see class).
  /// (Parameters by reference: GCC 12.2 with AVX-512 enabled miscompiles a 64-byte
  /// constant DepthwiseParams passed by value on the stack, storing a broadcast of one
  /// field into all eight; seen with `{.dilation = HW(1, 0)}` read back as all ones. A
  /// reference does not avoid it everywhere: see core/compiler_check.hpp.)
  DepthwiseConv2D(const DepthwiseFilterView& filter, const DepthwiseParams& params, Epi epi = {}, Pro pro = {})
      : p_(params), epi_(std::move(epi)), pro_(std::move(pro)) {
    using detail::check;
    detail::check_compiler(name);
    check(filter.data != nullptr, name, ": filter is a null pointer");
    check(filter.kh > 0 && filter.kw > 0 && filter.c > 0, name, ": filter sizes [KH, KW, C] must be positive, got [",
          filter.kh, ", ", filter.kw, ", ", filter.c, "]");
    if constexpr (KernelSize::h != dynamic)
      check(filter.kh == KernelSize::h && filter.kw == KernelSize::w, name, ": filter extent must be ",
            KernelSize::h, "x", KernelSize::w, " as the type says, got ", filter.kh, "x", filter.kw);
    check(p_.stride.h > 0 && p_.stride.w > 0, name, ": stride must be positive, got ", p_.stride.h, "x", p_.stride.w);
    check(p_.dilation.h > 0 && p_.dilation.w > 0, name, ": dilation must be positive, got ", p_.dilation.h, "x",
          p_.dilation.w);
    check(p_.pad.top >= 0 && p_.pad.bottom >= 0 && p_.pad.left >= 0 && p_.pad.right >= 0, name,
          ": padding must be non-negative, got (top ", p_.pad.top, ", bottom ", p_.pad.bottom, ", left ", p_.pad.left,
          ", right ", p_.pad.right, ")");
    packed_ = conv::pack_depthwise<Arch>(filter.kh, filter.kw, filter.c,
                                         [&](index_t y, index_t x, index_t ch) { return filter.at(y, x, ch); });
    detail::check_channels(epi_, filter.c, name);
    detail::check_channels(pro_, filter.c, pro_name);
  }

  /// Output shape for an input of shape `in`. Throws sinter::error when the input
  /// channels differ from C or the filter does not fit the padded input.
  Shape4 output_shape(Shape4 in) const {
    detail::check_shape_positive(in, name, "input");
    detail::check(in.c == packed_.c, name, ": input channels: expected ", packed_.c, ", got ", in.c);
    const index_t oh = conv_out_size(in.h, packed_.kh, p_.stride.h, p_.dilation.h, p_.pad.top, p_.pad.bottom);
    const index_t ow = conv_out_size(in.w, packed_.kw, p_.stride.w, p_.dilation.w, p_.pad.left, p_.pad.right);
    detail::check(oh > 0 && ow > 0, name, ": a ", packed_.kh, "x", packed_.kw, " filter (dilation ", p_.dilation.h,
                  "x", p_.dilation.w, ") does not fit the padded ", in.h, "x", in.w, " input");
    return {in.n, oh, ow, packed_.c};
  }

  /// Bytes of scratch memory a call needs: none, for any thread count (the kernel reads
  /// the input in place; a prologue runs in registers).
  std::size_t workspace_size(Shape4 /*in*/, int /*threads*/ = 1) const noexcept { return 0; }

  /// out = Epi(depthwise_conv2d(Pro(in))). `in`: NHWC [N, H, W, C]; `out`: NHWC
  /// [N, OH, OW, C] (views may have pixel/row/image strides larger than dense).
  void operator()(TensorView<const float> in, TensorView<float> out) const { (*this)(in, out, workspace{}); }

  /// As above, the work split over `exec`'s workers (images x bands of output rows x
  /// channel blocks; see conv::dw::split). Results are bitwise identical for any
  /// executor and thread count. The workspace is accepted for a uniform layer interface
  /// and not used.
  template <Executor Exec = serial_executor>
  void operator()(TensorView<const float> in, TensorView<float> out, workspace /*ws*/, const Exec& exec = {}) const {
    detail::check_layout(in, name, "input");
    detail::check_layout(out, name, "output");
    const Shape4 expect = output_shape(in.shape);
    detail::check_output(in, out, expect, name);
    detail::check_epilogue(epi_, out, name);
    if constexpr (Pro::size > 0) {
      pro_.validate(in.shape, pro_name);
      // Other tasks still read the prologue's operands while one writes its output.
      detail::check(!pro_.reads_from(out), pro_name, ": a tensor operand overlaps the output; pass a separate buffer");
    }
    const conv::dw::Split sp = conv::dw::split<Arch>(in.shape, expect.h, std::max(1, static_cast<int>(exec.threads())));
    conv::dw::run<Arch, static_cast<int>(KernelSize::h), static_cast<int>(KernelSize::w)>(
        conv::dw::make_call(in, out, packed_, p_), sp, epi_, pro_, exec);
  }

  /// The layer `o` (its packed weights, moved) with its chains replaced by `epi` and
  /// `pro`. Throws sinter::error when a per-channel operand's length differs from C.
  template <class E2, class P2>
  DepthwiseConv2D(DepthwiseConv2D<KernelSize, E2, P2, Arch>&& o, Epi epi, Pro pro)
      : p_(o.p_), epi_(std::move(epi)), pro_(std::move(pro)), packed_(std::move(o.packed_)) {
    detail::check_channels(epi_, packed_.c, name);
    detail::check_channels(pro_, packed_.c, pro_name);
  }

  /// The epilogue chain (e.g. to rebind a tensor operand: epilogue().op<3>().operand).
  Epi& epilogue() noexcept { return epi_; }
  const Epi& epilogue() const noexcept { return epi_; }
  /// The prologue chain (e.g. to rebind a tensor operand: prologue().op<0>().operand).
  Pro& prologue() noexcept { return pro_; }
  const Pro& prologue() const noexcept { return pro_; }
  const DepthwiseParams& params() const noexcept { return p_; }
  index_t channels() const noexcept { return packed_.c; }
  index_t in_channels() const noexcept { return packed_.c; }
  index_t out_channels() const noexcept { return packed_.c; }

  /// The same layer with `op` appended to its epilogue (value form: dw | relu6()).
  /// Throws sinter::error when a per-channel operand's length differs from C.
  template <ElementwiseOp Op>
  friend auto operator|(DepthwiseConv2D&& d, Op op) {
    auto epi = d.epi_.then(std::move(op));
    auto pro = d.pro_;
    return DepthwiseConv2D<KernelSize, decltype(epi), Pro, Arch>(std::move(d), std::move(epi), std::move(pro));
  }
  template <ElementwiseOp Op>
  friend auto operator|(const DepthwiseConv2D& d, Op op) {
    return DepthwiseConv2D(d) | std::move(op);
  }
  /// The same layer with a whole chain appended to its epilogue.
  template <class... Ops>
  friend auto operator|(DepthwiseConv2D&& d, const Epilogue<Ops...>& chain) {
    return std::apply([&](const Ops&... o) { return (std::move(d) | ... | o); }, chain.ops);
  }
  template <class... Ops>
  friend auto operator|(const DepthwiseConv2D& d, const Epilogue<Ops...>& chain) {
    return DepthwiseConv2D(d) | chain;
  }
  /// The same layer with `p`'s chain run on its input first (value form:
  /// s::prologue(s::sub(s::per_channel(mean)) | s::mul(s::per_channel(inv_std))) | dw).
  /// A layer that already has a prologue runs `p`'s ops first, then its own. Throws
  /// sinter::error when a per-channel operand's length differs from C.
  template <class P>
  friend auto operator|(prologue_of<P> p, DepthwiseConv2D&& d) {
    auto epi = d.epi_;
    auto pro = std::apply([&](const auto&... o) { return (p.chain | ... | o); }, d.pro_.ops);
    return DepthwiseConv2D<KernelSize, Epi, decltype(pro), Arch>(std::move(d), std::move(epi), std::move(pro));
  }
  template <class P>
  friend auto operator|(prologue_of<P> p, const DepthwiseConv2D& d) {
    return std::move(p) | DepthwiseConv2D(d);
  }

 private:
  template <class, class, class, class>
  friend class DepthwiseConv2D;
  template <class, class>
  friend class DepthwiseSeparable;

  DepthwiseParams p_;
  Epi epi_;
  Pro pro_;
  conv::PackedDepthwise packed_;
};

/// Value form: depthwise_conv2d<3, 3>(filter, params) | mul(per_channel(s)) | relu6() ...
/// Returns DepthwiseConv2D<Kernel<KH, KW>, Epilogue<>>. Use KH = KW = dynamic (the
/// default) for a run-time extent.
template <index_t KH = dynamic, index_t KW = KH>
inline DepthwiseConv2D<Kernel<KH, KW>> depthwise_conv2d(const DepthwiseFilterView& filter,
                                                        const DepthwiseParams& params = {}) {
  return {filter, params};
}

}  // namespace sinter
