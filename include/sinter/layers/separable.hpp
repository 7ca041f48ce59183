// sinter/layers/separable.hpp - a depthwise conv2d followed by a pointwise (1x1)
// conv2d, each with its chains, fused into one layer: the depthwise output is never
// written to memory.
#pragma once

#include <algorithm>
#include <type_traits>
#include <utility>

#include "../conv/prologue.hpp"
#include "../conv/separable.hpp"
#include "conv2d.hpp"
#include "depthwise.hpp"

namespace sinter {

namespace detail {
template <class T>
inline constexpr bool is_depthwise_layer = false;
template <class K, class E, class P, class A>
inline constexpr bool is_depthwise_layer<DepthwiseConv2D<K, E, P, A>> = true;

template <class T>
inline constexpr bool is_pointwise_layer = false;
template <class Algo, class E, class A>
inline constexpr bool is_pointwise_layer<Conv2D<Kernel<1, 1>, Algo, E, Prologue<>, A>> = true;

template <class Chain>
inline constexpr bool has_tensor_operand = false;
template <class... Ops>
inline constexpr bool has_tensor_operand<Epilogue<Ops...>> =
    (conv::detail_::has_operand<Ops, Tensor>() || ...);
}  // namespace detail

/// A depthwise-separable convolution (Howard et al., "MobileNets", 2017): a depthwise
/// conv2d `Dw` (a DepthwiseConv2D, with its prologue and epilogue chains) whose output
/// feeds a pointwise conv2d `Pw` (a Conv2D<Kernel<1, 1>, ...>, stride 1, no padding,
/// groups 1, with its epilogue chain), run as one loop nest:
///   out = Pw.epi(pointwise(Dw.epi(depthwise(Dw.pro(in)))))
/// Each task computes a band of depthwise output rows (about 256 KiB) into a
/// per-worker buffer in L2 and runs the pointwise GEMM on it; the N x OH x OW x C
/// intermediate tensor is never written (see conv/separable.hpp). Results are bitwise
/// those of running Dw and then Pw as two layers, for any executor and thread count.
///
/// Layouts: input NHWC [N, H, W, C]; output NHWC [N, OH, OW, C_out], OH x OW the
/// depthwise output's extent (see DepthwiseConv2D), C_out the pointwise layer's output
/// channels; views may be strided. Pw's per-channel and tensor operands index the
/// output as they would for the pointwise layer alone.
///
/// Template parameters: Dw = DepthwiseConv2D<KernelSize, Epi, Pro, Arch> whose chains
/// have no tensor operand (a band's rows are not the layer's rows), Pw = Conv2D<Kernel<1,
/// 1>, Algo, Epi, Prologue<>, Arch> (the same Arch). Other combinations do not compile.
///
/// Errors (sinter::error): when built, a pointwise layer with a stride other than 1,
/// padding or groups, or with C_in differing from the depthwise channels; when called,
/// those of the two layers (input channels, output shape, an output overlapping the
/// input or a tensor operand, operand shapes) and a workspace smaller than
/// workspace_size(). Nothing is written when a call throws.
template <class Dw, class Pw>
class DepthwiseSeparable {
  static_assert(detail::is_depthwise_layer<Dw>,
                "sinter::DepthwiseSeparable: the first parameter must be a sinter::DepthwiseConv2D");
  static_assert(detail::is_pointwise_layer<Pw>,
                "sinter::DepthwiseSeparable: the second parameter must be a sinter::Conv2D<Kernel<1, 1>, ...> "
                "without a prologue");
  static_assert(std::is_same_v<typename Dw::arch, typename Pw::arch>,
                "sinter::DepthwiseSeparable: both layers must use the same Arch");
  static_assert(!detail::has_tensor_operand<typename Dw::epilogue_type> &&
                    !detail::has_tensor_operand<typename Dw::prologue_type>,
                "sinter::DepthwiseSeparable: the depthwise layer's chains cannot have tensor operands; run it "
                "as its own layer");
  using Arch = typename Dw::arch;
  static constexpr const char* name = "depthwise_separable";

 public:
  using depthwise_type = Dw;
  using pointwise_type = Pw;
  using arch = Arch;

  /// Takes both layers (their packed weights are moved or copied in). Throws
  /// sinter::error when `pw` has a stride other than 1, padding or groups, or C_in
  /// differing from `dw`'s channels.
  DepthwiseSeparable(Dw dw, Pw pw) : dw_(std::move(dw)), pw_(std::move(pw)) {
    using detail::check;
    const Conv2DParams& p = pw_.params();
    check(p.stride.h == 1 && p.stride.w == 1, name, ": the pointwise layer's stride must be 1, got ", p.stride.h, "x",
          p.stride.w);
    check(p.pad.top == 0 && p.pad.bottom == 0 && p.pad.left == 0 && p.pad.right == 0, name,
          ": the pointwise layer must have no padding, got (top, bottom, left, right) = (", p.pad.top, ", ",
          p.pad.bottom, ", ", p.pad.left, ", ", p.pad.right, ")");
    check(p.groups == 1, name, ": the pointwise layer must have groups = 1, got ", p.groups);
    check(pw_.in_channels() == dw_.channels(), name, ": the pointwise layer's C_in (", pw_.in_channels(),
          ") must equal the depthwise channels (", dw_.channels(), ")");
  }

  /// Output shape [N, OH, OW, C_out] for an input of shape `in`. Throws sinter::error as
  /// DepthwiseConv2D::output_shape does.
  Shape4 output_shape(Shape4 in) const { return pw_.output_shape(dw_.output_shape(in)); }

  /// Bytes of scratch memory a call on an input of shape `in`, run by `threads`
  /// workers, needs: per worker, one band of depthwise output rows (and which band it
  /// holds) and the pointwise GEMM's scratch.
  std::size_t workspace_size(Shape4 in, int threads = 1) const {
    const Shape4 mid = dw_.output_shape(in);
    return conv::separable::workspace_bytes(conv::separable::Plan<Arch>(mid.h, mid.w, mid.c), threads);
  }

  /// out = Pw(Dw(in)). `in`: NHWC [N, H, W, C]; `out`: NHWC [N, OH, OW, C_out].
  /// Allocates its workspace; see the overload taking one for allocation-free calls.
  void operator()(TensorView<const float> in, TensorView<float> out) const {
    detail::owned_workspace ws(workspace_size(in.shape));
    (*this)(in, out, ws.span());
  }

  /// As above, with caller-provided scratch memory of at least
  /// workspace_size(in.shape, exec.threads()) bytes, the work split over `exec`'s
  /// workers (images x bands of depthwise output rows x, on small images, ranges of
  /// output channels; see conv::separable::run).
  template <Executor Exec = serial_executor>
  void operator()(TensorView<const float> in, TensorView<float> out, workspace ws, const Exec& exec = {}) const {
    detail::check_layout(in, name, "input");
    detail::check_layout(out, name, "output");
    const Shape4 mid = dw_.output_shape(in.shape);
    const Shape4 expect = pw_.output_shape(mid);
    detail::check_output(in, out, expect, name);
    detail::check_epilogue(pw_.epi_, out, name);
    const conv::separable::Plan<Arch> plan(mid.h, mid.w, mid.c);
    conv::dw::Call g = conv::dw::make_call(in, TensorView<float>{}, dw_.packed_, dw_.p_);
    g.oh = mid.h;
    g.ow = mid.w;
    using K = typename Dw::kernel_size;
    conv::separable::run<Arch, static_cast<int>(K::h), static_cast<int>(K::w)>(
        g, plan, pw_.packed_, out, dw_.epi_, dw_.pro_, pw_.epi_, ws, exec, name);
  }

  /// The depthwise and the pointwise layer (e.g. to rebind the pointwise epilogue's
  /// tensor operand: pointwise().epilogue().op<2>().operand).
  Dw& depthwise() noexcept { return dw_; }
  const Dw& depthwise() const noexcept { return dw_; }
  Pw& pointwise() noexcept { return pw_; }
  const Pw& pointwise() const noexcept { return pw_; }
  /// C (the depthwise channels) and C_out (the pointwise outputs).
  index_t in_channels() const noexcept { return dw_.channels(); }
  index_t out_channels() const noexcept { return pw_.out_channels(); }

  /// The same block with `op` appended to the pointwise layer's epilogue
  /// (depthwise_separable(dw, pw) | relu6()). Throws sinter::error when a per-channel
  /// operand's length differs from C_out.
  template <ElementwiseOp Op>
  friend auto operator|(DepthwiseSeparable&& d, Op op) {
    auto pw = std::move(d.pw_) | std::move(op);
    return DepthwiseSeparable<Dw, decltype(pw)>(std::move(d.dw_), std::move(pw));
  }
  template <ElementwiseOp Op>
  friend auto operator|(const DepthwiseSeparable& d, Op op) {
    return DepthwiseSeparable(d) | std::move(op);
  }

 private:
  Dw dw_;
  Pw pw_;
};

/// Value form: depthwise_separable(depthwise_conv2d<3, 3>(...) | mul(...) | relu6(),
/// conv2d<1, 1>(...) | add(per_channel(bias)) | relu6()). See DepthwiseSeparable for
/// the layouts and errors.
template <class Dw, class Pw>
DepthwiseSeparable<std::remove_cvref_t<Dw>, std::remove_cvref_t<Pw>> depthwise_separable(Dw&& dw, Pw&& pw) {
  return {std::forward<Dw>(dw), std::forward<Pw>(pw)};
}

}  // namespace sinter
