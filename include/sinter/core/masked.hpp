// sinter/core/masked.hpp - loads and stores of the first `count` lanes of a vector.
//
// For the partial last vector of a channel range (C not a multiple of the lanes): the
// memory past the `count`-th float may belong to another tensor, a channel slice of
// this one, or lie past the end of the allocation, so it is never read nor written.
// AVX-512 and AVX use the ISA's masked (fault-suppressing) loads and stores; the other
// ISAs go through a small stack buffer. One trait per ISA, as gemm_tile.
#pragma once

#include <cstring>
#include <type_traits>

#include "arch.hpp"

namespace sinter::detail {

/// masked_io<Arch>::load(p, count): lanes [0, count) from p[0 .. count), zero above;
/// masked_io<Arch>::store(p, x, count): lanes [0, count) of x to p[0 .. count).
/// 0 <= count <= lanes; nothing at p + count or beyond is touched.
template <class Arch, class = void>
struct masked_io {
  using B = xsimd::batch<float, Arch>;
  static B load(const float* p, int count) noexcept {
    alignas(64) float tmp[B::size] = {};
    std::memcpy(tmp, p, static_cast<std::size_t>(count) * sizeof(float));
    return B::load_aligned(tmp);
  }
  static void store(float* p, B x, int count) noexcept {
    alignas(64) float tmp[B::size];
    x.store_aligned(tmp);
    std::memcpy(p, tmp, static_cast<std::size_t>(count) * sizeof(float));
  }
};

#if XSIMD_WITH_AVX512F
template <class Arch>
struct masked_io<Arch, std::enable_if_t<std::is_base_of_v<xsimd::avx512f, Arch>>> {
  using B = xsimd::batch<float, Arch>;
  static __mmask16 mask(int count) noexcept { return static_cast<__mmask16>((1u << count) - 1u); }
  static B load(const float* p, int count) noexcept { return _mm512_maskz_loadu_ps(mask(count), p); }
  static void store(float* p, B x, int count) noexcept { _mm512_mask_storeu_ps(p, mask(count), x); }
};
#endif

#if XSIMD_WITH_AVX
template <class Arch>
struct masked_io<Arch, std::enable_if_t<std::is_base_of_v<xsimd::avx, Arch>>> {
  using B = xsimd::batch<float, Arch>;
  // Lane i is enabled when its sign bit is set: the 8 lanes starting at ones + 8 - count.
  static __m256i mask(int count) noexcept {
    alignas(64) static constexpr int table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 8 - count));
  }
  static B load(const float* p, int count) noexcept { return _mm256_maskload_ps(p, mask(count)); }
  static void store(float* p, B x, int count) noexcept { _mm256_maskstore_ps(p, mask(count), x); }
};
#endif

}  // namespace sinter::detail
