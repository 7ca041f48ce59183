// examples/face/fusion.hpp - how the networks' layers are assembled: fused (the
// library's way: one layer type runs conv + chain in one loop nest) or unfused (the
// same bare conv, then every element-wise op as its own pass over the tensor, as an
// engine without fusion runs it). The networks take the policy as a template
// parameter, so the same network code measures what fusion buys.
#pragma once

#include <sinter/sinter.hpp>
#include <tuple>
#include <utility>
#include <vector>

namespace face {

namespace s = sinter;

/// Policy: conv | chain as one fused sinter layer, prologue fused into its input reads.
struct Fused {
  template <class Bare, class Epi, class Pro = s::Prologue<>>
  static auto make(Bare bare, const Epi& epi, const Pro& pro = {}) {
    if constexpr (Pro::size > 0)
      return s::prologue(pro) | (std::move(bare) | epi);
    else
      return std::move(bare) | epi;
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

/// Policy: the bare layer, then each element-wise op as a separate pass.
struct Unfused {
  template <class Bare, class Epi, class Pro = s::Prologue<>>
  static auto make(Bare bare, const Epi& epi, const Pro& pro = {}) {
    return UnfusedLayer<Bare, Epi, Pro>(std::move(bare), epi, pro);
  }
};

}  // namespace face
