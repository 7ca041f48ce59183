// sinter/core/arch.hpp - the SIMD architecture of the build and per-ISA tile shapes.
//
// Kernels are written once, generic over xsimd::batch<float, Arch>; the only per-ISA
// knowledge is the register tile shape below (one trait, no copies of kernels).
#pragma once

#include <type_traits>
#include <xsimd/xsimd.hpp>

namespace sinter {

/// The instruction set sinter's kernels are compiled for: the best one the compiler
/// flags enable (-march=...), as chosen by xsimd (e.g. avx512bw, fma3<avx2>, sse4_2,
/// neon64).
using default_arch = xsimd::default_arch;

/// A SIMD vector of floats for `Arch`.
template <class Arch = default_arch>
using vec = xsimd::batch<float, Arch>;

/// GEMM register tile of the micro-kernel: MR output rows x NR = NV * lanes output
/// columns held in MR * NV vector accumulators. Chosen so that accumulators, NV vectors
/// of the B panel and one broadcast A value fit the architectural register file:
///   AVX-512 (32 zmm):  6 x 64  (24 accumulators + 4 B + 1 A; 64 = a common C_out)
///   AVX2+FMA (16 ymm): 6 x 16  (12 + 2 + 1), the classic BLIS Haswell shape
///   SSE4.2 (16 xmm):   6 x 8   (12 + 2 + 1; no FMA: mul + add)
///   NEON64 (32 q):     6 x 12  (18 + 3 B + 6 A vectors: the K loop runs 4 steps per
///                      iteration with lane-indexed fmla, one 4-float A load per row;
///                      8 x 12 needs 35 registers and spills; bench/tools/microkernel_mix.py
///                      reports 78% fmla in the inner loop of 6 x 12)
/// Source: Goto & van de Geijn, "Anatomy of High-Performance Matrix Multiplication",
/// ACM TOMS 2008; Low et al., "Analytical Modeling Is Enough for High-Performance
/// BLIS", ACM TOMS 2016.
template <class Arch, class = void>
struct gemm_tile {
  static constexpr int mr = 4;
  static constexpr int nv = 2;
};

template <class Arch>
struct gemm_tile<Arch, std::enable_if_t<std::is_base_of_v<xsimd::avx512f, Arch>>> {
  static constexpr int mr = 6;
  static constexpr int nv = 4;
};

template <class Arch>
struct gemm_tile<Arch, std::enable_if_t<std::is_base_of_v<xsimd::avx, Arch>>> {
  static constexpr int mr = 6;
  static constexpr int nv = 2;
};

template <class Arch>
struct gemm_tile<Arch, std::enable_if_t<std::is_base_of_v<xsimd::sse2, Arch>>> {
  static constexpr int mr = 6;
  static constexpr int nv = 2;
};

#if XSIMD_WITH_NEON64
template <>
struct gemm_tile<xsimd::neon64> {
  static constexpr int mr = 6;
  static constexpr int nv = 3;
};
#endif

namespace detail {

/// Starts loading the 64-byte line at `p` into L1 (prefetcht0, prfm pldl1keep); never
/// faults. An asm statement, not __builtin_prefetch: GCC drops a builtin prefetch when
/// the function that issues it, having no other effect, is found const and its call
/// removed.
[[gnu::always_inline]] inline void prefetch_l1(const void* p) noexcept {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__aarch64__)
  asm volatile("prfm pldl1keep, %0" : : "Q"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

}  // namespace detail

}  // namespace sinter
