// sinter/gemm/microkernel.hpp - the MR x NR register-tile GEMM micro-kernel.
//
// C[MR x NR] (+)= A[MR x K] * B[K x NR] with NR = NV * lanes. A is read through MR row
// pointers per K segment (an indirect GEMM: Dukhan, "The Indirect Convolution
// Algorithm", 2019), so im2col needs no packed copy of A: a segment is one filter tap's
// C_in contiguous input channels of each output pixel, or a run of a linear layer's
// input row. B is a packed panel, K rows of NR floats, 64-byte aligned.
//
// Per k: NV aligned loads of B, MR broadcasts of A (folded into the FMA's memory operand
// where the ISA has one), MR * NV FMAs into MR * NV accumulators that live in registers
// for the whole K loop (Goto & van de Geijn 2008, the BLIS micro-kernel). On NEON the
// K loop runs 4 steps at a time with lane-indexed FMA (fmla v.4s, v.4s, v.s[i]), as
// ARM-tuned engines do, since AArch64 has no FMA with a broadcast memory operand.
#pragma once

#include <type_traits>

#include "../core/arch.hpp"
#if XSIMD_WITH_NEON64
#include <arm_neon.h>
#endif
#include "../core/unroll.hpp"
#include "../epilogue/chain.hpp"

namespace sinter::gemm {

/// What one micro-kernel call computes: `nseg` K segments of `seg_len` each; A row r of
/// segment s starts at a[s * MR + r]; B starts at `b` (seg_len * nseg rows of NR floats).
struct KBlock {
  const float* const* a = nullptr;
  index_t nseg = 0;
  index_t seg_len = 0;
  const float* b = nullptr;
};

/// One MR x (NV * lanes) tile. First: the K block is the first (accumulators start at 0,
/// otherwise at the partial sums already stored in C). Last: the K block is the last
/// (the epilogue chain runs on the accumulators before the store; otherwise the partial
/// sums are stored). `c` holds MR output row pointers; `NRpanel` is the packed B row
/// length (>= NV * lanes, the full panel width).
/// Always inlined: the driver's loop over a panel's full tiles then holds no call (the
/// driver keeps partial-sum K blocks and edge tiles out of line), so the chain's
/// per-tile state stays in registers. GCC otherwise kept a tile with a chain out of
/// line, and every vector register is call-clobbered: bench_fusion's 1x1 56x56x64->256
/// with scale, shift, residual and ReLU fused measured 1.31-1.33x its bare time, and
/// 1.25-1.26x inlined (single thread, AVX-512, medians of 5).
template <class Arch, int MR, int NV, int NRpanel, bool First, bool Last, class Epi>
[[gnu::hot, gnu::always_inline]] inline void micro_kernel(const KBlock& kb, float* const* c, const Epi& epi,
                                                          const TileLoc& loc) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int L = static_cast<int>(B::size);
  B acc[MR][NV];
  detail::static_for<MR>([&](auto r) SINTER_INLINE {
    detail::static_for<NV>([&](auto j) SINTER_INLINE {
      if constexpr (First) acc[r][j] = B(0.f);
      else acc[r][j] = B::load_unaligned(c[r] + j * L);
    });
  });

  // A tensor operand (a residual) is read once, after the K loop, from memory the
  // layer has not touched: started here (when large, Tensor::prefetch_min_bytes), its
  // loads overlap the FMAs.
  if constexpr (Last) epi.template prefetch_tile<B, MR, NV>(loc);
  const float* b = kb.b;
  for (index_t s = 0; s < kb.nseg; ++s) {
    const float* a[MR];
    detail::static_for<MR>([&](auto r) SINTER_INLINE { a[r] = kb.a[s * MR + r]; });
    index_t k = 0;
#if XSIMD_WITH_NEON64
    if constexpr (std::is_same_v<Arch, xsimd::neon64>) {
      // Lane-indexed FMA: one 4-float load per A row feeds 4 k steps, so the inner loop
      // is NV B loads + MR/4 A loads per MR*NV fmla instead of MR ld1r broadcasts.
      for (; k + 4 <= kb.seg_len; k += 4) {
        float32x4_t av[MR];
        detail::static_for<MR>([&](auto r) SINTER_INLINE { av[r] = vld1q_f32(a[r] + k); });
        detail::static_for<4>([&](auto lane) SINTER_INLINE {
          float32x4_t bv[NV];
          detail::static_for<NV>([&](auto j) SINTER_INLINE { bv[j] = vld1q_f32(b + lane * NRpanel + j * L); });
          detail::static_for<MR>([&](auto r) SINTER_INLINE {
            detail::static_for<NV>([&](auto j) SINTER_INLINE {
              acc[r][j] = B(vfmaq_laneq_f32(acc[r][j], bv[j], av[r], decltype(lane)::value));
            });
          });
        });
        b += 4 * NRpanel;
      }
    }
#endif
    for (; k < kb.seg_len; ++k) {
      B bv[NV];
      detail::static_for<NV>([&](auto j) SINTER_INLINE { bv[j] = B::load_aligned(b + j * L); });
      b += NRpanel;
      detail::static_for<MR>([&](auto r) SINTER_INLINE {
        const B av(a[r][k]);
        detail::static_for<NV>([&](auto j) SINTER_INLINE { acc[r][j] = xsimd::fma(av, bv[j], acc[r][j]); });
      });
    }
  }

  if constexpr (Last) {
    const auto st = epi.template tile_state<B, MR, NV>(loc);
    detail::static_for<MR>([&](auto r) SINTER_INLINE {
      detail::static_for<NV>([&](auto j) SINTER_INLINE { epi.apply_tile(acc[r][j], st, r, j).store_unaligned(c[r] + j * L); });
    });
  } else {
    detail::static_for<MR>([&](auto r) SINTER_INLINE {
      detail::static_for<NV>([&](auto j) SINTER_INLINE { acc[r][j].store_unaligned(c[r] + j * L); });
    });
  }
}

}  // namespace sinter::gemm
