// sinter/conv/depthwise.hpp - the direct depthwise conv2d kernel: NHWC, channels in
// the SIMD lanes, no im2col, no GEMM.
//
//   out[n, oh, ow, c] = Epi( sum_{ky, kx} in[n, oh*sh - pad.top + ky*dh,
//                                           ow*sw - pad.left + kx*dw, c] * w[ky, kx, c] )
//
// Two walks of the taps:
// Sliding window (filter extent in the type, Kernel<3, 3>, Kernel<5, 5>; stride 1 or 2
// and no dilation along the row; rows of at least P/2 output pixels), per image n and
// output row oh (a pair of rows, oh and oh + 1, at stride 1 without dilation on
// 32-register ISAs, where both rows' filters lie inside the input vertically):
//     for each block of P output pixels of the row (P/2 when the row is narrower than
//                                                   P; the last block overlapping the
//                                                   one before when P does not divide OW)
//       for each block of V channel vectors      (then V/2, ..., 1, then the partial
//                                                 last vector, masked)
//         R x P x V accumulators in registers; per input row of the window, the filter
//         rows' weight vectors in registers and each input vector loaded once, feeding
//         every (output row, pixel, tap) that reads it (3x3, stride 1, P = 8: 10 loads
//         per 24 FMAs, 10 per 48 for a pair of rows); then the epilogue chain on the
//         accumulators and one store per vector.
//   Blocks whose window reaches into the left or right padding skip those window
//   columns; border rows run only the filter rows inside the input. Weights packed per
//   channel vector and input offsets walked from one base pointer keep the tile's
//   addressing to a few general-purpose registers.
// Tap-major (run-time extent, dilation along the row, stride > 2, rows narrower than
// P/2): border columns one pixel at a time, interior columns P pixels at a time, one
// tap's weight vectors loaded once and reused by the P pixels; border pixels clip the
// tap rectangle to the input once per pixel block.
// On both, taps in the padding are skipped, never loaded, so padding is exactly zero
// (as TF and PyTorch define it), and every output element sums its products in
// (ky, kx) order from zero, whatever its tile.
// A prologue chain runs on each input vector as the taps load it, in registers, before
// its FMAs: padded taps are never loaded, so padding stays exactly zero after the
// prologue (TF / PyTorch semantics), and the interior keeps no padding checks. In the
// sliding window an input vector is loaded, and transformed, once per (window row,
// pixel block); tap-major, once per tap. Recomputing it costs ALU work inside the
// kernel's own stream of loads, where this memory-bound kernel has slack; transforming
// the input rows once into a buffer first (a band) is a pass over the input that does
// not overlap the kernel's arithmetic: measured 1.35x the bare time on 112x112x32
// against 1.0x-1.05x applied on load (bench_depthwise, .../paired).
// Tasks (run by an executor): images x bands of output rows x channel blocks (see
// split()); each output element is computed by one task, by the same operations
// whatever the split, so results are bitwise identical for any thread count.
// The scheme of the direct depthwise kernels of XNNPACK (src/f32-dwconv) and oneDNN
// (jit_uni_dw_conv_kernel: channel blocks in the lanes, ur_w output pixels per step);
// the sliding window is the register reuse of direct convolution along the row
// (e.g. Zhang, Franchetti, Low, "High Performance Zero-Memory Overhead Direct
// Convolutions", ICML 2018).
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
/// and `acc` accumulator vectors in all, so a tile of P pixels (of R rows) holds V =
/// acc / (P * R) channel vectors (at least 1, at most acc / 2); `regs`, the vector
/// registers, caps V where the filter row's weights must stay in registers too
/// (sliding-window tiles):
///   AVX-512 (32 zmm), NEON64 (32 q):  8 pixels x 2 vectors (16 accumulators)
///   AVX2, SSE4.2 (16 registers):      4 pixels x 2 vectors (8 accumulators)
/// Narrower pixel blocks (rows under px pixels, tap-major tails) hold more channel
/// vectors, so they keep enough independent FMA chains to hide the FMA latency. `rows`: output rows
/// a sliding-window tile computes at once when the stride is 1 and there is no
/// dilation (2 on 32-register ISAs: the two rows share KH - 1 of their input rows, so
/// each input vector loaded feeds up to twice the FMAs; P x V x rows accumulators).
template <class Arch, class = void>
struct depthwise_tile {
  static constexpr int px = 4;
  static constexpr int acc = 8;
  static constexpr int regs = 16;
  static constexpr int rows = 1;
};

template <class Arch>
struct depthwise_tile<Arch, std::enable_if_t<std::is_base_of_v<xsimd::avx512f, Arch>>> {
  static constexpr int px = 8;
  static constexpr int acc = 16;
  static constexpr int regs = 32;
  static constexpr int rows = 2;
};

#if XSIMD_WITH_NEON64
template <>
struct depthwise_tile<xsimd::neon64> {
  static constexpr int px = 8;
  static constexpr int acc = 16;
  static constexpr int regs = 32;
  static constexpr int rows = 2;
};
#endif

namespace conv {

/// Depthwise weights packed for the kernel: per block of one vector of channels (`Arch`'s
/// lanes L), its KH * KW taps (tap-major, tap ky * KW + kx), each a vector of L floats:
///   data[((c / L) * KH * KW + ky * KW + kx) * L + c % L] = w[ky, kx, c]
/// cp = C rounded up to whole vectors, the channels past C zero. A register tile's
/// weights then lie at compile-time offsets from one pointer (vector j of a tile:
/// + j * KH * KW * L). The buffer is 64-byte aligned, so every tap vector is aligned.
/// Built once per layer.
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
  for (index_t c0 = 0; c0 < p.cp; c0 += L)
    for (index_t y = 0; y < kh; ++y)
      for (index_t x = 0; x < kw; ++x, dst += L)
        for (index_t i = 0; i < L; ++i) dst[i] = c0 + i < c ? at(y, x, c0 + i) : 0.f;
  return p;
}

namespace dw {

/// Everything a call needs, in elements: views, strides, filter geometry.
struct Call {
  const float* in = nullptr;
  index_t in_sn = 0, in_sh = 0, in_sw = 0;
  float* out = nullptr;
  index_t out_sn = 0, out_sh = 0, out_sw = 0;
  const float* w = nullptr;  // packed (see PackedDepthwise), channel 0 of the call
  index_t cp = 0, c = 0, kh = 0, kw = 0;
  index_t kk = 0;  // kh * kw: floats per channel of the packed weights
  index_t n = 0, ih = 0, iw = 0, oh = 0, ow = 0;
  index_t sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
  // Element steps: next filter row / column in the input, next output pixel's input.
  index_t row_step = 0, col_step = 0, pix_step = 0;
  // The layer channel of channel 0 of in / out / w (a channel block of a task), which
  // indexes the prologue and epilogue operands.
  index_t c_off = 0;
};

/// The Call of `w` on `in` -> `out` (shapes already checked against each other).
inline Call make_call(const TensorView<const float>& in, const TensorView<float>& out, const PackedDepthwise& w,
                      const DepthwiseParams& p) noexcept {
  Call g;
  g.in = in.data;
  g.in_sn = in.stride_n;
  g.in_sh = in.stride_h;
  g.in_sw = in.stride_w;
  g.out = out.data;
  g.out_sn = out.stride_n;
  g.out_sh = out.stride_h;
  g.out_sw = out.stride_w;
  g.w = w.data.data();
  g.cp = w.cp;
  g.c = w.c;
  g.kh = w.kh;
  g.kw = w.kw;
  g.kk = w.kh * w.kw;
  g.n = in.shape.n;
  g.ih = in.shape.h;
  g.iw = in.shape.w;
  g.oh = out.shape.h;
  g.ow = out.shape.w;
  g.sh = p.stride.h;
  g.sw = p.stride.w;
  g.dh = p.dilation.h;
  g.dw = p.dilation.w;
  g.pt = p.pad.top;
  g.pl = p.pad.left;
  g.row_step = g.dh * g.in_sh;
  g.col_step = g.dw * g.in_sw;
  g.pix_step = g.sw * g.in_sw;
  return g;
}

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

/// Vector registers a chain's operands hold through a tile of V vectors: one per
/// vector for each op with a per-channel, scalar or constant operand (a tensor
/// operand's state is pointers).
template <class Chain>
struct chain_registers;
template <class... Ops>
struct chain_registers<Epilogue<Ops...>> {
  template <class Op>
  static constexpr int of() noexcept {
    if constexpr (BinaryOp<Op>) return reads_tensor_op<Op>() ? 0 : 1;
    else return 0;
  }
  static constexpr int value = (0 + ... + of<Ops>());
};

/// Vectors per tile of P pixels x R rows: acc / (P * R) within [1, acc / 2]; for a
/// sliding-window tile (Slide) halved while its P*R*V accumulators, KW*R*V weights, the
/// prologue's operands for V vectors, an input vector and a spare would not fit the
/// register file.
template <class T, int KW, bool Slide, int P, class Pro, int R = 1>
constexpr int tile_vectors() noexcept {
  int v = std::clamp(T::acc / (P * R), 1, T::acc / 2);
  if constexpr (Slide)
    while (v > 1 && P * R * v + KW * R * v + chain_registers<Pro>::value * v + 2 > T::regs) v /= 2;
  return v;
}

/// The prologue's operands for an MR x NV tile of input vectors (none for an empty
/// prologue, or for a partial vector, whose apply() loads `count` values itself).
template <class B, int MR, int NV, bool Full, class Pro>
[[gnu::always_inline]] inline auto prologue_state(const Pro& pro, const TileLoc& loc) noexcept {
  if constexpr (Pro::size == 0 || !Full) return detail::no_state{};
  else return pro.template tile_state<B, MR, NV>(loc);
}

/// The epilogue on a P x V accumulator tile and its stores: output pixel p, channel
/// vector j at g.out + out_off + p * g.out_sw + c + j * L (one masked vector of
/// `count` channels when Partial).
template <class Arch, int P, int V, bool Partial, class Epi>
[[gnu::always_inline]] inline void store_tile(const Call& g, const xsimd::batch<float, Arch> (&acc)[P][V],
                                              index_t out_off, const RowCoord* rows, index_t c, int count,
                                              const Epi& epi) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int L = static_cast<int>(B::size);
  float* const ob = g.out + c;
  const TileLoc loc{rows, g.c_off + c};
  if constexpr (!Partial) {
    const auto st = epi.template tile_state<B, P, V>(loc);
    detail::static_for<P>([&](auto p) SINTER_INLINE {
      detail::static_for<V>([&](auto j) SINTER_INLINE {
        epi.apply_tile(acc[p][j], st, p, j).store_unaligned(ob + out_off + j * L);
      });
      out_off += g.out_sw;
    });
  } else {
    detail::static_for<P>([&](auto p) SINTER_INLINE {
      detail::masked_io<Arch>::store(ob + out_off, epi.apply(acc[p][0], loc, p, 0, count), count);
      out_off += g.out_sw;
    });
  }
}

/// One tap-major register tile: P output pixels (of one row, consecutive columns) x V
/// channel vectors starting at channel c. `base`: element offset in the input of tap
/// (0, 0) of pixel 0, channel 0 (may lie outside the input: only the taps of `t`, the
/// rectangle inside the input, are read). `out_off`: element offset in the output of
/// pixel 0, channel 0. Partial: one vector of `count` < lanes channels, read and
/// written masked. `pro` runs on every input vector loaded (its operands indexed by the
/// input pixel and the layer channel), `epi` on the accumulators before the store.
template <class Arch, int KH, int KW, int P, int V, bool Partial, class Epi, class Pro>
[[gnu::always_inline]] inline void tile(const Call& g, index_t base, index_t out_off, const RowCoord* rows,
                                        index_t c, const Taps& t, int count, const Epi& epi,
                                        const Pro& pro) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int L = static_cast<int>(B::size);
  static constexpr bool has_pro = Pro::size > 0;
  static_assert(!Partial || V == 1, "a partial tile is one vector wide");
  const index_t kw = KW > 0 ? KW : g.kw;
  const index_t kk = KH > 0 && KW > 0 ? KH * KW : g.kk;
  // Input coordinates of tap (0, 0) of pixel 0, for the prologue's operands.
  [[maybe_unused]] const index_t in_h0 = rows[0].h * g.sh - g.pt, in_w0 = rows[0].w * g.sw - g.pl;

  B acc[P][V];
  detail::static_for<P>([&](auto p) SINTER_INLINE {
    detail::static_for<V>([&](auto j) SINTER_INLINE { acc[p][j] = B(0.f); });
  });

  // acc[p][j] += pro(in[pixel p, tap (ky, kx), c + j*L ...]) * w[ky, kx, c + j*L ...]
  const float* const wb = g.w + c * kk;
  auto tap = [&](index_t ky, index_t kx) SINTER_INLINE {
    const float* wp = wb + (ky * kw + kx) * L;
    const float* ip = g.in + (base + ky * g.row_step + kx * g.col_step + c);
    B wv[V];
    detail::static_for<V>([&](auto j) SINTER_INLINE { wv[j] = B::load_aligned(wp + j * kk * L); });
    // The prologue's operands for the P input pixels of this tap.
    [[maybe_unused]] RowCoord px[has_pro ? P : 1];
    if constexpr (has_pro)
      for (int p = 0; p < P; ++p) px[p] = {rows[0].n, in_h0 + ky * g.dh, in_w0 + p * g.sw + kx * g.dw};
    [[maybe_unused]] const TileLoc loc{px, g.c_off + c};
    [[maybe_unused]] const auto ps = prologue_state<B, P, V, !Partial>(pro, loc);
    detail::static_for<P>([&](auto p) SINTER_INLINE {
      detail::static_for<V>([&](auto j) SINTER_INLINE {
        const float* src = ip + p * g.pix_step + j * L;
        B x = Partial ? detail::masked_io<Arch>::load(src, count) : B::load_unaligned(src);
        if constexpr (has_pro && Partial) x = pro.apply(x, loc, p, 0, count);
        if constexpr (has_pro && !Partial) x = pro.apply_tile(x, ps, p, j);
        acc[p][j] = xsimd::fma(x, wv[j], acc[p][j]);
      });
    });
  };
  for (index_t ky = t.y0; ky < t.y1; ++ky)
    for (index_t kx = t.x0; kx < t.x1; ++kx) tap(ky, kx);

  store_tile<Arch, P, V, Partial>(g, acc, out_off, rows, c, count, epi);
}

/// Channel vectors [c, ...) of a tap-major pixel block in tiles of V vectors, then of 1.
template <class Arch, int KH, int KW, int P, int V, class Epi, class Pro>
[[gnu::always_inline]] inline void channel_blocks(const Call& g, index_t base, index_t out_off, const RowCoord* rows,
                                                  index_t& c, const Taps& t, const Epi& epi, const Pro& pro) noexcept {
  constexpr index_t step = V * static_cast<index_t>(xsimd::batch<float, Arch>::size);
  for (; c + step <= g.c; c += step) tile<Arch, KH, KW, P, V, false>(g, base, out_off, rows, c, t, 0, epi, pro);
  if constexpr (V > 1) channel_blocks<Arch, KH, KW, P, 1>(g, base, out_off, rows, c, t, epi, pro);
}

/// All channels of P consecutive output pixels (n, oh, ow0 .. ow0 + P - 1), tap-major.
template <class Arch, class Tile, int KH, int KW, int P, class Epi, class Pro>
[[gnu::always_inline]] inline void pixel_block(const Call& g, index_t n, index_t oh, index_t ow0, const Taps& t,
                                               const Epi& epi, const Pro& pro) noexcept {
  constexpr int V = tile_vectors<Tile, KW, false, P, Pro>();
  RowCoord rows[P];
  for (int p = 0; p < P; ++p) rows[p] = {n, oh, ow0 + p};
  const index_t out_off = n * g.out_sn + oh * g.out_sh + ow0 * g.out_sw;
  const index_t base = n * g.in_sn + (oh * g.sh - g.pt) * g.in_sh + (ow0 * g.sw - g.pl) * g.in_sw;
  index_t c = 0;
  channel_blocks<Arch, KH, KW, P, V>(g, base, out_off, rows, c, t, epi, pro);
  if (c < g.c) tile<Arch, KH, KW, P, 1, true>(g, base, out_off, rows, c, t, static_cast<int>(g.c - c), epi, pro);
}

/// Output columns [ow, end) of one row in blocks of P pixels, then one of P/2, then
/// single pixels (three tile widths keep the generated code small), tap-major.
template <class Arch, class Tile, int KH, int KW, int P, class Epi, class Pro>
[[gnu::always_inline]] inline void column_blocks(const Call& g, index_t n, index_t oh, index_t& ow, index_t end,
                                                 const Taps& t, const Epi& epi, const Pro& pro) noexcept {
  for (; ow + P <= end; ow += P) pixel_block<Arch, Tile, KH, KW, P>(g, n, oh, ow, t, epi, pro);
  if constexpr (P / 2 > 1)
    if (ow + P / 2 <= end) {
      pixel_block<Arch, Tile, KH, KW, P / 2>(g, n, oh, ow, t, epi, pro);
      ow += P / 2;
    }
  if constexpr (P > 1)
    for (; ow < end; ++ow) pixel_block<Arch, Tile, KH, KW, 1>(g, n, oh, ow, t, epi, pro);
}

/// Output columns [ow, end) of row (n, oh), tap-major, the taps of `t` (clipped
/// to the input) for every pixel.
template <class Arch, class Tile, int KH, int KW, class Epi, class Pro>
[[gnu::noinline]] void row_segment(const Call& g, index_t n, index_t oh, index_t ow, index_t end, const Taps& t,
                                   const Epi& epi, const Pro& pro) noexcept {
  constexpr int P = Tile::px;
  static_assert(P > 0 && (P & (P - 1)) == 0, "depthwise_tile<Arch>::px must be a power of two");
  column_blocks<Arch, Tile, KH, KW, P>(g, n, oh, ow, end, t, epi, pro);
}

// ---------------------------------------------------------------------------------
// Sliding window: compile-time extent, stride S = 1 or 2 and no dilation along the row.
// ---------------------------------------------------------------------------------

/// The input window of a sliding-window block of P output pixels: J = S*(P-1) + KW
/// input columns from column w of row h (tap (0, 0) of pixel 0, image n; h and w may lie
/// in the padding), the filter rows [y0, y1) and the window columns [x0, x1) (0 <= x0
/// <= x1 <= J) inside the input.
struct Window {
  index_t n = 0, h = 0, w = 0;
  index_t y0 = 0, y1 = 0;
  index_t x0 = 0, x1 = 0;
};

/// Sliding-window tile: R output rows (R = 2: rows oh, oh + 1 with stride 1 and no
/// dilation, every filter row inside the input) x P output pixels (consecutive
/// columns) x V channel vectors from channel c. Per input row of the window, the
/// weights of the filter row each output row applies to it stay in registers, and each
/// input vector of the row is loaded (and run through the prologue) once and feeds every
/// (output row, pixel, tap) that reads it: pixel p, tap kx reads window column p*S + kx;
/// output row r applies filter row i - r to input row i. Input rows run in order and
/// columns in order, so each output element still sums its products in (ky, kx) order,
/// from zero, as the tap-major tile does. Window columns outside [x0, x1), exactly the
/// pixels' padded taps, are skipped (a run-time test per column, taken the same way in
/// every interior block, so the branches predict; measured no slower than a second,
/// unclipped copy of the tile, which doubled the kernel's compile time), so border
/// blocks give the tap-major border result bit for bit. For 3x3, S = 1, P = 8, R = 1:
/// 10 input loads per 24 FMAs instead of 24; R = 2: 10 per 48 on the middle rows. `in_off` / `out_off`:
/// element offsets of the window's column 0 in row h (channel 0) and of output pixel 0
/// of row oh (channel 0); the loads walk the input by offsets from one base pointer and
/// the weights lie at compile-time offsets from another (see PackedDepthwise), so the
/// tile needs few general-purpose registers. `rows`: R * P output coordinates, row-major.
template <class Arch, int KH, int KW, int S, int R, int P, int V, bool Partial, class Epi, class Pro>
[[gnu::always_inline]] inline void slide_tile(const Call& g, const Window& win, index_t in_off, index_t out_off,
                                              const RowCoord* rows, index_t c, int count, const Epi& epi,
                                              const Pro& pro) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int L = static_cast<int>(B::size);
  constexpr int J = S * (P - 1) + KW, KK = KH * KW;
  static constexpr bool has_pro = Pro::size > 0;
  static_assert(KH > 0 && KW > 0, "the sliding-window tile needs a compile-time filter extent");
  static_assert(!Partial || V == 1, "a partial tile is one vector wide");
  static_assert(R == 1 || R == 2, "a sliding-window tile covers one or two output rows");

  B acc[R][P][V];
  detail::static_for<R>([&](auto r) SINTER_INLINE {
    detail::static_for<P>([&](auto p) SINTER_INLINE {
      detail::static_for<V>([&](auto j) SINTER_INLINE { acc[r][p][j] = B(0.f); });
    });
  });

  const float* const ib = g.in + c;
  const float* const wb = g.w + c * KK;
  // Input row i of the window; output row r takes it when Use<r> (filter row i - r).
  auto pass = [&](index_t i, auto use0, auto use1) SINTER_INLINE {
    constexpr bool use[2] = {decltype(use0)::value, decltype(use1)::value};
    B wv[R][KW][V];
    detail::static_for<R>([&](auto r) SINTER_INLINE {
      if constexpr (use[r]) {
        const float* const wp = wb + (i - r) * (KW * L);
        detail::static_for<KW>([&](auto kx) SINTER_INLINE {
          detail::static_for<V>([&](auto j) SINTER_INLINE {
            wv[r][kx][j] = B::load_aligned(wp + (kx * L + j * KK * L));
          });
        });
      }
    });
    // The prologue's operands for the J input pixels of this window row (columns in
    // the padding clamped to the input: their pixels are never read).
    [[maybe_unused]] RowCoord px[has_pro ? J : 1];
    if constexpr (has_pro)
      for (int x = 0; x < J; ++x) px[x] = {win.n, win.h + i * g.dh, std::clamp<index_t>(win.w + x, 0, g.iw - 1)};
    [[maybe_unused]] const TileLoc loc{px, g.c_off + c};
    [[maybe_unused]] const auto ps = prologue_state<B, J, V, !Partial>(pro, loc);
    index_t off = in_off + i * g.row_step;
    detail::static_for<J>([&](auto col) SINTER_INLINE {
      constexpr int x0 = decltype(col)::value;
      if (x0 >= win.x0 && x0 < win.x1) {
        detail::static_for<V>([&](auto j) SINTER_INLINE {
          const float* src = ib + off + j * L;
          B x = Partial ? detail::masked_io<Arch>::load(src, count) : B::load_unaligned(src);
          if constexpr (has_pro && Partial) x = pro.apply(x, loc, x0, 0, count);
          if constexpr (has_pro && !Partial) x = pro.apply_tile(x, ps, x0, j);
          detail::static_for<R>([&](auto r) SINTER_INLINE {
            if constexpr (use[r])
              detail::static_for<KW>([&](auto kx) SINTER_INLINE {
                constexpr int d = x0 - decltype(kx)::value;
                if constexpr (d >= 0 && d % S == 0 && d / S < P)
                  acc[r][d / S][j] = xsimd::fma(x, wv[r][kx][j], acc[r][d / S][j]);
              });
          });
        });
      }
      off += g.in_sw;
    });
  };
  // Run-time loops over the middle rows keep one row's weights live at a time (an
  // unrolled one lets the compiler hoist every row's weight loads and spill).
  if constexpr (R == 1) {
#pragma GCC unroll 1
    for (index_t ky = win.y0; ky < win.y1; ++ky) pass(ky, std::true_type{}, std::false_type{});
  } else {
    pass(0, std::true_type{}, std::false_type{});
#pragma GCC unroll 1
    for (index_t i = 1; i < KH; ++i) pass(i, std::true_type{}, std::true_type{});
    pass(KH, std::false_type{}, std::true_type{});
  }
  detail::static_for<R>([&](auto r) SINTER_INLINE {
    store_tile<Arch, P, V, Partial>(g, acc[r], out_off + r * g.out_sh, rows + r * P, c, count, epi);
  });
}

/// Channel vectors [c, ...) of a sliding-window block in tiles of V vectors, then V/2,
/// ..., 1 (each narrower one at most once).
template <class Arch, int KH, int KW, int S, int R, int P, int V, class Epi, class Pro>
[[gnu::always_inline]] inline void slide_channels(const Call& g, const Window& win, index_t in_off, index_t out_off,
                                                  const RowCoord* rows, index_t& c, const Epi& epi,
                                                  const Pro& pro) noexcept {
  constexpr index_t step = V * static_cast<index_t>(xsimd::batch<float, Arch>::size);
  for (; c + step <= g.c; c += step)
    slide_tile<Arch, KH, KW, S, R, P, V, false>(g, win, in_off, out_off, rows, c, 0, epi, pro);
  if constexpr (V > 1)
    slide_channels<Arch, KH, KW, S, R, P, V / 2>(g, win, in_off, out_off, rows, c, epi, pro);
}

/// All channels of output pixels (n, oh .. oh + R - 1, ow0 .. ow0 + P - 1), sliding
/// window.
template <class Arch, class Tile, int KH, int KW, int S, int R, int P, class Epi, class Pro>
[[gnu::always_inline]] inline void slide_block(const Call& g, const Window& win, index_t oh, index_t ow0,
                                               const Epi& epi, const Pro& pro) noexcept {
  constexpr int V = tile_vectors<Tile, KW, true, P, Pro, R>();
  RowCoord rows[R * P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) rows[r * P + p] = {win.n, oh + r, ow0 + p};
  const index_t in_off = win.n * g.in_sn + win.h * g.in_sh + win.w * g.in_sw;
  const index_t out_off = win.n * g.out_sn + oh * g.out_sh + ow0 * g.out_sw;
  index_t c = 0;
  slide_channels<Arch, KH, KW, S, R, P, V>(g, win, in_off, out_off, rows, c, epi, pro);
  if (c < g.c)
    slide_tile<Arch, KH, KW, S, R, P, 1, true>(g, win, in_off, out_off, rows, c, static_cast<int>(g.c - c), epi, pro);
}

/// Output rows oh .. oh + R - 1 in blocks of P pixels; when the row is not a multiple
/// of P, its last block overlaps the one before (its pixels are computed twice, by the
/// same operations, so the stored values are the same). Blocks whose window reaches
/// into the padding clip their columns.
template <class Arch, class Tile, int KH, int KW, int S, int R, int P, class Epi, class Pro>
[[gnu::always_inline]] inline void slide_blocks(const Call& g, Window win, index_t oh, const Epi& epi,
                                                const Pro& pro) noexcept {
  constexpr int J = S * (P - 1) + KW;
  for (index_t b = 0; b < g.ow; b += P) {
    const index_t ow0 = std::min<index_t>(b, g.ow - P);
    const index_t w = ow0 * S - g.pl;
    const index_t x0 = std::clamp<index_t>(-w, 0, J), x1 = std::clamp<index_t>(g.iw - w, 0, J);
    win.w = w;
    win.x0 = x0;
    win.x1 = x1;
    slide_block<Arch, Tile, KH, KW, S, R, P>(g, win, oh, ow0, epi, pro);
  }
}

/// Output rows oh .. oh + R - 1 of image n, every column (at least P of them), sliding
/// window with stride S along the row, in blocks of P pixels; filter rows [t.y0, t.y1)
/// inside the input (R = 2: all of them, for both rows).
template <class Arch, class Tile, int KH, int KW, int S, int R, int P, class Epi, class Pro>
[[gnu::noinline]] void slide_row(const Call& g, index_t n, index_t oh, const Taps& t, const Epi& epi,
                                 const Pro& pro) noexcept {
  static_assert(P > 0 && (P & (P - 1)) == 0, "depthwise_tile<Arch>::px must be a power of two");
  Window win;
  win.n = n;
  win.h = oh * g.sh - g.pt;
  win.y0 = t.y0;
  win.y1 = t.y1;
  slide_blocks<Arch, Tile, KH, KW, S, R, P>(g, win, oh, epi, pro);
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

/// Output rows [oh0, oh1) of image n, every column and every channel of `g`, with the
/// prologue `pro` and the epilogue `epi` (validated by the caller against the input and
/// the output). KH, KW: the filter extent when known at compile time (0: run time, from
/// g.kh and g.kw). Tile: the register tile (see depthwise_tile).
template <class Arch, int KH, int KW, class Tile = depthwise_tile<Arch>, class Epi, class Pro>
void rows(const Call& g, index_t n, index_t oh0, index_t oh1, const Epi& epi, const Pro& pro) noexcept {
  if constexpr (KH > 0 && KW > 0) {
    // Rows of at least P = Tile::px pixels run blocks of P, rows of P/2 to P - 1 pixels
    // (7x7 maps on 32-register ISAs) blocks of P/2; narrower rows run tap-major:
    // sliding-window tiles for them would add a third of the kernel's instantiations,
    // and of its compile time, for a tiny share of a network's depthwise work.
    // slide_rows: rows [oh0, oh1) in blocks of Q pixels, in pairs (when `two` is true)
    // where stride and dilation are 1 and both rows' filters lie inside the input
    // vertically.
    constexpr int P = Tile::px;
    auto slide_rows = [&](auto q, auto two) {
      constexpr int Q = decltype(q)::value;
      const auto row = g.sw == 1 ? &slide_row<Arch, Tile, KH, KW, 1, 1, Q, Epi, Pro>
                                 : &slide_row<Arch, Tile, KH, KW, 2, 1, Q, Epi, Pro>;
      const bool pairs = decltype(two)::value && g.sw == 1 && g.sh == 1 && g.dh == 1;
      for (index_t oh = oh0; oh < oh1;) {
        Taps t{0, g.kh, 0, g.kw};
        clip_taps(oh * g.sh - g.pt, g.ih, g.kh, g.dh, t.y0, t.y1);
        if constexpr (decltype(two)::value)
          if (pairs && oh + 1 < oh1 && oh - g.pt >= 0 && oh + 1 - g.pt + KH <= g.ih) {
            slide_row<Arch, Tile, KH, KW, 1, 2, Q>(g, n, oh, t, epi, pro);
            oh += 2;
            continue;
          }
        row(g, n, oh, t, epi, pro);
        ++oh;
      }
    };
    const bool slide = g.dw == 1 && (g.sw == 1 || g.sw == 2);
    if (slide && g.ow >= P) {
      slide_rows(std::integral_constant<int, P>{}, std::bool_constant<(Tile::rows > 1)>{});
      return;
    }
    if constexpr (P / 2 > 1)
      if (slide && g.ow >= P / 2) {
        slide_rows(std::integral_constant<int, P / 2>{}, std::bool_constant<(Tile::rows > 1)>{});
        return;
      }
  }
  index_t ow_lo, ow_hi;
  interior(g.iw, g.ow, g.kw, g.sw, g.dw, g.pl, ow_lo, ow_hi);

  for (index_t oh = oh0; oh < oh1; ++oh) {
    Taps t{0, g.kh, 0, g.kw};
    clip_taps(oh * g.sh - g.pt, g.ih, g.kh, g.dh, t.y0, t.y1);
    // Border columns: one pixel each, the tap rectangle clipped in both directions.
    auto border = [&](index_t ow) {
      Taps tc = t;
      clip_taps(ow * g.sw - g.pl, g.iw, g.kw, g.dw, tc.x0, tc.x1);
      row_segment<Arch, Tile, KH, KW>(g, n, oh, ow, ow + 1, tc, epi, pro);
    };
    for (index_t ow = 0; ow < ow_lo; ++ow) border(ow);
    if (ow_lo < ow_hi) row_segment<Arch, Tile, KH, KW>(g, n, oh, ow_lo, ow_hi, t, epi, pro);
    for (index_t ow = ow_hi; ow < g.ow; ++ow) border(ow);
  }
}

// ---------------------------------------------------------------------------------
// Tasks: images x bands of output rows x channel blocks.
// ---------------------------------------------------------------------------------

/// Tasks per worker when there is more than one: dynamic scheduling then evens out
/// tasks that run slower (border rows, a busy core).
inline constexpr index_t tasks_per_worker = 4;

/// How a call is cut into tasks: for each image, `bands` bands of output rows, each cut
/// into blocks of `ch` channels (a multiple of the lanes; the last block shorter).
/// Every output element belongs to exactly one task, and no path of the kernel makes
/// its value depend on the tile or the block it lands in (same operations, same order),
/// so results are bitwise identical for any split and thread count.
struct Split {
  index_t n = 1, oh = 1, unit = 1, bands = 1, ch = 1, ch_blocks = 1;
  index_t tasks() const noexcept { return n * bands * ch_blocks; }
  /// First output row of band b (b = bands: oh). Bands are whole units (row pairs, where
  /// the kernel computes two rows at once) and differ by at most one unit, so equal
  /// shares of consecutive bands hold equal rows: 56 rows in 16 bands of 2 or 4 give
  /// each of 4 workers 14 rows, where 14 bands of 4 gave two of them 16 and two 12.
  index_t row(index_t b) const noexcept {
    const index_t units = (oh + unit - 1) / unit;
    return std::min(oh, units * b / bands * unit);
  }
};

/// The split of a depthwise conv2d of input `in` with `oh` output rows over `threads`
/// workers, for `Arch`'s lanes:
///   1 worker: one task per image;
///   more: tasks_per_worker * workers tasks wanted; bands of output rows first (the
///   input rows two bands read overlap by the filter's halo only), then, when images x
///   rows are still too few (e.g. 14x14 at 8 threads), channel blocks of at least two
///   vectors.
template <class Arch>
Split split(Shape4 in, index_t oh, int threads) noexcept {
  constexpr index_t L = xsimd::batch<float, Arch>::size;
  auto ceil_div = [](index_t a, index_t b) { return (a + b - 1) / b; };
  Split s;
  s.n = in.n;
  s.ch = in.c;
  s.oh = std::max<index_t>(oh, 1);
  const index_t want = threads > 1 ? tasks_per_worker * threads : 1;
  // Row pairs where they give enough bands; single rows (and the one-row kernel) where
  // the image is short: 7x7 on 2 workers runs 7 bands x 2 channel blocks, not 4 x 2.
  s.unit = in.n * ceil_div(s.oh, depthwise_tile<Arch>::rows) >= want ? depthwise_tile<Arch>::rows : 1;
  s.bands = std::min(ceil_div(s.oh, s.unit), ceil_div(want, in.n));
  if (in.n * s.bands < want) {
    const index_t blocks = std::min(ceil_div(want, in.n * s.bands), std::max<index_t>(1, in.c / (2 * L)));
    s.ch = std::min(in.c, ceil_div(ceil_div(in.c, blocks), L) * L);
  }
  s.ch_blocks = ceil_div(in.c, s.ch);
  return s;
}

/// The whole depthwise conv2d of `g`: prologue `pro` on the input, epilogue `epi` on
/// the output (both validated by the caller), cut as `sp` says and run by `exec`.
/// KH, KW: see rows().
template <class Arch, int KH, int KW, class Epi, class Pro, class Exec>
void run(const Call& g, const Split& sp, const Epi& epi, const Pro& pro, const Exec& exec) {
  exec.parallel_for(sp.tasks(), [&](index_t task, int) noexcept {
    const index_t k = task % sp.ch_blocks;
    const index_t band = task / sp.ch_blocks % sp.bands;
    const index_t n = task / (sp.ch_blocks * sp.bands);
    const index_t oh0 = std::min(g.oh, sp.row(band)), oh1 = std::min(g.oh, sp.row(band + 1));
    const index_t c0 = k * sp.ch;
    Call t = g;
    t.c = std::min(sp.ch, g.c - c0);
    t.c_off = g.c_off + c0;
    t.in += c0;
    t.out += c0;
    t.w += c0 * g.kk;  // c0: a whole number of vectors
    rows<Arch, KH, KW>(t, n, oh0, oh1, epi, pro);
  });
}

}  // namespace dw
}  // namespace conv
}  // namespace sinter
