// examples/face/fusion.hpp - how the networks' layers are assembled: fused (the
// library's way: one layer type runs conv + chain in one loop nest) or unfused (the
// same bare conv, then every element-wise op as its own pass over the tensor, as an
// engine without fusion runs it). The networks take the policy as a template
// parameter, so the same network code measures what fusion buys.
#pragma once

#include <algorithm>
#include <sinter/sinter.hpp>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace face {

namespace s = sinter;

/// A depthwise layer and the pointwise layer that reads its output, as one block:
/// block(in, mid, out, ws, exec) computes out = Pw(Dw(in)). Fused (when `CanFuse` and
/// the constructor's `fuse` say so): one s::depthwise_separable layer, whose depthwise
/// output never leaves the cache (`mid` is not touched and may be empty); else the two
/// layers in turn through `mid`.
template <class Dw, class Pw, bool CanFuse>
class SeparableBlock {
  template <bool F>
  struct fused_of {
    using type = std::monostate;
  };
  template <bool F>
    requires F
  struct fused_of<F> {
    using type = decltype(s::depthwise_separable(std::declval<Dw>(), std::declval<Pw>()));
  };
  using Separable = typename fused_of<CanFuse>::type;

 public:
  SeparableBlock(Dw dw, Pw pw, bool fuse) : layers_(make(std::move(dw), std::move(pw), fuse)) {}

  /// Whether a call skips `mid` (the block runs as one fused layer).
  bool fused() const noexcept { return layers_.index() == 1; }

  std::size_t workspace_size(s::Shape4 in, int threads = 1) const {
    if constexpr (CanFuse)
      if (fused()) return std::get<1>(layers_).workspace_size(in, threads);
    const auto& [dw, pw] = std::get<0>(layers_);
    return std::max(dw.workspace_size(in, threads), pw.workspace_size(dw.output_shape(in), threads));
  }

  template <class Exec = s::serial_executor>
  void operator()(s::TensorView<const float> in, s::TensorView<float> mid, s::TensorView<float> out, s::workspace ws,
                  const Exec& exec = {}) const {
    if constexpr (CanFuse) {
      if (fused()) {
        std::get<1>(layers_)(in, out, ws, exec);
        return;
      }
    }
    const auto& [dw, pw] = std::get<0>(layers_);
    dw(in, mid, ws, exec);
    pw(mid, out, ws, exec);
  }

 private:
  using Layers = std::variant<std::pair<Dw, Pw>, Separable>;
  static Layers make(Dw dw, Pw pw, [[maybe_unused]] bool fuse) {
    if constexpr (CanFuse)
      if (fuse) return Layers(std::in_place_index<1>, s::depthwise_separable(std::move(dw), std::move(pw)));
    return Layers(std::in_place_index<0>, std::move(dw), std::move(pw));
  }
  Layers layers_;
};

/// Policy: conv | chain as one fused sinter layer, prologue fused into its input reads;
/// a depthwise layer and the pointwise layer after it as one s::depthwise_separable
/// where the network asks for it (block()'s `fuse`).
struct Fused {
  template <class Bare, class Epi, class Pro = s::Prologue<>>
  static auto make(Bare bare, const Epi& epi, const Pro& pro = {}) {
    if constexpr (Pro::size > 0)
      return s::prologue(pro) | (std::move(bare) | epi);
    else
      return std::move(bare) | epi;
  }
  template <class Dw, class Pw>
  static auto block(Dw dw, Pw pw, bool fuse) {
    return SeparableBlock<Dw, Pw, true>(std::move(dw), std::move(pw), fuse);
  }
};

/// A bare layer followed by one s::elementwise pass per op of its chain (in place on
/// the output), after one pass per prologue op over a copy of the input. Same
/// interface as the fused layer (epilogue(), workspace_size(), call with workspace and
/// executor), same operands, same results up to rounding of contracted mul + add.
template <class Bare, class Epi, class Pro>
class UnfusedLayer {
 public:
  UnfusedLayer(Bare bare, Epi epi, Pro pro) : bare_(std::move(bare)), epi_(std::move(epi)), pro_(std::move(pro)) {}

  Epi& epilogue() noexcept { return epi_; }
  const Epi& epilogue() const noexcept { return epi_; }
  s::Shape4 output_shape(s::Shape4 in) const { return bare_.output_shape(in); }
  std::size_t workspace_size(s::Shape4 in, int threads = 1) const { return bare_.workspace_size(in, threads); }

  template <class Exec = s::serial_executor>
  void operator()(s::TensorView<const float> in, s::TensorView<float> out, s::workspace ws,
                  const Exec& exec = {}) const {
    s::TensorView<const float> x = in;
    if constexpr (Pro::size > 0) {
      const s::Shape4 sh = in.shape;
      input_.resize(static_cast<std::size_t>(sh.n) * sh.h * sh.w * sh.c);
      const auto t = s::nhwc(input_.data(), sh.n, sh.h, sh.w, sh.c);
      bool first = true;
      std::apply(
          [&](const auto&... op) {
            ((first ? s::elementwise(op)(in, t, exec) : s::elementwise(op)(t, t, exec), first = false), ...);
          },
          pro_.ops);
      x = t;
    }
    bare_(x, out, ws, exec);
    std::apply([&](const auto&... op) { (s::elementwise(op)(out, out, exec), ...); }, epi_.ops);
  }

 private:
  Bare bare_;
  Epi epi_;
  Pro pro_;
  mutable std::vector<float> input_;  // the prologue's output (a pass needs somewhere to write)
};

/// Policy: the bare layer, then each element-wise op as a separate pass; a depthwise
/// layer and the pointwise layer after it always run in turn through their activation.
struct Unfused {
  template <class Bare, class Epi, class Pro = s::Prologue<>>
  static auto make(Bare bare, const Epi& epi, const Pro& pro = {}) {
    return UnfusedLayer<Bare, Epi, Pro>(std::move(bare), epi, pro);
  }
  template <class Dw, class Pw>
  static auto block(Dw dw, Pw pw, bool) {
    return SeparableBlock<Dw, Pw, false>(std::move(dw), std::move(pw), false);
  }
};

}  // namespace face
