// sinter/conv/winograd.hpp - Winograd convolution F(m x m, 3 x 3): how a tile is computed.
//
// Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (arXiv:1509.09308,
// 2015; CVPR 2016), section 4. An m x m output tile Y of a 3 x 3 (r x r) convolution of
// one channel, over the alpha x alpha input tile d that covers it (alpha = m + r - 1,
// tiles start every m pixels), is
//     Y = A^T [ (G g G^T) (.) (B^T d B) ] A                          (Lavin & Gray eq. 8)
// with (.) the element-wise product. Summed over input channels, the element-wise
// products become alpha^2 independent GEMMs, one per transform position xi = (i, j):
//     U[xi][ci][co] = (G g[co][ci] G^T)[xi]      weights, once when the layer is built
//     V[xi][t][ci]  = (B^T d[t][ci] B)[xi]       input tile t, channel ci
//     M[xi][t][co]  = sum_ci V[xi][t][ci] * U[xi][ci][co]             (eq. 12)
//     Y[t][co]      = A^T M[.][t][co] A
// F(2x2, 3x3) does alpha^2 = 16 multiplies per 2 x 2 output tile and input channel
// where direct convolution does 36: 2.25x less arithmetic in the GEMMs.
//
// The computation, per block of tiles (sized so V and M stay in the L2 cache):
//   1. input transform  V = B^T d B, vectorised across channels (NHWC: a pixel's
//      channels are contiguous), written as alpha^2 row-major [tiles x C_in] matrices;
//      positions in the zero padding (or past the input) are exact zeros, after the
//      prologue, which runs on the input pixels only;
//   2. alpha^2 GEMMs M[xi] = V[xi] * U[xi] with the core's micro-kernel: V rows are read
//      through row pointers (gemm::KBlock), U is packed as gemm::PackedB with one group
//      per transform position;
//   3. output transform Y = A^T M A per tile and vector of output channels, then the
//      layer's epilogue chain on the m^2 result vectors in registers (the tile's output
//      pixels are the rows of the register tile, see TileLoc), then the single store.
//      Output pixels of partial tiles at the right and bottom edges are never written.
//
// The tile size is a parameter: a traits struct holds m, r, alpha and the three
// matrices (F2x3 below); transforms read the matrices as compile-time coefficients, so
// zero coefficients vanish and +-1 coefficients become additions. F(4x4, 3x3) or
// F(6x6, 3x3) drop in as further traits structs (Lavin & Gray section 4.2, with the
// usual interpolation points 0, +-1, +-2, +-1/2 for larger tiles).
//
// Accuracy (F(2x2, 3x3), float32). The transforms' constants (0, +-1, +-1/2) are exact
// in binary; U = G g G^T is computed in double and rounded once; B^T d B and A^T m A
// are two levels of additions each. First-order error bound (u = 2^-24), which the
// tests check with the reference's factor 2:
//     |y - y_exact| <= (C_in + 7) * u * W,
//     W = sum_ci sum_xi |A^T_xi| |U[xi][ci][co]| (|B^T| |d| |B|)[xi]
// (C_in roundings of the GEMM's dot product, 2 of the input transform, 1 of U, 4 of the
// output transform); W is to Winograd what sum |x * w| is to a direct dot product.
// Measured against a float64 direct convolution (the "error study" test case of
// tests/test_winograd.cpp; ResNet-18's stride-1 3x3 layers, pad 1; activations uniform
// in [0, 1) as after a ReLU, He-normal weights; AVX-512 build), errors relative to
// max |y| over the output:
//     layer                Winograd max   median       im2col max   median
//     56x56x64  -> 64      4.0e-7         2.6e-8       9.8e-7       4.4e-8
//     28x28x128 -> 128     4.9e-7         4.3e-8       1.8e-6       7.7e-8
//     14x14x256 -> 256     6.4e-7         5.7e-8       2.3e-6       9.8e-8
//     7x7x512   -> 512     7.7e-7         7.6e-8       2.1e-6       1.3e-7
// Winograd's errors are 0.3x to 0.6x direct convolution's here (16 dot products of
// C_in terms accumulate less rounding than one of 9 C_in terms, and the transforms add
// only a few roundings): it loses no bits on these layers. At most 0.73% of the bound
// above is used (median error relative to each element's sum |x * w|: 7.5e-9, i.e.
// 0.13 u, against 1.3e-8 for im2col).
#pragma once

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../core/arch.hpp"
#include "../core/executor.hpp"
#include "../core/unroll.hpp"
#include "../core/workspace.hpp"
#include "../epilogue/chain.hpp"
#include "../gemm/driver.hpp"
#include "../gemm/microkernel.hpp"
#include "../gemm/pack.hpp"
#include "params.hpp"

namespace sinter::conv {

/// Winograd F(2x2, 3x3) (Lavin & Gray 2015, section 4.1): output tile m = 2, filter
/// r = 3, input tile alpha = 4, and the transform matrices
///   B^T (alpha x alpha), G (alpha x r), A^T (m x alpha).
/// Every coefficient is 0, +-1 or +-1/2: exact in binary.
struct F2x3 {
  static constexpr int m = 2, r = 3, alpha = m + r - 1;
  static constexpr const char* name = "F(2x2,3x3)";
  // clang-format off
  static constexpr float BT[alpha][alpha] = {{1,  0, -1,  0},
                                             {0,  1,  1,  0},
                                             {0, -1,  1,  0},
                                             {0,  1,  0, -1}};
  static constexpr double G[alpha][r] = {{1.0,  0.0, 0.0},
                                         {0.5,  0.5, 0.5},
                                         {0.5, -0.5, 0.5},
                                         {0.0,  0.0, 1.0}};
  static constexpr float AT[m][alpha] = {{1, 1,  1,  0},
                                         {0, 1, -1, -1}};
  // clang-format on
};

/// A Winograd traits struct: m, r, alpha = m + r - 1 and the matrices BT, G, AT.
template <class T>
concept WinogradTraits = requires {
  requires T::alpha == T::m + T::r - 1;
  T::BT[0][0];
  T::G[0][0];
  T::AT[0][0];
};

namespace winograd_detail {

/// sum_k Mat[Row][k] * x(k) for k < N, with the coefficients known at compile time:
/// zero terms vanish, +-1 terms are additions / subtractions, others multiply-add. The
/// sum starts at the first +1 term when there is one (no negation).
template <const auto& Mat, int Row, int N, class F>
[[gnu::always_inline]] inline auto dot_row(F&& x) {
  constexpr int first = [] {
    for (int k = 0; k < N; ++k)
      if (Mat[Row][k] == 1) return k;
    for (int k = 0; k < N; ++k)
      if (Mat[Row][k] != 0) return k;
    return -1;
  }();
  static_assert(first >= 0, "sinter::conv: a Winograd transform row must not be all zero");
  using T = std::remove_cvref_t<decltype(x(std::integral_constant<int, 0>{}))>;
  constexpr float c0 = Mat[Row][first];
  T acc = x(std::integral_constant<int, first>{});
  if constexpr (c0 == -1) acc = -acc;
  else if constexpr (c0 != 1) acc = T(c0) * acc;
  sinter::detail::static_for<N>([&](auto k) SINTER_INLINE {
    constexpr float c = Mat[Row][k];
    if constexpr (k != first && c != 0) {
      if constexpr (c == 1) acc = acc + x(k);
      else if constexpr (c == -1) acc = acc - x(k);
      else acc = xsimd::fma(T(c), x(k), acc);
    }
  });
  return acc;
}

}  // namespace winograd_detail

/// Input transform, first half, on one column of a tile: t[i] = sum_k B^T[i][k] d[k],
/// i.e. column j of B^T d from column j of the tile d (SIMD vectors of channels).
template <WinogradTraits Tr, class B>
[[gnu::always_inline]] inline void input_column(const B (&d)[Tr::alpha], B (&t)[Tr::alpha]) {
  sinter::detail::static_for<Tr::alpha>([&](auto i) SINTER_INLINE {
    t[i] = winograd_detail::dot_row<Tr::BT, i, Tr::alpha>([&](auto k) SINTER_INLINE { return d[k]; });
  });
}

/// Input transform, second half, on one row of B^T d: row i of V = (B^T d) B, i.e.
/// V[i][j] = sum_k B^T[j][k] * t[k] with t[k] = (B^T d)[i][k]; `v(j, x)` receives V[i][j].
template <WinogradTraits Tr, class B, class Row, class Store>
[[gnu::always_inline]] inline void input_row(Row&& t, Store&& v) {
  sinter::detail::static_for<Tr::alpha>([&](auto j) SINTER_INLINE {
    v(j, winograd_detail::dot_row<Tr::BT, j, Tr::alpha>([&](auto k) SINTER_INLINE { return t(k); }));
  });
}

/// Input transform of one tile, V = B^T d B, on SIMD vectors of channels:
/// `d(i, j)` returns the input vector at tile row i, column j (i, j < alpha);
/// `v(i, j, x)` receives V[i][j]. Lavin & Gray 2015, eq. 8 (the B^T d B factor).
/// winograd_conv() runs the two halves itself, to share columns between tiles.
template <WinogradTraits Tr, class B, class Load, class Store>
[[gnu::always_inline]] inline void input_transform(Load&& d, Store&& v) {
  constexpr int a = Tr::alpha;
  B t[a][a];  // t[j] = column j of B^T d
  sinter::detail::static_for<a>([&](auto j) SINTER_INLINE {
    B col[a];
    sinter::detail::static_for<a>([&](auto k) SINTER_INLINE { col[k] = d(k, j); });
    input_column<Tr>(col, t[j]);
  });
  sinter::detail::static_for<a>([&](auto i) SINTER_INLINE {
    input_row<Tr, B>([&](auto k) SINTER_INLINE { return t[k][i]; }, [&](auto j, B x) SINTER_INLINE { v(i, j, x); });
  });
}

/// Output transform of one tile, Y = A^T M A, on SIMD vectors of channels: `mv(i, j)`
/// returns M[i][j] (i, j < alpha); y[i][j] (i, j < m) receives the output tile.
/// Lavin & Gray 2015, eq. 8 (the outer A^T [.] A).
template <WinogradTraits Tr, class B, class Load>
[[gnu::always_inline]] inline void output_transform(Load&& mv, B (&y)[Tr::m][Tr::m]) {
  constexpr int a = Tr::alpha, m = Tr::m;
  B s[m][a];  // s = A^T M
  sinter::detail::static_for<a>([&](auto j) SINTER_INLINE {
    B col[a];
    sinter::detail::static_for<a>([&](auto k) SINTER_INLINE { col[k] = mv(k, j); });
    sinter::detail::static_for<m>([&](auto i) SINTER_INLINE {
      s[i][j] = winograd_detail::dot_row<Tr::AT, i, a>([&](auto k) SINTER_INLINE { return col[k]; });
    });
  });
  // Y = s A: Y[i][j] = sum_k A^T[j][k] * s[i][k]
  sinter::detail::static_for<m>([&](auto i) SINTER_INLINE {
    sinter::detail::static_for<m>([&](auto j) SINTER_INLINE {
      y[i][j] = winograd_detail::dot_row<Tr::AT, j, a>([&](auto k) SINTER_INLINE { return s[i][k]; });
    });
  });
}

/// Weight transform of one (output channel, input channel) filter slice,
/// U = G g G^T, in double (Lavin & Gray 2015, eq. 8): g [r x r] -> u [alpha x alpha].
template <WinogradTraits Tr>
inline void weight_transform(const double (&g)[Tr::r][Tr::r], double (&u)[Tr::alpha][Tr::alpha]) noexcept {
  constexpr int a = Tr::alpha, r = Tr::r;
  double t[a][r];  // t = G g
  for (int i = 0; i < a; ++i)
    for (int j = 0; j < r; ++j) {
      double s = 0.0;
      for (int k = 0; k < r; ++k) s += Tr::G[i][k] * g[k][j];
      t[i][j] = s;
    }
  for (int i = 0; i < a; ++i)  // u = t G^T
    for (int j = 0; j < a; ++j) {
      double s = 0.0;
      for (int k = 0; k < r; ++k) s += t[i][k] * Tr::G[j][k];
      u[i][j] = s;
    }
}

/// The transformed weights of a conv2d for `Tr` in the micro-kernel's B layout:
/// gemm::PackedB with groups = alpha^2 (one per transform position xi = i * alpha + j),
/// k = C_in, n = C_out, element (xi, ci, co) = U[xi][ci][co] = (G g[co][ci] G^T)[xi],
/// computed in double and rounded to float once. `at(co, y, x, ci)` reads the r x r
/// filter (e.g. FilterView::at). Throws sinter::error when the sizes overflow.
template <class Arch, WinogradTraits Tr, class At>
gemm::PackedB pack_winograd_weights(index_t cout, index_t cin, At&& at) {
  constexpr int a = Tr::alpha, r = Tr::r;
  const index_t count = sinter::detail::checked_mul(sinter::detail::checked_mul(cout, cin, "winograd"), a * a, "winograd");
  std::vector<float> u(static_cast<std::size_t>(count));  // [co][ci][xi]
  for (index_t co = 0; co < cout; ++co)
    for (index_t ci = 0; ci < cin; ++ci) {
      double g[r][r], t[a][a];
      for (int y = 0; y < r; ++y)
        for (int x = 0; x < r; ++x) g[y][x] = static_cast<double>(at(co, y, x, ci));
      weight_transform<Tr>(g, t);
      float* dst = u.data() + (co * cin + ci) * a * a;
      for (int i = 0; i < a; ++i)
        for (int j = 0; j < a; ++j) dst[i * a + j] = static_cast<float>(t[i][j]);
    }
  return gemm::pack_b<Arch>(a * a, cin, cout, [&](index_t xi, index_t ci, index_t co) {
    return u[static_cast<std::size_t>((co * cin + ci) * a * a + xi)];
  });
}

/// Cache blocking of the Winograd convolution for `Arch`: the number of tiles
/// transformed, multiplied and transformed back as one block. A block's V and M
/// (alpha^2 x tiles x (C_in + C_out) floats, rounded up to whole vectors) should stay
/// in L2 (`l2_bytes`, a budget of half a typical 1 MiB L2) between the three steps;
/// never fewer than `min_tiles` (the GEMMs' M dimension: with fewer rows the B panels
/// are re-read from L2 too often) nor more than `max_tiles`. Always a multiple of MR.
template <class Arch>
struct winograd_blocking {
  static constexpr index_t mr = gemm_tile<Arch>::mr;
  static constexpr index_t l2_bytes = 512 * 1024;
  static constexpr index_t min_tiles = 8 * mr;
  static constexpr index_t max_tiles = 16 * mr;

  /// Tiles per block for row lengths ldv (C_in) and ldm (C_out), in floats, and
  /// `total` tiles in the call.
  static constexpr index_t tiles(int alpha, index_t ldv, index_t ldm, index_t total) noexcept {
    const index_t per_tile = static_cast<index_t>(alpha) * alpha * (ldv + ldm) * 4;
    index_t t = l2_bytes / std::max<index_t>(per_tile, 1) / mr * mr;
    t = std::clamp(t, min_tiles, max_tiles);
    const index_t need = (std::max<index_t>(total, 1) + mr - 1) / mr * mr;
    return std::min(t, need);
  }

  /// The block of `total` tiles to use instead of `t` (from tiles()): the multiple of mr
  /// in [t / 2, t] whose blocks, dealt out evenly to 2 and to 4 workers, leave the
  /// busiest one the fewest tiles (28x28 has 196 tiles: blocks of 48 put 144 on one of 2
  /// workers, blocks of 36 only 108). It depends on the shape alone, not on the
  /// executor: where a block boundary falls can change the rounding of a tile's input
  /// transform (the columns carried between neighbouring tiles, and the compiler's FMA
  /// contraction there), so results stay bitwise identical for any number of workers.
  static constexpr index_t balanced(index_t t, index_t total) noexcept {
    if (total <= t) return t;
    const auto cost = [&](index_t b) {  // busiest worker's tiles on 2, then on 4 workers
      const index_t blocks = (total + b - 1) / b;
      return 2 * ((blocks + 1) / 2 * b) + 4 * ((blocks + 3) / 4 * b);
    };
    index_t best = t;
    for (index_t b = t - mr; b >= std::max(mr, t / 2); b -= mr)
      if (cost(b) < cost(best)) best = b;
    return best;
  }
};

/// Geometry of one Winograd call, shared by workspace_bytes() and winograd_conv().
template <class Arch, WinogradTraits Tr>
struct WinogradPlan {
  static constexpr index_t L = static_cast<index_t>(xsimd::batch<float, Arch>::size);
  index_t oh = 0, ow = 0, tiles_h = 0, tiles_w = 0, total = 0;
  index_t ldv = 0, ldm = 0, block = 0;
  // V[xi][tl][c] is at vbuf + xi * vx + tl * vt + c (M likewise with mx, mt): tile-major,
  // the alpha^2 rows of a tile are one contiguous run, which the transforms write and
  // read sequentially; the GEMMs read and write them through row pointers.
  index_t vx = 0, vt = 0, mx = 0, mt = 0;

  WinogradPlan(Shape4 in, index_t cout, index_t oh_, index_t ow_) noexcept : oh(oh_), ow(ow_) {
    tiles_h = (oh + Tr::m - 1) / Tr::m;
    tiles_w = (ow + Tr::m - 1) / Tr::m;
    total = in.n * tiles_h * tiles_w;
    ldv = (in.c + L - 1) / L * L;
    ldm = (cout + L - 1) / L * L;
    block = winograd_blocking<Arch>::balanced(winograd_blocking<Arch>::tiles(Tr::alpha, ldv, ldm, total), total);
    vx = ldv;
    vt = Tr::alpha * Tr::alpha * ldv;
    mx = ldm;
    mt = Tr::alpha * Tr::alpha * ldm;
  }
  /// Workspace bytes: V and M of one block.
  std::size_t workspace_bytes() const noexcept {
    return sinter::detail::arena::bytes_for<float>(static_cast<std::size_t>(block * vt)) +
           sinter::detail::arena::bytes_for<float>(static_cast<std::size_t>(block * mt));
  }
};

/// Workspace bytes winograd_conv() needs for an input of shape `in` (C_in = in.c) and
/// an output of oh x ow pixels and `cout` channels.
template <class Arch, WinogradTraits Tr>
std::size_t winograd_workspace_bytes(Shape4 in, index_t cout, index_t oh, index_t ow) noexcept {
  return WinogradPlan<Arch, Tr>(in, cout, oh, ow).workspace_bytes();
}

/// out = epi(conv2d(pro(in), g)) by Winograd F(m x m, 3 x 3) for a 3 x 3 filter with
/// stride 1, dilation 1, groups 1 and any padding `pad`.
///   in    NHWC [N, H, W, C_in], any pixel / row / image strides
///   out   NHWC [N, OH, OW, C_out], OH = H + pad.top + pad.bottom - 2 (likewise OW)
///   u     pack_winograd_weights<Arch, Tr>(C_out, C_in, ...)
///   epi   the epilogue chain, validated against `out` by the caller
///   pro   the prologue chain (Prologue<> for none), validated against `in`; it runs on
///         every input vector a tile reads (a pixel is read by up to (alpha/m)^2 tiles),
///         never on padding
///   ws    at least exec.threads() * winograd_workspace_bytes() bytes: worker w uses
///         bytes [w * W, (w + 1) * W), W = winograd_workspace_bytes()
///   exec  runs blocks of tiles (x chunks of output channels on small images) as tasks
///         (see Executor); each output element is
///         computed by one task in the same order of operations whatever the split, so
///         results are bitwise identical for any executor
/// Throws sinter::error ("workspace too small") before writing anything when `ws` is
/// too small. Sizes and operands must have been checked by the caller (Conv2D does).
template <class Arch, WinogradTraits Tr, class Epi, class Pro, Executor Exec = serial_executor>
void winograd_conv(TensorView<const float> in, const TensorView<float>& out, const gemm::PackedB& u, Padding pad,
                   const Epi& epi, const Pro& pro, workspace ws, const Exec& exec, const char* layer) {
  using B = xsimd::batch<float, Arch>;
  using bl = gemm::blocking<Arch>;
  constexpr int m = Tr::m, a = Tr::alpha, a2 = a * a;
  constexpr int MR = bl::mr, NV = gemm_tile<Arch>::nv, NR = bl::nr;
  constexpr index_t L = static_cast<index_t>(B::size);

  const WinogradPlan<Arch, Tr> plan(in.shape, u.n, out.shape.h, out.shape.w);
  const int workers = std::max(1, exec.threads());
  const index_t cin = in.shape.c, cout = u.n, T = plan.block;
  const index_t vx = plan.vx, vt = plan.vt, mx = plan.mx, mt = plan.mt;
  const std::size_t per_worker = plan.workspace_bytes();
  sinter::detail::check(ws.size() >= per_worker * static_cast<std::size_t>(workers), layer,
                        ": workspace too small: need at least ", per_worker * static_cast<std::size_t>(workers),
                        " bytes, got ", ws.size());
  if (plan.total == 0 || cout == 0) return;

  // K blocks of the GEMMs: C_in in pieces of at most kc (one piece for every ResNet shape).
  const index_t piece = std::min<index_t>(cin, bl::kc);
  const index_t pieces = (cin + piece - 1) / piece;
  const index_t tiles_per_image = plan.tiles_h * plan.tiles_w;

  // Input transform of a run of `len` tiles of one tile row (image n, tile row th, tile
  // columns tw0 ..) into V rows at `vrun`. Adjacent tiles share alpha - m input
  // columns: their B^T d columns are computed once and carried to the next tile.
  // Pixels outside the input are zero (after the prologue, which never sees them).
  const auto input_run = [&](index_t n, index_t th, index_t tw0, index_t len, float* vrun) {
    const index_t ih0 = th * m - pad.top, iw0 = tw0 * m - pad.left;
    const index_t sw = in.stride_w, w_in = in.shape.w, xs = vx, ts = vt;
    const float* rowp[a];
    bool rows_inside = true;
    for (int i = 0; i < a; ++i) {
      const index_t ih = ih0 + i;
      rowp[i] = ih >= 0 && ih < in.shape.h ? in.pixel(n, ih, 0) : nullptr;
      rows_inside = rows_inside && rowp[i];
    }
    // Full: a whole vector of channels (else `count`); Rows: every row inside the input.
    const auto channels = [&]<bool Full, bool Rows>(index_t c, int count) SINTER_INLINE {
      // tcol = column of B^T d at input column iw.
      const auto column = [&](index_t iw, B(&tcol)[a]) SINTER_INLINE {
        if (iw < 0 || iw >= w_in) [[unlikely]] {
          sinter::detail::static_for<a>([&](auto i) SINTER_INLINE { tcol[i] = B(0.f); });
          return;
        }
        B d[a];
        sinter::detail::static_for<a>([&](auto i) SINTER_INLINE {
          if (Rows || rowp[i]) {
            const float* p = rowp[i] + iw * sw + c;
            d[i] = Full ? B::load_unaligned(p) : sinter::detail::load_partial<B>(p, count);
            if constexpr (Pro::size > 0) {
              const RowCoord rc{n, ih0 + i, iw};
              d[i] = pro.apply(d[i], TileLoc{&rc, c}, 0, 0, count);
            }
          } else {
            d[i] = B(0.f);
          }
        });
        input_column<Tr>(d, tcol);
      };
      B tc[a][a];  // tc[j] = column j of the current tile's B^T d
      sinter::detail::static_for<a - m>([&](auto j) SINTER_INLINE { column(iw0 + j, tc[j]); });
      float* v = vrun + c;
      for (index_t k = 0; k < len; ++k, v += ts) {
        sinter::detail::static_for<m>([&](auto q) SINTER_INLINE { column(iw0 + k * m + (a - m) + q, tc[a - m + q]); });
        float* dst = v;
        sinter::detail::static_for<a>([&](auto i) SINTER_INLINE {
          input_row<Tr, B>([&](auto j) SINTER_INLINE { return tc[j][i]; },
                           [&](auto, B x) SINTER_INLINE {
                             x.store_aligned(dst);
                             dst += xs;
                           });
        });
        sinter::detail::static_for<a - m>([&](auto j) SINTER_INLINE {
          sinter::detail::static_for<a>([&](auto i) SINTER_INLINE { tc[j][i] = tc[j + m][i]; });
        });
      }
    };
    index_t c = 0;
    if (rows_inside) {
      for (; c + L <= cin; c += L) channels.template operator()<true, true>(c, static_cast<int>(L));
      if (c < cin) channels.template operator()<false, true>(c, static_cast<int>(cin - c));
    } else {
      for (; c + L <= cin; c += L) channels.template operator()<true, false>(c, static_cast<int>(L));
      if (c < cin) channels.template operator()<false, false>(c, static_cast<int>(cin - c));
    }
  };

  // Output pixels of tile t (m x m, fewer at the right and bottom edges).
  struct TileOut {
    RowCoord coords[m * m];
    float* dst[m * m];  // null for pixels past the output
    bool full = false;  // all m x m pixels inside the output
  };
  const auto tile_out = [&](index_t t) SINTER_INLINE {
    TileOut o;
    const index_t n = t / tiles_per_image, rem = t % tiles_per_image;
    const index_t oh0 = rem / plan.tiles_w * m, ow0 = rem % plan.tiles_w * m;
    const int mh = static_cast<int>(std::min<index_t>(m, plan.oh - oh0));
    const int mw = static_cast<int>(std::min<index_t>(m, plan.ow - ow0));
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) {
        o.coords[i * m + j] = {n, oh0 + i, ow0 + j};
        o.dst[i * m + j] = i < mh && j < mw ? out.pixel(n, oh0 + i, ow0 + j) : nullptr;
      }
    o.full = mh == m && mw == m;
    return o;
  };

  // One block of tiles [t0, t0 + tb) and the output channels of B panels [j0, j1):
  // input transform (all of C_in), GEMMs, output transform.
  const auto run_block = [&](index_t t0, index_t j0, index_t j1, float* vbuf, float* mbuf) {
    const index_t tb = std::min(T, plan.total - t0);

    // 1. Input transform: V[xi][tl][0 .. C_in) for the block's tiles tl, by runs of
    // tiles in one tile row.
    for (index_t tl = 0; tl < tb;) {
      const index_t t = t0 + tl, n = t / tiles_per_image, rem = t % tiles_per_image;
      const index_t tw0 = rem % plan.tiles_w, len = std::min(tb - tl, plan.tiles_w - tw0);
      input_run(n, rem / plan.tiles_w, tw0, len, vbuf + tl * vt);
      tl += len;
    }

    // 2. alpha^2 GEMMs: M[xi][tl][co] = sum_ci V[xi][tl][ci] * U[xi][ci][co]. Rows of the
    // last micro-tile past tb repeat row tb - 1; their M rows are scratch, never read.
    const index_t rows = (tb + MR - 1) / MR * MR;
    for (int xi = 0; xi < a2; ++xi) {
      const float* v = vbuf + xi * vx;
      float* mm = mbuf + xi * mx;
      for (index_t j = j0; j < j1; ++j) {
        const index_t col = j * NR;
        const int nv = static_cast<int>((std::min<index_t>(NR, cout - col) + L - 1) / L);
        gemm::detail_::dispatch_nv<NV>(nv, [&]<int V>() {
          for (index_t p = 0; p < pieces; ++p) {
            const index_t off = p * piece, len = std::min(piece, cin - off);
            const float* bpanel = u.panel(xi, j) + off * NR;
            for (index_t r0 = 0; r0 < rows; r0 += MR) {
              const float* arow[MR];
              float* crow[MR];
              for (int r = 0; r < MR; ++r) {
                arow[r] = v + std::min<index_t>(r0 + r, tb - 1) * vt + off;
                crow[r] = mm + (r0 + r) * mt + col;
              }
              const gemm::KBlock kb{arow, 1, len, bpanel};
              if (p == 0) gemm::micro_kernel<Arch, MR, V, NR, true, false>(kb, crow, Epilogue<>{}, TileLoc{});
              else gemm::micro_kernel<Arch, MR, V, NR, false, false>(kb, crow, Epilogue<>{}, TileLoc{});
            }
          }
        });
      }
    }

    // 3. Output transform, epilogue and the single store of each output vector.
    for (index_t tl = 0; tl < tb; ++tl) {
      const TileOut o = tile_out(t0 + tl);
      const float* mrow = mbuf + tl * mt;
      for (index_t c = j0 * NR, c1 = std::min(j1 * NR, cout); c < c1; c += L) {
        B y[m][m];
        output_transform<Tr, B>(
            [&](auto i, auto j) SINTER_INLINE { return B::load_aligned(mrow + (i * a + j) * mx + c); }, y);
        const TileLoc loc{o.coords, c};
        const int count = static_cast<int>(std::min(L, cout - c));
        if (o.full && count == L) {
          const auto st = epi.template tile_state<B, m * m, 1>(loc);
          sinter::detail::static_for<m * m>([&](auto r) SINTER_INLINE {
            epi.apply_tile(y[r / m][r % m], st, r, 0).store_unaligned(o.dst[r] + c);
          });
        } else {
          for (int r = 0; r < m * m; ++r) {
            if (!o.dst[r]) continue;
            const B x = epi.apply(y[r / m][r % m], loc, r, 0, count);
            if (count == L) {
              x.store_unaligned(o.dst[r] + c);
            } else {
              alignas(64) float tmp[B::size];
              x.store_aligned(tmp);
              std::memcpy(o.dst[r] + c, tmp, static_cast<std::size_t>(count) * sizeof(float));
            }
          }
        }
      }
    }
  };

  // Tasks: blocks of tiles x chunks of B panels. Small images (few blocks: 14x14 has one)
  // on several workers also split the output channels, each chunk repeating the block's
  // input transform (a few % of the GEMMs' work) so no task waits for another. Chunks
  // are whole panels, so every output element is computed the same way for any split.
  const index_t blocks = (plan.total + T - 1) / T;
  const index_t chunks =
      workers == 1 ? 1 : std::clamp<index_t>((2 * workers + blocks - 1) / blocks, 1, u.panels);
  const index_t panels_per_chunk = (u.panels + chunks - 1) / chunks;
  exec.parallel_for(blocks * chunks, [&](index_t task, int worker) {
    sinter::detail::arena scratch(ws.subspan(static_cast<std::size_t>(worker) * per_worker, per_worker));
    float* vbuf = scratch.take<float>(static_cast<std::size_t>(T * vt), layer);
    float* mbuf = scratch.take<float>(static_cast<std::size_t>(T * mt), layer);
    const index_t b = task / chunks, j0 = task % chunks * panels_per_chunk;
    const index_t j1 = std::min(u.panels, j0 + panels_per_chunk);
    if (j0 < j1) run_block(b * T, j0, j1, vbuf, mbuf);
  });
}

/// True when winograd_conv() computes a conv2d with a kh x kw filter and `p`: 3x3,
/// stride 1, dilation 1, groups 1 (any padding).
constexpr bool winograd2x3_supports(index_t kh, index_t kw, const Conv2DParams& p) noexcept {
  return kh == 3 && kw == 3 && p.stride.h == 1 && p.stride.w == 1 && p.dilation.h == 1 && p.dilation.w == 1 &&
         p.groups == 1;
}

/// Algorithm selection for algo::Automatic: true when Winograd F(2x2, 3x3) is the
/// faster path for a conv2d layer with a kh x kw filter, `p`, C_in and C_out channels.
/// The only place the choice is made; it runs once, when the layer is built (a type
/// whose Kernel<KH, KW> is not 3x3 never instantiates the Winograd code).
///
/// Rule: supported (3x3, stride 1, dilation 1, groups 1), C_in >= 16, and
/// C_in <= 64 or 8 * C_out >= C_in.
///
/// Measured with both algorithms alternating in one process (best CPU time of 15 runs,
/// single thread, pad 1, batch 1, AMD EPYC Zen 5; t(im2col) / t(Winograd) for AVX-512
/// builds, and for AVX2 builds in brackets):
///   C_in = C_out, 56x56 / 28x28 / 14x14 / 7x7:
///     512    1.96 / 1.93 / 1.69 / 1.31 (1.20)     batch 8 at 7x7: 1.50
///     256    1.94 / 1.99 / 1.86 / 1.51
///     128    1.94 / 2.05 / 1.77 / 1.55
///      64    1.91 / 1.80 / 1.82 / 1.53 (1.91 at 56x56)
///      32    1.93 / 1.96 / 1.87 / 1.52
///      16    1.77 / 1.81 / 1.68 / 1.37
///       8    1.15 / 1.14 / 1.12 / 0.96
///       4    1.05 / 1.06 / 1.04 / 0.91
///   few input channels lose: 3->64 0.66-0.68 (0.53), 3->256 0.40-0.47, 8->256 0.88-0.89;
///   8->16 and 8->64 win only 1.07-1.10 at 14x14 and larger and lose at 7x7, so C_in < 16
///   stays on im2col (12->12 and 12->64 measured 1.18-1.39: a lower bound could move down);
///   few output channels for many input channels lose, the input transform's cost
///   growing with C_in and the GEMMs' with C_in * C_out: 512->3 0.70-0.83 (0.52),
///   512->32 0.85-0.92, 256->16 1.04-1.07 (0.84); while 512->64 1.15-1.33 (1.06-1.33),
///   256->32 1.24 (1.18), 128->16 1.34-1.72 (1.38-1.46), 96->12 1.41, and with C_in <= 64
///   any C_out wins: 64->1 1.43-1.82, 64->3 1.35-1.74 (1.66), 16->1 1.53-1.97.
/// Not seen by the rule: the image size, known only per call. Outputs smaller than 3
/// pixels in a dimension make Winograd lose (1x1 and 2x2 outputs: 0.44-0.56, mostly
/// idle micro-kernel rows and U being 16/9 the size of im2col's weights); 3x3: 0.78-1.03,
/// 4x4 and larger: 1.1-1.6. Pick algo::im2col for layers that only see such images.
inline bool winograd2x3_preferred(index_t kh, index_t kw, index_t cin, index_t cout, const Conv2DParams& p) noexcept {
  return winograd2x3_supports(kh, kw, p) && cin >= 16 && (cin <= 64 || 8 * cout >= cin);
}

/// Whether a layer runs Winograd F(2x2, 3x3): always when `forced` (algo::Winograd2x3),
/// after checking that the layer is supported (sinter::error naming `layer` and the
/// offending parameter otherwise); else winograd2x3_preferred().
inline bool winograd2x3_select(bool forced, index_t kh, index_t kw, index_t cin, index_t cout, const Conv2DParams& p,
                               const char* layer) {
  if (!forced) return winograd2x3_preferred(kh, kw, cin, cout, p);
  using sinter::detail::check;
  check(kh == 3 && kw == 3, layer, ": Winograd F(2x2,3x3) needs a 3x3 filter, got ", kh, "x", kw);
  check(p.stride.h == 1 && p.stride.w == 1, layer, ": Winograd F(2x2,3x3) needs stride 1, got ", p.stride.h, "x",
        p.stride.w);
  check(p.dilation.h == 1 && p.dilation.w == 1, layer, ": Winograd F(2x2,3x3) needs dilation 1, got ", p.dilation.h,
        "x", p.dilation.w);
  check(p.groups == 1, layer, ": Winograd F(2x2,3x3) needs groups = 1, got ", p.groups);
  return true;
}

}  // namespace sinter::conv
