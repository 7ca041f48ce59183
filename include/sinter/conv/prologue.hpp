// sinter/conv/prologue.hpp - applying a prologue chain to input pixels.
//
// Kernels that take a prologue read their input through a small band buffer: the input
// rows a block of output rows needs, transformed once by the chain (one pass of
// element-wise ops per input element, however many filter taps read it). Padding is
// not in the band: padded taps read the zero row, so padding stays zero after the
// prologue.
#pragma once

#include "../epilogue/chain.hpp"

namespace sinter::conv {

/// dst[x * dst_stride + c] = pro(src[x * src_stride + c]) for x in [0, w), c in
/// [0, channels): `w` consecutive pixels of one input row, starting at input coordinate
/// `first` (pixel x is (first.n, first.h, first.w + x)), channels c0 .. c0 + channels.
/// Prologue operands are indexed by those input coordinates and channels.
template <class Arch, class Pro>
inline void prologue_row(const Pro& pro, const float* src, index_t src_stride, float* dst, index_t dst_stride,
                         index_t w, RowCoord first, index_t c0, index_t channels) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr index_t L = B::size;
  for (index_t x = 0; x < w; ++x) {
    const RowCoord rc{first.n, first.h, first.w + x};
    const float* s = src + x * src_stride;
    float* d = dst + x * dst_stride;
    index_t c = 0;
    for (; c + L <= channels; c += L) {
      const TileLoc loc{&rc, c0 + c};
      const auto st = pro.template tile_state<B, 1, 1>(loc);
      pro.apply_tile(B::load_unaligned(s + c), st, 0, 0).store_unaligned(d + c);
    }
    if (c < channels) {
      const int count = static_cast<int>(channels - c);
      const TileLoc loc{&rc, c0 + c};
      alignas(64) float tmp[B::size] = {};
      for (int i = 0; i < count; ++i) tmp[i] = s[c + i];
      pro.apply(B::load_aligned(tmp), loc, 0, 0, count).store_aligned(tmp);
      for (int i = 0; i < count; ++i) d[c + i] = tmp[i];
    }
  }
}

}  // namespace sinter::conv
