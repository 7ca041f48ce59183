// sinter/gemm/pack.hpp - packing of the GEMM's B operand (the layer's weights).
#pragma once

#include "../core/arch.hpp"
#include "../core/buffer.hpp"

namespace sinter::gemm {

/// Weights packed for the micro-kernel: for each of `groups` groups, ceil(n / NR)
/// panels of [k x NR] floats (row kk of panel j holds B[kk][j*NR .. j*NR+NR-1]),
/// zero-padded to NR columns, each panel 64-byte aligned. Built once per layer.
struct PackedB {
  aligned_buffer data;
  index_t groups = 0, k = 0, n = 0, nr = 0, panels = 0;

  /// First float of panel j of group g.
  const float* panel(index_t g, index_t j) const noexcept { return data.data() + (g * panels + j) * k * nr; }
};

/// Packs B[k x n] for each group, reading element (g, kk, nn) as `at(g, kk, nn)`.
/// NR = NV * lanes of `Arch`'s GEMM tile. Throws sinter::error when sizes overflow.
template <class Arch, class At>
PackedB pack_b(index_t groups, index_t k, index_t n, At&& at) {
  constexpr index_t nr = gemm_tile<Arch>::nv * xsimd::batch<float, Arch>::size;
  PackedB p;
  p.groups = groups;
  p.k = k;
  p.n = n;
  p.nr = nr;
  p.panels = (n + nr - 1) / nr;
  const index_t per_group = detail::checked_mul(detail::checked_mul(p.panels, k, "pack_b"), nr, "pack_b");
  p.data.resize(detail::checked_mul(per_group, groups, "pack_b"));
  float* dst = p.data.data();
  for (index_t g = 0; g < groups; ++g)
    for (index_t j = 0; j < p.panels; ++j)
      for (index_t kk = 0; kk < k; ++kk, dst += nr)
        for (index_t c = 0; c < nr; ++c) {
          const index_t nn = j * nr + c;
          dst[c] = nn < n ? at(g, kk, nn) : 0.f;
        }
  return p;
}

}  // namespace sinter::gemm
