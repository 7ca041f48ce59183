// sinter/layers/linear.hpp - fully connected layer with a fused epilogue chain.
#pragma once

#include <utility>

#include "../conv/prologue.hpp"
#include "../gemm/driver.hpp"
#include "common.hpp"

namespace sinter {

namespace gemm {
/// A dense row-major matrix as the GEMM's A, read in place: one segment per row. With a
/// prologue (bound for the call: conv::PrologueRuns over the K columns), a copy bound to
/// per-worker scratch writes the prologue of a block's mc rows into it (mc x K, once per
/// block: blocks do not overlap) and rows are read from there. A dense x (ld == K) is
/// one flat run of mc * K floats, whatever K is.
template <class Arch, class Pro = Prologue<>>
struct DenseA {
  MatrixView<const float> x;
  conv::PrologueRuns<Arch, Pro> pro{};
  float* band = nullptr;
  mutable index_t band_m0 = 0;

  index_t rows() const noexcept { return x.rows; }
  index_t scratch_floats() const noexcept { return Pro::size > 0 ? blocking<Arch>::mc * x.cols : 0; }
  DenseA bind(float* scratch) const noexcept
    requires(Pro::size > 0)
  {
    DenseA b = *this;
    b.band = scratch;
    return b;
  }
  index_t segments() const noexcept { return 1; }
  index_t seg_len() const noexcept { return x.cols; }
  RowCoord coord(index_t m) const noexcept { return {0, 0, m}; }
  void prepare(index_t m0, index_t mc) const noexcept {
    if constexpr (Pro::size > 0) {
      band_m0 = m0;
      pro.row(x.data + m0 * x.ld, x.ld, band, mc, RowCoord{0, 0, m0});
    }
  }
  void fill(const RowCoord& rc, const float** ptrs, index_t) const noexcept {
    if constexpr (Pro::size > 0) *ptrs = band + (rc.w - band_m0) * x.cols;
    else *ptrs = x.data + rc.w * x.ld;
  }
};
}  // namespace gemm

/// Fully connected layer: y[M x N] = Epi(Pro(x)[M x K] * W^T), W given as [N x K]
/// row-major (PyTorch nn.Linear / ONNX Gemm with transB = 1). Epilogue per-channel
/// operands index the N output features and tensor operands are [M x N] matrices
/// (s::tensor(matrix(...))); prologue per-channel operands index the K input features
/// and tensor operands are [M x K]. The weights are packed when the layer is built.
/// Algorithm: GEMM with a BLIS-style register-blocked micro-kernel (Goto & van de Geijn
/// 2008), epilogue fused into the last K block's stores; a prologue is applied to each
/// block of rows of x once, before the micro-kernel reads it (conv/prologue.hpp: a dense
/// x is one flat run per block, per-feature operands expanded once per call).
/// Errors (sinter::error): non-positive sizes, null pointers, x with cols != K, y not
/// [M x N], y overlapping x or a tensor operand, operands of the wrong length or shape,
/// a workspace smaller than workspace_size().
template <class Epi = Epilogue<>, class Pro = Prologue<>, class Arch = default_arch>
class Linear {
  static_assert(EpilogueChain<Epi>, "sinter::Linear: the first parameter must be sinter::Epilogue<Ops...>");
  static_assert(EpilogueChain<Pro>, "sinter::Linear: the second parameter must be sinter::Prologue<Ops...>");
  static constexpr const char* name = "linear";

 public:
  using epilogue_type = Epi;
  using prologue_type = Pro;
  using arch = Arch;

  /// Packs `weights` [n x k] (row-major, ld = k).
  Linear(const float* weights, index_t n, index_t k, Epi epi = {}, Pro pro = {})
      : epi_(std::move(epi)), pro_(std::move(pro)) {
    detail::check(weights != nullptr, name, ": weights are a null pointer");
    detail::check(n > 0 && k > 0, name, ": weight sizes must be positive, got [", n, " x ", k, "]");
    detail::checked_mul(n, k, name);
    packed_ = gemm::pack_b<Arch>(1, k, n, [&](index_t, index_t kk, index_t nn) { return weights[nn * k + kk]; });
    detail::check_channels(epi_, n, name);
    detail::check_channels(pro_, k, "linear prologue");
  }

  /// The layer `o` (its packed weights, moved) with its chains replaced by `epi` and
  /// `pro`. Throws sinter::error when a per-channel operand's length does not match.
  template <class E2, class P2>
  Linear(Linear<E2, P2, Arch>&& o, Epi epi, Pro pro)
      : epi_(std::move(epi)), pro_(std::move(pro)), packed_(std::move(o.packed_)) {
    detail::check_channels(epi_, packed_.n, name);
    detail::check_channels(pro_, packed_.k, "linear prologue");
  }

  index_t in_features() const noexcept { return packed_.k; }
  index_t out_features() const noexcept { return packed_.n; }

  /// Bytes of scratch memory a call run by `threads` workers needs.
  std::size_t workspace_size(int threads = 1) const noexcept {
    const index_t scratch = Pro::size > 0 ? gemm::blocking<Arch>::mc * packed_.k : 0;
    return head_bytes() + gemm::workspace_bytes<Arch>(1, scratch) * static_cast<std::size_t>(std::max(threads, 1));
  }

  /// y = Epi(Pro(x) * W^T); x: [M x K], y: [M x N]. Allocates its workspace.
  void operator()(MatrixView<const float> x, MatrixView<float> y) const {
    detail::owned_workspace ws(workspace_size());
    (*this)(x, y, ws.span(), serial_executor{});
  }

  /// As above, with caller-provided scratch memory of at least
  /// workspace_size(exec.threads()) bytes, the work split over `exec`'s workers.
  template <Executor Exec = serial_executor>
  void operator()(MatrixView<const float> x, MatrixView<float> y, workspace ws, const Exec& exec = {}) const {
    using detail::check;
    check(x.data != nullptr, name, ": input is a null pointer");
    check(y.data != nullptr, name, ": output is a null pointer");
    check(x.rows > 0, name, ": input rows must be positive, got ", x.rows);
    check(x.cols == packed_.k, name, ": input features: expected ", packed_.k, ", got ", x.cols);
    check(y.rows == x.rows && y.cols == packed_.n, name, ": output shape: expected [", x.rows, " x ", packed_.n,
          "], got [", y.rows, " x ", y.cols, "]");
    check(x.ld >= x.cols && y.ld >= y.cols, name, ": leading dimension smaller than the row length");
    const TensorView<float> out = y.as_nhwc();
    check(!detail::overlaps(x.as_nhwc(), out), name, ": output overlaps the input");
    detail::check_epilogue(epi_, out, name);
    pro_.validate(x.as_nhwc().shape, "linear prologue");
    check(ws.size() >= workspace_size(exec.threads()), name, ": workspace too small: need at least ",
          workspace_size(exec.threads()), " bytes, got ", ws.size());
    // Workspace: with a prologue, its per-channel patterns; then the GEMM's slices.
    gemm::DenseA<Arch, Pro> src{x};
    if constexpr (Pro::size > 0) {
      detail::arena a(ws);
      float* patterns =
          a.take<float>(static_cast<std::size_t>(conv::PrologueRuns<Arch, Pro>::pattern_floats(packed_.k)), name);
      src.pro = conv::PrologueRuns<Arch, Pro>(pro_, 0, packed_.k, patterns);
    }
    gemm::gemm<Arch>(src, packed_, 0, 0, out, epi_, ws.subspan(head_bytes()), exec, name);
  }

  Epi& epilogue() noexcept { return epi_; }
  const Epi& epilogue() const noexcept { return epi_; }
  Pro& prologue() noexcept { return pro_; }
  const Pro& prologue() const noexcept { return pro_; }

  /// The same layer with `op` appended to its epilogue (value form: linear | relu()).
  template <ElementwiseOp Op>
  friend auto operator|(Linear&& l, Op op) {
    auto epi = l.epi_.then(std::move(op));
    auto pro = l.pro_;
    return Linear<decltype(epi), Pro, Arch>(std::move(l), std::move(epi), std::move(pro));
  }
  template <ElementwiseOp Op>
  friend auto operator|(const Linear& l, Op op) {
    return Linear(l) | std::move(op);
  }
  /// The same layer with `p`'s chain run on its input first (see Conv2D).
  template <class P>
  friend auto operator|(prologue_of<P> p, Linear&& l) {
    auto epi = l.epi_;
    auto pro = std::apply([&](const auto&... o) { return (p.chain | ... | o); }, l.pro_.ops);
    return Linear<Epi, decltype(pro), Arch>(std::move(l), std::move(epi), std::move(pro));
  }
  template <class P>
  friend auto operator|(prologue_of<P> p, const Linear& l) {
    return std::move(p) | Linear(l);
  }

 private:
  template <class, class, class>
  friend class Linear;

  // Workspace bytes before the GEMM's per-worker slices: a prologue's patterns.
  std::size_t head_bytes() const noexcept {
    if constexpr (Pro::size > 0)
      return detail::arena::bytes_for<float>(
          static_cast<std::size_t>(conv::PrologueRuns<Arch, Pro>::pattern_floats(packed_.k)));
    else
      return 0;
  }
  Epi epi_;
  Pro pro_;
  gemm::PackedB packed_;
};

/// Value form: linear(w, n, k) | add(per_channel(bias)) | relu().
inline Linear<> linear(const float* weights, index_t n, index_t k) { return {weights, n, k}; }

}  // namespace sinter
