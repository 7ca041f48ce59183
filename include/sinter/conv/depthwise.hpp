// sinter/conv/depthwise.hpp - the direct depthwise conv2d kernel: NHWC, channels in
// the SIMD lanes, no im2col, no GEMM.
//
//   out[n, oh, ow, c] = Epi( sum_{ky, kx} in[n, oh*sh - pad.top + ky*dh,
//                                           ow*sw - pad.left + kx*dw, c] * w[ky, kx, c] )
//
// Loop nest, per image n and output row oh:
//   [left border columns]  [interior columns, P pixels at a time]  [right border columns]
//     for each block of P output pixels of the row
//       for each block of V channel vectors      (then V/2, ..., 1 vectors, then the
//                                                 partial last vector, masked)
//         P x V accumulators in registers; for each tap (ky, kx): V weight vectors
//         loaded once, P * V FMAs with the input vectors of the P pixels; then the
//         epilogue chain on the accumulators and one store per vector.
// The weights of a tap are reused by the P pixels of the register block; the input of
// a pixel is read once per tap (KH*KW times in all, from L1: the rows stay there).
// Interior pixels (every tap inside the input) run a tap loop without any bounds check,
// fully unrolled when the filter extent is in the type (Kernel<3, 3>, Kernel<5, 5>).
// Border pixels clip the tap rectangle to the input once per pixel block and run the
// same loop over the clipped rectangle: taps in the padding are skipped, never loaded,
// so padding is exactly zero (as TF and PyTorch define it).
// Same scheme as the direct depthwise kernels of XNNPACK (src/f32-dwconv) and oneDNN
// (jit_uni_dw_conv_kernel: channel blocks in the lanes, ur_w output pixels per step).
#pragma once

#include <algorithm>
#include <utility>

#include "../core/arch.hpp"
#include "../core/buffer.hpp"
#include "../core/masked.hpp"
#include "../core/unroll.hpp"
#include "../epilogue/chain.hpp"
#include "params.hpp"

namespace sinter {

/// Depthwise convolution parameters (PyTorch / ONNX Conv semantics with groups = C and
/// a channel multiplier of 1):
///   out[n, oh, ow, c] = sum_{ky, kx} in[n, oh*stride.h - pad.top + ky*dilation.h,
///                                      ow*stride.w - pad.left + kx*dilation.w, c] * w[ky, kx, c]
/// with out-of-range input positions reading as zero. TF 'SAME': pad = same_padding(...).
struct DepthwiseParams {
  HW stride{1};
  HW dilation{1};
  Padding pad{};
};

/// Register tile of the depthwise kernel for `Arch`: `px` output pixels (a power of two)
/// and `acc` accumulator vectors in all, so a tile of P pixels holds V = acc / P channel
/// vectors (at least 1, at most acc / 2). With V weight vectors and the chain's
/// per-channel operands it fits the register file:
///   AVX-512 (32 zmm), NEON64 (32 q):  8 pixels x 2 vectors (16 accumulators)
///   AVX2, SSE4.2 (16 registers):      4 pixels x 2 vectors (8 accumulators)
/// Narrower pixel blocks (the end of a row, border rows) hold more channel vectors, so
/// they keep enough independent FMA chains to hide the FMA latency.
template <class Arch, class = void>
struct depthwise_tile {
  static constexpr int px = 4;
  static constexpr int acc = 8;
};

template <class Arch>
struct depthwise_tile<Arch, std::enable_if_t<std::is_base_of_v<xsimd::avx512f, Arch>>> {
  static constexpr int px = 8;
  static constexpr int acc = 16;
};

#if XSIMD_WITH_NEON64
template <>
struct depthwise_tile<xsimd::neon64> {
  static constexpr int px = 8;
  static constexpr int acc = 16;
};
#endif

namespace conv {

/// Depthwise weights packed for the kernel: KH * KW rows (tap-major, row ky * KW + kx)
/// of `cp` floats, cp = C rounded up to whole vectors of `Arch`, zero-padded; rows are
/// aligned to a vector (the buffer is 64-byte aligned and cp is a whole number of
/// vectors). Built once per layer.
struct PackedDepthwise {
  aligned_buffer data;
  index_t kh = 0, kw = 0, c = 0, cp = 0;
};

/// Packs w[ky, kx, c] = at(ky, kx, c) for `Arch`. Throws sinter::error when sizes overflow.
template <class Arch, class At>
PackedDepthwise pack_depthwise(index_t kh, index_t kw, index_t c, At&& at) {
  constexpr index_t L = xsimd::batch<float, Arch>::size;
  PackedDepthwise p;
  p.kh = kh;
  p.kw = kw;
  p.c = c;
  p.cp = (c + L - 1) / L * L;
  p.data.resize(detail::checked_mul(detail::checked_mul(kh, kw, "depthwise_conv2d"), p.cp, "depthwise_conv2d"));
  float* dst = p.data.data();
  for (index_t y = 0; y < kh; ++y)
    for (index_t x = 0; x < kw; ++x, dst += p.cp)
      for (index_t ch = 0; ch < p.cp; ++ch) dst[ch] = ch < c ? at(y, x, ch) : 0.f;
  return p;
}

namespace dw {

/// Everything a call needs, in elements: views, strides, filter geometry.
struct Call {
  const float* in = nullptr;
  index_t in_sn = 0, in_sh = 0, in_sw = 0;
  float* out = nullptr;
  index_t out_sn = 0, out_sh = 0, out_sw = 0;
  const float* w = nullptr;  // packed, rows of cp floats
  index_t cp = 0, c = 0, kh = 0, kw = 0;
  index_t n = 0, ih = 0, iw = 0, oh = 0, ow = 0;
  index_t sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
  // Element steps: next filter row / column in the input, next output pixel's input.
  index_t row_step = 0, col_step = 0, pix_step = 0;
};

/// The taps [y0, y1) x [x0, x1) of the filter that fall inside the input.
struct Taps {
  index_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;
};

/// First k in [0, K) with pos0 + k * d >= 0, and one past the last with
/// pos0 + k * d < size: the taps of one output position that read real input.
inline void clip_taps(index_t pos0, index_t size, index_t K, index_t d, index_t& k0, index_t& k1) noexcept {
  k0 = pos0 >= 0 ? 0 : (-pos0 + d - 1) / d;
  k1 = pos0 >= size ? 0 : std::min<index_t>(K, (size - 1 - pos0) / d + 1);
  if (k1 < k0) k1 = k0;
}

/// Vectors per tile of P pixels: acc / P, within [1, acc / 2].
template <class Arch, int P>
inline constexpr int tile_vectors = std::clamp(depthwise_tile<Arch>::acc / P, 1, depthwise_tile<Arch>::acc / 2);

/// One register tile: P output pixels (of one row, consecutive columns) x V channel
/// vectors starting at channel c. `base`: element offset in the input of tap (0, 0) of
/// pixel 0, channel 0 (may lie outside the input: only taps in `t` are read). `out`: the
/// P output pixels, channel 0. Partial: one vector of `count` < lanes channels, read and
/// written masked. KH, KW > 0 and Full: the taps are the whole filter, unrolled.
template <class Arch, int KH, int KW, int P, int V, bool Full, bool Partial, class Epi>
[[gnu::always_inline]] inline void tile(const Call& g, index_t base, float* const* out, const RowCoord* rows,
                                        index_t c, const Taps& t, int count, const Epi& epi) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int L = static_cast<int>(B::size);
  static_assert(!Partial || V == 1, "a partial tile is one vector wide");
  const index_t kw = KW > 0 ? KW : g.kw;

  B acc[P][V];
  detail::static_for<P>([&](auto p) SINTER_INLINE {
    detail::static_for<V>([&](auto j) SINTER_INLINE { acc[p][j] = B(0.f); });
  });

  // acc[p][j] += in[pixel p, tap (ky, kx), c + j*L ...] * w[ky, kx, c + j*L ...]
  auto tap = [&](index_t ky, index_t kx) SINTER_INLINE {
    const float* wp = g.w + (ky * kw + kx) * g.cp + c;
    const float* ip = g.in + (base + ky * g.row_step + kx * g.col_step + c);
    B wv[V];
    detail::static_for<V>([&](auto j) SINTER_INLINE { wv[j] = B::load_aligned(wp + j * L); });
    detail::static_for<P>([&](auto p) SINTER_INLINE {
      detail::static_for<V>([&](auto j) SINTER_INLINE {
        const float* src = ip + p * g.pix_step + j * L;
        const B x = Partial ? detail::masked_io<Arch>::load(src, count) : B::load_unaligned(src);
        acc[p][j] = xsimd::fma(x, wv[j], acc[p][j]);
      });
    });
  };
  if constexpr (Full && KH > 0 && KW > 0) {
    detail::static_for<KH>([&](auto ky) SINTER_INLINE {
      detail::static_for<KW>([&](auto kx) SINTER_INLINE { tap(ky, kx); });
    });
  } else {
    for (index_t ky = t.y0; ky < t.y1; ++ky)
      for (index_t kx = t.x0; kx < t.x1; ++kx) tap(ky, kx);
  }

  // The chain on the accumulators, then one store per vector.
  const TileLoc loc{rows, c};
  if constexpr (!Partial) {
    const auto st = epi.template tile_state<B, P, V>(loc);
    detail::static_for<P>([&](auto p) SINTER_INLINE {
      detail::static_for<V>([&](auto j) SINTER_INLINE {
        epi.apply_tile(acc[p][j], st, p, j).store_unaligned(out[p] + c + j * L);
      });
    });
  } else {
    detail::static_for<P>([&](auto p) SINTER_INLINE {
      detail::masked_io<Arch>::store(out[p] + c, epi.apply(acc[p][0], loc, p, 0, count), count);
    });
  }
}

/// Channel vectors [c, ...) of a pixel block in tiles of V vectors, then V/2, ..., 1.
template <class Arch, int KH, int KW, int P, int V, bool Full, class Epi>
[[gnu::always_inline]] inline void channel_blocks(const Call& g, index_t base, float* const* out, const RowCoord* rows,
                                                  index_t& c, const Taps& t, const Epi& epi) noexcept {
  constexpr index_t step = V * static_cast<index_t>(xsimd::batch<float, Arch>::size);
  for (; c + step <= g.c; c += step) tile<Arch, KH, KW, P, V, Full, false>(g, base, out, rows, c, t, 0, epi);
  if constexpr (V > 1) channel_blocks<Arch, KH, KW, P, V / 2, Full>(g, base, out, rows, c, t, epi);
}

/// All channels of P consecutive output pixels (n, oh, ow0 .. ow0 + P - 1), reading the
/// taps `t` (Full: the whole filter, every tap inside the input).
template <class Arch, int KH, int KW, int P, bool Full, class Epi>
[[gnu::noinline]] void pixel_block(const Call& g, index_t n, index_t oh, index_t ow0, const Taps& t,
                                   const Epi& epi) noexcept {
  constexpr int V = tile_vectors<Arch, P>;
  RowCoord rows[P];
  float* out[P];
  for (int p = 0; p < P; ++p) {
    rows[p] = {n, oh, ow0 + p};
    out[p] = g.out + n * g.out_sn + oh * g.out_sh + (ow0 + p) * g.out_sw;
  }
  const index_t base = n * g.in_sn + (oh * g.sh - g.pt) * g.in_sh + (ow0 * g.sw - g.pl) * g.in_sw;
  index_t c = 0;
  channel_blocks<Arch, KH, KW, P, V, Full>(g, base, out, rows, c, t, epi);
  if (c < g.c) tile<Arch, KH, KW, P, 1, Full, true>(g, base, out, rows, c, t, static_cast<int>(g.c - c), epi);
}

/// Output columns [ow, end) of one row in blocks of P pixels, then P/2, ..., 1.
template <class Arch, int KH, int KW, int P, bool Full, class Epi>
inline void column_blocks(const Call& g, index_t n, index_t oh, index_t& ow, index_t end, const Taps& t,
                          const Epi& epi) noexcept {
  for (; ow + P <= end; ow += P) pixel_block<Arch, KH, KW, P, Full>(g, n, oh, ow, t, epi);
  if constexpr (P > 1) column_blocks<Arch, KH, KW, P / 2, Full>(g, n, oh, ow, end, t, epi);
}

/// First output position whose taps all lie at or after input position 0, and one past
/// the last whose taps all lie before `size`: the interior range [lo, hi) in [0, out).
inline void interior(index_t size, index_t out, index_t k, index_t s, index_t d, index_t pad, index_t& lo,
                     index_t& hi) noexcept {
  lo = std::min<index_t>(out, (pad + s - 1) / s);
  const index_t last = size - 1 - (k - 1) * d + pad;  // largest o * s with every tap inside
  hi = last < 0 ? 0 : std::min<index_t>(out, last / s + 1);
  if (hi < lo) hi = lo;
}

/// The whole depthwise conv2d of `g`, with the epilogue chain `epi` (validated by the
/// caller against the output). KH, KW: the filter extent when known at compile time
/// (0: run time, from g.kh and g.kw).
template <class Arch, int KH, int KW, class Epi>
void run(const Call& g, const Epi& epi) noexcept {
  constexpr int P = depthwise_tile<Arch>::px;
  static_assert(P > 0 && (P & (P - 1)) == 0, "depthwise_tile<Arch>::px must be a power of two");
  index_t oh_lo, oh_hi, ow_lo, ow_hi;
  interior(g.ih, g.oh, g.kh, g.sh, g.dh, g.pt, oh_lo, oh_hi);
  interior(g.iw, g.ow, g.kw, g.sw, g.dw, g.pl, ow_lo, ow_hi);

  for (index_t n = 0; n < g.n; ++n)
    for (index_t oh = 0; oh < g.oh; ++oh) {
      Taps t{0, g.kh, 0, g.kw};
      clip_taps(oh * g.sh - g.pt, g.ih, g.kh, g.dh, t.y0, t.y1);
      // A border column: one pixel, its tap rectangle clipped in both directions.
      auto border = [&](index_t ow) {
        Taps tc = t;
        clip_taps(ow * g.sw - g.pl, g.iw, g.kw, g.dw, tc.x0, tc.x1);
        pixel_block<Arch, KH, KW, 1, false>(g, n, oh, ow, tc, epi);
      };
      index_t ow = 0;
      for (; ow < ow_lo; ++ow) border(ow);
      if (oh >= oh_lo && oh < oh_hi) column_blocks<Arch, KH, KW, P, true>(g, n, oh, ow, ow_hi, t, epi);
      else column_blocks<Arch, KH, KW, P, false>(g, n, oh, ow, ow_hi, t, epi);
      for (; ow < g.ow; ++ow) border(ow);
    }
}

}  // namespace dw
}  // namespace conv
}  // namespace sinter
