// sinter/layers/linear.hpp - fully connected layer with a fused epilogue chain.
#pragma once

#include <utility>

#include "../gemm/driver.hpp"
#include "common.hpp"

namespace sinter {

namespace gemm {
/// A dense row-major matrix as the GEMM's A, read in place: one segment per row.
struct DenseA {
  MatrixView<const float> x;
  index_t rows() const noexcept { return x.rows; }
  index_t segments() const noexcept { return 1; }
  index_t seg_len() const noexcept { return x.cols; }
  RowCoord coord(index_t m) const noexcept { return {0, 0, m}; }
  void fill(const RowCoord& rc, const float** ptrs, index_t) const noexcept { *ptrs = x.data + rc.w * x.ld; }
};
}  // namespace gemm

/// Fully connected layer: y[M x N] = Epi(x[M x K] * W^T), W given as [N x K] row-major
/// (PyTorch nn.Linear / ONNX Gemm with transB = 1). Per-channel operands index the N
/// output features; tensor operands are [M x N] matrices (s::tensor(matrix(...))).
/// The weights are packed when the layer is built. Algorithm: GEMM with a BLIS-style
/// register-blocked micro-kernel (Goto & van de Geijn 2008), epilogue fused into the
/// last K block's stores.
/// Errors (sinter::error): non-positive sizes, null pointers, x with cols != K, y not
/// [M x N], y overlapping x or a tensor operand, operands of the wrong length or shape.
template <class Epi = Epilogue<>, class Arch = default_arch>
class Linear {
  static_assert(EpilogueChain<Epi>, "sinter::Linear: the parameter must be sinter::Epilogue<Ops...>");
  static constexpr const char* name = "linear";

 public:
  using epilogue_type = Epi;
  using arch = Arch;

  /// Packs `weights` [n x k] (row-major, ld = k).
  Linear(const float* weights, index_t n, index_t k, Epi epi = {}) : epi_(std::move(epi)) {
    detail::check(weights != nullptr, name, ": weights are a null pointer");
    detail::check(n > 0 && k > 0, name, ": weight sizes must be positive, got [", n, " x ", k, "]");
    detail::checked_mul(n, k, name);
    packed_ = gemm::pack_b<Arch>(1, k, n, [&](index_t, index_t kk, index_t nn) { return weights[nn * k + kk]; });
    detail::check_channels(epi_, n, name);
  }

  index_t in_features() const noexcept { return packed_.k; }
  index_t out_features() const noexcept { return packed_.n; }

  /// Bytes of scratch memory a call needs.
  std::size_t workspace_size() const noexcept { return gemm::workspace_bytes<Arch>(1); }

  /// y = Epi(x * W^T); x: [M x K], y: [M x N]. Allocates its workspace.
  void operator()(MatrixView<const float> x, MatrixView<float> y) const {
    detail::owned_workspace ws(workspace_size());
    (*this)(x, y, ws.span());
  }

  /// As above, with caller-provided scratch memory of at least workspace_size() bytes.
  void operator()(MatrixView<const float> x, MatrixView<float> y, workspace ws) const {
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
    gemm::gemm<Arch>(gemm::DenseA{x}, packed_, 0, 0, out, epi_, detail::arena(ws), name);
  }

  /// The layer `o` (its packed weights, moved) with its chain replaced by `epi`.
  template <class OtherEpi>
  Linear(Linear<OtherEpi, Arch>&& o, Epi epi) : epi_(std::move(epi)), packed_(std::move(o.packed_)) {
    detail::check_channels(epi_, packed_.n, name);
  }

  Epi& epilogue() noexcept { return epi_; }
  const Epi& epilogue() const noexcept { return epi_; }

  /// The same layer with `op` appended to its chain (value form: linear | relu()).
  template <ElementwiseOp Op>
  friend auto operator|(Linear&& l, Op op) {
    using Next = decltype(l.epi_.then(std::move(op)));
    return Linear<Next, Arch>(std::move(l), l.epi_.then(std::move(op)));
  }
  template <ElementwiseOp Op>
  friend auto operator|(const Linear& l, Op op) {
    return Linear(l) | std::move(op);
  }

 private:
  template <class, class>
  friend class Linear;
  Epi epi_;
  gemm::PackedB packed_;
};

/// Value form: linear(w, n, k) | add(per_channel(bias)) | relu().
inline Linear<> linear(const float* weights, index_t n, index_t k) { return {weights, n, k}; }

}  // namespace sinter
