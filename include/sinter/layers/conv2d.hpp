// sinter/layers/conv2d.hpp - conv2d with a fused epilogue chain, as a type.
#pragma once

#include <algorithm>
#include <utility>

#include "../conv/im2col.hpp"
#include "../conv/winograd.hpp"
#include "../gemm/driver.hpp"
#include "common.hpp"

namespace sinter {

/// A 2-D convolution followed by an epilogue chain, run as one loop nest.
///
/// Layouts: input NHWC [N, H, W, C_in]; filter OHWI [C_out, KH, KW, C_in/groups] (or
/// HWIO, see hwio()); output NHWC [N, OH, OW, C_out] with
///   OH = floor((H + pad.top + pad.bottom - dilation.h*(KH-1) - 1) / stride.h) + 1
/// (likewise OW). Semantics of PyTorch's / ONNX's Conv (cross-correlation, zero padding),
/// see Conv2DParams; then y = Epi(conv) element-wise, ops left to right.
///
/// Template parameters:
///   KernelSize  Kernel<KH, KW>, or Kernel<dynamic, dynamic> for a run-time extent
///   Algo        algo::Im2col, algo::Winograd2x3 (3x3 only; sinter::error at build for a
///               stride, dilation or groups other than 1) or algo::Automatic
///   Epi         Epilogue<Ops...> (e.g. Epilogue<Add<PerChannel>, ReLU>)
///   Pro         Prologue<Ops...> applied to the input before the convolution (per-channel
///               operands index input channels; tensor operands have the input's shape);
///               zero padding is applied after it
///   Arch        the xsimd architecture of the kernels (default: the build's best)
///
/// The weights are packed when the layer is built (the filter memory is not kept).
/// Algorithm: implicit im2col (Chellapilla et al. 2006) through an indirect GEMM
/// (Dukhan 2019) with a BLIS-style register-blocked micro-kernel (Goto & van de Geijn
/// 2008); the epilogue runs on the accumulators of the last K block before the store.
/// With at most 16 input channels per group and dilation.w == 1 (the RGB stem), each
/// filter row's KW taps are read as one run of KW * C_in/groups floats from a band of
/// input rows padded with zeros (conv/im2col.hpp, merged taps): same results.
/// A prologue runs where A is read: each worker keeps a band of transformed input rows,
/// each row transformed once per call as blocks of output rows move down the image, a
/// dense row as one flat run of W * C_in floats (conv/prologue.hpp, conv/im2col.hpp).
/// Winograd F(2x2, 3x3) (Lavin & Gray 2015, conv/winograd.hpp): the same epilogue runs
/// on each 2x2 output tile in registers after the output transform.
///
/// Errors (sinter::error): non-positive sizes, C_out not divisible by groups, filter
/// extent differing from KernelSize, a null pointer, input channels != C_in, output
/// shape != expected, an output overlapping the input or a tensor operand, operands of
/// the wrong length or shape, a workspace smaller than workspace_size(); when the layer
/// is built, a program compiled by a compiler known to corrupt constant parameters
/// (GCC 12 with AVX-512 without -fno-tree-slp-vectorize; see core/compiler_check.hpp).
template <class KernelSize, class Algo = algo::Automatic, class Epi = Epilogue<>, class Pro = Prologue<>,
          class Arch = default_arch>
class Conv2D {
  static_assert(EpilogueChain<Epi>, "sinter::Conv2D: the third parameter must be sinter::Epilogue<Ops...>");
  static_assert(EpilogueChain<Pro>, "sinter::Conv2D: the fourth parameter must be sinter::Prologue<Ops...>");
  static_assert(std::is_same_v<Algo, algo::Im2col> || std::is_same_v<Algo, algo::Winograd2x3> ||
                    std::is_same_v<Algo, algo::Automatic>,
                "sinter::Conv2D: Algo must be algo::Im2col, algo::Winograd2x3 or algo::Automatic");
  static_assert(!std::is_same_v<Algo, algo::Winograd2x3> || (KernelSize::h == 3 && KernelSize::w == 3) ||
                    (KernelSize::h == dynamic && KernelSize::w == dynamic),
                "sinter::Conv2D: algo::Winograd2x3 needs Kernel<3, 3> (or Kernel<dynamic, dynamic>)");
  // Winograd code is instantiated only where the type allows a 3x3 filter.
  static constexpr bool winograd_possible =
      !std::is_same_v<Algo, algo::Im2col> && (KernelSize::h == 3 || KernelSize::h == dynamic) &&
      (KernelSize::w == 3 || KernelSize::w == dynamic);
  static constexpr const char* name = "conv2d";

 public:
  using kernel_size = KernelSize;
  using algorithm = Algo;
  using epilogue_type = Epi;
  using prologue_type = Pro;
  using arch = Arch;

  /// Packs `filter` for `params`. Throws sinter::error on invalid sizes (see class).
  Conv2D(FilterView filter, Conv2DParams params, Epi epi = {}, Pro pro = {})
      : p_(params), epi_(std::move(epi)), pro_(std::move(pro)) {
    using detail::check;
    detail::check_compiler(name);
    check(filter.data != nullptr, name, ": filter is a null pointer");
    check(filter.out > 0 && filter.kh > 0 && filter.kw > 0 && filter.in > 0, name,
          ": filter sizes must be positive, got [", filter.out, ", ", filter.kh, ", ", filter.kw, ", ", filter.in, "]");
    if constexpr (KernelSize::h != dynamic)
      check(filter.kh == KernelSize::h && filter.kw == KernelSize::w, name, ": filter extent must be ",
            KernelSize::h, "x", KernelSize::w, " as the type says, got ", filter.kh, "x", filter.kw);
    check(p_.groups > 0, name, ": groups must be positive, got ", p_.groups);
    check(filter.out % p_.groups == 0, name, ": C_out (", filter.out, ") must be divisible by groups (", p_.groups,
          ")");
    check(p_.stride.h > 0 && p_.stride.w > 0, name, ": stride must be positive, got ", p_.stride.h, "x",
          p_.stride.w);
    check(p_.dilation.h > 0 && p_.dilation.w > 0, name, ": dilation must be positive, got ", p_.dilation.h, "x",
          p_.dilation.w);
    check(p_.pad.top >= 0 && p_.pad.bottom >= 0 && p_.pad.left >= 0 && p_.pad.right >= 0, name,
          ": padding must be non-negative, got (top, bottom, left, right) = (", p_.pad.top, ", ", p_.pad.bottom, ", ",
          p_.pad.left, ", ", p_.pad.right, ")");
    kh_ = filter.kh;
    kw_ = filter.kw;
    cin_g_ = filter.in;
    cout_ = filter.out;
    const index_t cout_g = cout_ / p_.groups;
    const index_t k = detail::checked_mul(detail::checked_mul(kh_, kw_, name), cin_g_, name);
    if constexpr (winograd_possible)
      winograd_ = conv::winograd2x3_select(std::is_same_v<Algo, algo::Winograd2x3>, kh_, kw_, cin_g_, cout_, p_, name);
    if (winograd_)  // U = G g G^T, one B matrix per transform position
      packed_ = conv::pack_winograd_weights<Arch, conv::F2x3>(cout_, cin_g_, [&](index_t co, index_t y, index_t x,
                                                                                index_t ci) {
        return filter.at(co, y, x, ci);
      });
    else
      packed_ = gemm::pack_b<Arch>(p_.groups, k, cout_g, [&](index_t g, index_t kk, index_t n) {
        const index_t ci = kk % cin_g_, tap = kk / cin_g_;
        return filter.at(g * cout_g + n, tap / kw_, tap % kw_, ci);
      });
    detail::check_channels(epi_, cout_, name);
    detail::check_channels(pro_, cin_g_ * p_.groups, "conv2d prologue");
  }

  /// Output shape for an input of shape `in`. Throws sinter::error when the input
  /// channels differ from C_in or the filter does not fit the padded input.
  Shape4 output_shape(Shape4 in) const {
    detail::check_shape_positive(in, name, "input");
    detail::check(in.c == cin_g_ * p_.groups, name, ": input channels: expected ", cin_g_ * p_.groups, ", got ", in.c);
    const index_t oh = conv_out_size(in.h, kh_, p_.stride.h, p_.dilation.h, p_.pad.top, p_.pad.bottom);
    const index_t ow = conv_out_size(in.w, kw_, p_.stride.w, p_.dilation.w, p_.pad.left, p_.pad.right);
    detail::check(oh > 0 && ow > 0, name, ": a ", kh_, "x", kw_, " filter (dilation ", p_.dilation.h, "x",
                  p_.dilation.w, ") does not fit the padded ", in.h, "x", in.w, " input");
    return {in.n, oh, ow, cout_};
  }

  /// Bytes of scratch memory a call on an input of shape `in`, run by `threads`
  /// workers, needs.
  std::size_t workspace_size(Shape4 in, int threads = 1) const noexcept {
    if (winograd_)
      return conv::winograd_workspace_bytes<Arch, conv::F2x3>(
                 in, cout_, conv_out_size(in.h, 3, 1, 1, p_.pad.top, p_.pad.bottom),
                 conv_out_size(in.w, 3, 1, 1, p_.pad.left, p_.pad.right)) *
             static_cast<std::size_t>(std::max(threads, 1));
    const index_t ow = std::max<index_t>(1, conv_out_size(in.w, kw_, p_.stride.w, p_.dilation.w, p_.pad.left,
                                                          p_.pad.right));
    using A = conv::Im2colA<Arch, Pro>;
    const index_t scratch = A::scratch_floats(in, ow, kh_, kw_, cin_g_, p_);
    return head_bytes(threads) + gemm::workspace_bytes<Arch>(A::segments(kh_, kw_, cin_g_, p_), scratch) *
                                     static_cast<std::size_t>(std::max(threads, 1));
  }

  /// out = Epi(conv2d(in)). `in`: NHWC [N, H, W, C_in]; `out`: NHWC [N, OH, OW, C_out]
  /// (views may have pixel/row/image strides larger than dense). Allocates its
  /// workspace; see the overload taking one for allocation-free calls.
  void operator()(TensorView<const float> in, TensorView<float> out) const {
    detail::owned_workspace ws(workspace_size(in.shape));
    (*this)(in, out, ws.span());
  }

  /// As above, with caller-provided scratch memory of at least
  /// workspace_size(in.shape, exec.threads()) bytes, the work split over `exec`'s
  /// workers (results are bitwise identical for any executor).
  template <Executor Exec = serial_executor>
  void operator()(TensorView<const float> in, TensorView<float> out, workspace ws, const Exec& exec = {}) const {
    detail::check_layout(in, name, "input");
    detail::check_layout(out, name, "output");
    const Shape4 expect = output_shape(in.shape);
    detail::check_output(in, out, expect, name);
    detail::check_epilogue(epi_, out, name);
    pro_.validate(in.shape, "conv2d prologue");
    if constexpr (winograd_possible) {
      if (winograd_) return conv::winograd_conv<Arch, conv::F2x3>(in, out, packed_, p_.pad, epi_, pro_, ws, exec, name);
    }

    detail::check(ws.size() >= workspace_size(in.shape, exec.threads()), name, ": workspace too small: need at least ",
                  workspace_size(in.shape, exec.threads()), " bytes, got ", ws.size());
    // Workspace: the zero row of padded taps; with a band (a prologue or merged taps),
    // the prologue's per-channel patterns and the workers' BandRows; then the GEMM's
    // per-worker slices.
    using A = conv::Im2colA<Arch, Pro>;
    const bool merged = A::merges_taps(kw_, cin_g_, p_);
    const bool band = Pro::size > 0 || merged;
    detail::arena a(ws);
    const index_t nzero = A::zero_floats(kw_, cin_g_, p_);
    float* zeros = a.take<float>(static_cast<std::size_t>(nzero), name);
    std::fill_n(zeros, nzero, 0.f);
    const int threads = std::max(exec.threads(), 1);
    [[maybe_unused]] float* patterns = nullptr;
    conv::BandRows* bands = nullptr;
    if (band) {
      if constexpr (Pro::size > 0)
        patterns =
            a.take<float>(static_cast<std::size_t>(conv::PrologueRuns<Arch, Pro>::pattern_floats(cin_g_)), name);
      bands = a.take<conv::BandRows>(static_cast<std::size_t>(threads), name);
    }
    const workspace rest = ws.subspan(head_bytes(threads));
    const index_t cout_g = cout_ / p_.groups;
    // With a band, one image per GEMM so a block's input band lies in one image.
    const index_t images_per_call = band ? 1 : in.shape.n;
    for (index_t g = 0; g < p_.groups; ++g) {
      [[maybe_unused]] conv::PrologueRuns<Arch, Pro> runs;
      if constexpr (Pro::size > 0) runs = conv::PrologueRuns<Arch, Pro>(pro_, g * cin_g_, cin_g_, patterns);
      for (index_t n = 0; n < in.shape.n; n += images_per_call) {
        A src{in, zeros, cin_g_, g * cin_g_, kh_, kw_, expect.h, expect.w, p_, n, images_per_call};
        if (band) {
          std::fill_n(bands, threads, conv::BandRows{});
          src.merged = merged;
          src.pro = runs;
          src.bands = bands;
          src.workers = threads;
          src.ws = rest.data();
          src.worker_bytes = gemm::workspace_bytes<Arch>(src.segments(), src.scratch_floats());
        }
        gemm::gemm<Arch>(src, packed_, g, g * cout_g, out, epi_, rest, exec, name);
      }
    }
  }

  /// The layer `o` (its packed weights, moved) with its chains replaced by `epi` and
  /// `pro`. Throws sinter::error when a per-channel operand's length does not match.
  template <class E2, class P2>
  Conv2D(Conv2D<KernelSize, Algo, E2, P2, Arch>&& o, Epi epi, Pro pro)
      : p_(o.p_), epi_(std::move(epi)), pro_(std::move(pro)), packed_(std::move(o.packed_)), kh_(o.kh_), kw_(o.kw_),
        cin_g_(o.cin_g_), cout_(o.cout_), winograd_(o.winograd_) {
    detail::check_channels(epi_, cout_, name);
    detail::check_channels(pro_, cin_g_ * p_.groups, "conv2d prologue");
  }

  /// The epilogue chain (e.g. to rebind a tensor operand: epilogue().op<3>().operand).
  Epi& epilogue() noexcept { return epi_; }
  const Epi& epilogue() const noexcept { return epi_; }
  /// The prologue chain.
  Pro& prologue() noexcept { return pro_; }
  const Pro& prologue() const noexcept { return pro_; }
  const Conv2DParams& params() const noexcept { return p_; }
  index_t in_channels() const noexcept { return cin_g_ * p_.groups; }
  index_t out_channels() const noexcept { return cout_; }

  /// The same layer with `op` appended to its epilogue (value form: conv | relu()).
  /// Throws sinter::error when a per-channel operand's length differs from C_out.
  template <ElementwiseOp Op>
  friend auto operator|(Conv2D&& c, Op op) {
    auto epi = c.epi_.then(std::move(op));
    auto pro = c.pro_;
    return Conv2D<KernelSize, Algo, decltype(epi), Pro, Arch>(std::move(c), std::move(epi), std::move(pro));
  }
  template <ElementwiseOp Op>
  friend auto operator|(const Conv2D& c, Op op) {
    return Conv2D(c) | std::move(op);
  }
  /// The same layer with a whole chain appended to its epilogue.
  template <class... Ops>
  friend auto operator|(Conv2D&& c, const Epilogue<Ops...>& chain) {
    return std::apply([&](const Ops&... o) { return (std::move(c) | ... | o); }, chain.ops);
  }
  /// The same layer with `p`'s chain run before it, on its input (value form:
  /// s::prologue(sub(per_channel(mean)) | mul(per_channel(inv_std))) | conv).
  /// Throws sinter::error when a per-channel operand's length differs from C_in.
  /// A layer that already has a prologue runs `p`'s ops first, then its own.
  template <class P>
  friend auto operator|(prologue_of<P> p, Conv2D&& c) {
    auto epi = c.epi_;
    auto pro = std::apply([&](const auto&... o) { return (p.chain | ... | o); }, c.pro_.ops);
    return Conv2D<KernelSize, Algo, Epi, decltype(pro), Arch>(std::move(c), std::move(epi), std::move(pro));
  }
  template <class P>
  friend auto operator|(prologue_of<P> p, const Conv2D& c) {
    return std::move(p) | Conv2D(c);
  }

 private:
  template <class, class, class, class, class>
  friend class Conv2D;
  template <class, class>
  friend class DepthwiseSeparable;

  // Bytes of the im2col path's workspace before the GEMM's per-worker slices: the zero
  // row, and with a band (a prologue or merged taps) the prologue's per-channel patterns
  // and one BandRows per worker.
  std::size_t head_bytes(int threads) const noexcept {
    using A = conv::Im2colA<Arch, Pro>;
    std::size_t b = detail::arena::bytes_for<float>(static_cast<std::size_t>(A::zero_floats(kw_, cin_g_, p_)));
    if constexpr (Pro::size > 0)
      b += detail::arena::bytes_for<float>(
          static_cast<std::size_t>(conv::PrologueRuns<Arch, Pro>::pattern_floats(cin_g_)));
    if (Pro::size > 0 || A::merges_taps(kw_, cin_g_, p_))
      b += detail::arena::bytes_for<conv::BandRows>(static_cast<std::size_t>(std::max(threads, 1)));
    return b;
  }

  Conv2DParams p_;
  Epi epi_;
  Pro pro_;
  gemm::PackedB packed_;  // im2col's B, or Winograd's U (winograd_)
  index_t kh_ = 0, kw_ = 0, cin_g_ = 0, cout_ = 0;
  bool winograd_ = false;
};

/// Value form: conv2d<KH, KW>(filter, params) | add(per_channel(b)) | relu() ...
/// Returns Conv2D<Kernel<KH, KW>, algo::Automatic, Epilogue<>>. Use KH = KW = dynamic
/// (the default) for a run-time extent.
template <index_t KH = dynamic, index_t KW = KH, class Algo = algo::Automatic>
inline Conv2D<Kernel<KH, KW>, Algo> conv2d(FilterView filter, Conv2DParams params = {}, Algo = {}) {
  return {filter, params};
}

}  // namespace sinter
