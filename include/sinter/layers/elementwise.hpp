// sinter/layers/elementwise.hpp - a chain of element-wise ops as a layer of its own.
//
// The ops that conv / linear / depthwise layers fuse into their epilogue or prologue,
// run as a separate pass over a tensor: for the element-wise work of a network that
// sits next to no conv (a residual add between two pooled tensors, an activation after
// a concat), and as the unfused baseline the benchmarks compare fusion against.
#pragma once

#include <algorithm>
#include <utility>

#include "../core/arch.hpp"
#include "../core/error.hpp"
#include "../core/executor.hpp"
#include "../core/tensor.hpp"
#include "../conv/prologue.hpp"
#include "../epilogue/chain.hpp"
#include "common.hpp"

namespace sinter {

/// out = Epi(in), element by element (out[n, h, w, c] = chain(in[n, h, w, c]) with
/// per-channel operands indexed by c and tensor operands at (n, h, w, c)).
/// `in` and `out`: NHWC views of the same shape [N, H, W, C] (channels contiguous, any
/// pixel / row / image strides). `out` may be `in` itself (same data and strides: an
/// in-place pass); any other overlap of `out` with `in` or with a tensor operand is
/// refused. A pass reads `in` (and the operands) once and writes `out` once.
/// Errors (sinter::error): shapes that differ, overlapping strides, per-channel
/// operands whose length is not C, tensor operands of another shape, forbidden
/// overlaps. `Arch`: the xsimd architecture of the vectors.
template <class Epi = Epilogue<>, class Arch = default_arch>
class Elementwise {
 public:
  static constexpr const char* name = "elementwise";

  Elementwise() = default;
  explicit Elementwise(Epi epi) : epi_(std::move(epi)) {}

  /// The chain (e.g. to rebind a tensor operand: epilogue().op<1>().operand).
  Epi& epilogue() noexcept { return epi_; }
  const Epi& epilogue() const noexcept { return epi_; }

  /// Runs the pass; rows of pixels (n, h) are the tasks handed to `exec`, so the result
  /// does not depend on the executor.
  template <Executor Exec = serial_executor>
  void operator()(TensorView<const float> in, TensorView<float> out, const Exec& exec = {}) const {
    using detail::check;
    const Shape4 s = out.shape;
    check(in.shape == s, name, ": input and output shapes differ: input [", in.shape.n, ", ", in.shape.h, ", ",
          in.shape.w, ", ", in.shape.c, "], output [", s.n, ", ", s.h, ", ", s.w, ", ", s.c, "]");
    detail::check_layout(in, name, "input");
    detail::check_layout(out, name, "output");
    const bool in_place = in.data == out.data && in.stride_n == out.stride_n && in.stride_h == out.stride_h &&
                          in.stride_w == out.stride_w;
    check(in_place || !detail::overlaps(in, out), name,
          ": output overlaps the input (allowed only as the same view, in place)");
    detail::check_epilogue(epi_, out, name);
    if (s.n == 0 || s.h == 0 || s.w == 0 || s.c == 0) return;

    // Channels that do not fill whole vectors (an RGB image: 3) in rows of dense pixels:
    // one flat run per row, per-channel operands read as lane patterns of period
    // lcm(C, lanes), instead of a partial vector per pixel. Same ops on the same values.
    if constexpr (Runs::flat) {
      if (s.c % L != 0 && Runs::pattern_floats(s.c) <= max_pattern_floats && in.stride_w == s.c &&
          out.stride_w == s.c)
        return flat_rows(in, out, exec);
    }
    exec.parallel_for(s.n * s.h, [&](index_t task, int) {
      const index_t n = task / s.h, h = task % s.h;
      row(in.pixel(n, h, 0), in.stride_w, out.pixel(n, h, 0), out.stride_w, RowCoord{n, h, 0}, s.w, s.c);
    });
  }

  /// The same pass with `op` appended to its chain (value form: elementwise() | relu()).
  template <ElementwiseOp Op>
  friend auto operator|(const Elementwise& e, Op op) {
    return Elementwise<decltype(e.epi_.then(std::move(op))), Arch>(e.epi_.then(std::move(op)));
  }
  /// The same pass with a whole chain appended.
  template <class... Ops>
  friend auto operator|(const Elementwise& e, const Epilogue<Ops...>& chain) {
    return std::apply([&](const Ops&... o) { return (e | ... | o); }, chain.ops);
  }

 private:
  using B = xsimd::batch<float, Arch>;
  static constexpr index_t L = static_cast<index_t>(B::size);
  // Stack floats for the per-channel patterns of the flat path (16 KiB).
  static constexpr index_t max_pattern_floats = 4096;

  using Runs = conv::PrologueRuns<Arch, Epi>;

  template <class Exec>
  [[gnu::noinline]] void flat_rows(const TensorView<const float>& in, const TensorView<float>& out,
                                   const Exec& exec) const {
    const Shape4 s = out.shape;
    alignas(64) float patterns[max_pattern_floats];
    const Runs runs(epi_, 0, s.c, patterns);
    exec.parallel_for(s.n * s.h, [&](index_t task, int) {
      const index_t n = task / s.h, h = task % s.h;
      runs.row(in.pixel(n, h, 0), s.c, out.pixel(n, h, 0), s.w, RowCoord{n, h, 0});
    });
  }

  void row(const float* x, index_t sx, float* y, index_t sy, RowCoord at, index_t w, index_t c) const {
    for (index_t p = 0; p < w; ++p, x += sx, y += sy, ++at.w) {
      const TileLoc loc{&at, 0};
      index_t k = 0;
      for (; k + L <= c; k += L)
        epi_.template apply<B>(B::load_unaligned(x + k), loc, 0, k, static_cast<int>(L)).store_unaligned(y + k);
      if (k < c) {
        const int rest = static_cast<int>(c - k);
        alignas(64) float tmp[B::size];
        epi_.template apply<B>(detail::load_upto<B>(x + k, rest), loc, 0, k, rest).store_aligned(tmp);
        std::copy_n(tmp, rest, y + k);
      }
    }
  }

  Epi epi_{};
};

/// Value form: elementwise(chain) or elementwise() | add(tensor(t)) | relu() ...
/// e.g. s::elementwise(s::mul(s::per_channel(scale)) | s::relu())(in, out).
template <class Epi = Epilogue<>>
inline auto elementwise(Epi chain = {}) {
  if constexpr (EpilogueChain<Epi>)
    return Elementwise<Epi>(std::move(chain));
  else
    return Elementwise<Epilogue<Epi>>(Epilogue<Epi>(std::move(chain)));
}

}  // namespace sinter
