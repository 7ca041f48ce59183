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
#include <vector>

#include "../core/arch.hpp"
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

/// Input transform of one tile, V = B^T d B, on SIMD vectors of channels:
/// `d(i, j)` returns the input vector at tile row i, column j (i, j < alpha);
/// `v(i, j, x)` receives V[i][j]. Lavin & Gray 2015, eq. 8 (the B^T d B factor).
template <WinogradTraits Tr, class B, class Load, class Store>
[[gnu::always_inline]] inline void input_transform(Load&& d, Store&& v) {
  constexpr int a = Tr::alpha;
  B t[a][a];  // t = B^T d
  sinter::detail::static_for<a>([&](auto j) SINTER_INLINE {
    B col[a];
    sinter::detail::static_for<a>([&](auto k) SINTER_INLINE { col[k] = d(k, j); });
    sinter::detail::static_for<a>([&](auto i) SINTER_INLINE {
      t[i][j] = winograd_detail::dot_row<Tr::BT, i, a>([&](auto k) SINTER_INLINE { return col[k]; });
    });
  });
  // V = t B: V[i][j] = sum_k t[i][k] * B[k][j] = sum_k B^T[j][k] * t[i][k]
  sinter::detail::static_for<a>([&](auto i) SINTER_INLINE {
    sinter::detail::static_for<a>([&](auto j) SINTER_INLINE {
      v(i, j, winograd_detail::dot_row<Tr::BT, j, a>([&](auto k) SINTER_INLINE { return t[i][k]; }));
    });
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
};

/// Geometry of one Winograd call, shared by workspace_bytes() and winograd_conv().
template <class Arch, WinogradTraits Tr>
struct WinogradPlan {
  static constexpr index_t L = static_cast<index_t>(xsimd::batch<float, Arch>::size);
  index_t oh = 0, ow = 0, tiles_h = 0, tiles_w = 0, total = 0;
  index_t ldv = 0, ldm = 0, block = 0;

  WinogradPlan(Shape4 in, index_t cout, index_t oh_, index_t ow_) noexcept : oh(oh_), ow(ow_) {
    tiles_h = (oh + Tr::m - 1) / Tr::m;
    tiles_w = (ow + Tr::m - 1) / Tr::m;
    total = in.n * tiles_h * tiles_w;
    ldv = (in.c + L - 1) / L * L;
    ldm = (cout + L - 1) / L * L;
    block = winograd_blocking<Arch>::tiles(Tr::alpha, ldv, ldm, total);
  }
  /// Workspace bytes: a zero vector row, V and M of one block.
  std::size_t workspace_bytes() const noexcept {
    constexpr std::size_t a2 = Tr::alpha * Tr::alpha;
    return sinter::detail::arena::bytes_for<float>(static_cast<std::size_t>(ldv)) +
           sinter::detail::arena::bytes_for<float>(a2 * static_cast<std::size_t>(block * ldv)) +
           sinter::detail::arena::bytes_for<float>(a2 * static_cast<std::size_t>(block * ldm));
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
///   in   NHWC [N, H, W, C_in], any pixel / row / image strides
///   out  NHWC [N, OH, OW, C_out], OH = H + pad.top + pad.bottom - 2 (likewise OW)
///   u    pack_winograd_weights<Arch, Tr>(C_out, C_in, ...)
///   epi  the epilogue chain, validated against `out` by the caller
///   pro  the prologue chain (Prologue<> for none), validated against `in`; it runs on
///        every input vector a tile reads (a pixel is read by up to (alpha/m)^2 tiles),
///        never on padding
///   ws   at least winograd_workspace_bytes() bytes
/// Sizes and operands must have been checked by the caller (Conv2D does).
template <class Arch, WinogradTraits Tr, class Epi, class Pro>
void winograd_conv(TensorView<const float> in, const TensorView<float>& out, const gemm::PackedB& u, Padding pad,
                   const Epi& epi, const Pro& pro, sinter::detail::arena ws, const char* layer) {
  using B = xsimd::batch<float, Arch>;
  using bl = gemm::blocking<Arch>;
  constexpr int m = Tr::m, a = Tr::alpha, a2 = a * a;
  constexpr int MR = bl::mr, NV = gemm_tile<Arch>::nv, NR = bl::nr;
  constexpr index_t L = static_cast<index_t>(B::size);

  const WinogradPlan<Arch, Tr> plan(in.shape, u.n, out.shape.h, out.shape.w);
  const index_t cin = in.shape.c, cout = u.n, T = plan.block, ldv = plan.ldv, ldm = plan.ldm;
  if (plan.total == 0 || cout == 0) return;

  float* zeros = ws.take<float>(static_cast<std::size_t>(ldv), layer);
  std::fill_n(zeros, ldv, 0.f);
  float* vbuf = ws.take<float>(static_cast<std::size_t>(a2 * T * ldv), layer);
  float* mbuf = ws.take<float>(static_cast<std::size_t>(a2 * T * ldm), layer);

  // K blocks of the GEMMs: C_in in pieces of at most kc (one piece for every ResNet shape).
  const index_t piece = std::min<index_t>(cin, bl::kc);
  const index_t pieces = (cin + piece - 1) / piece;
  const index_t tiles_per_image = plan.tiles_h * plan.tiles_w;

  for (index_t t0 = 0; t0 < plan.total; t0 += T) {
    const index_t tb = std::min(T, plan.total - t0);

    // 1. Input transform: V[xi][tl][0 .. C_in) for the block's tiles tl.
    for (index_t tl = 0; tl < tb; ++tl) {
      const index_t t = t0 + tl, n = t / tiles_per_image, rem = t % tiles_per_image;
      const index_t ih0 = rem / plan.tiles_w * m - pad.top, iw0 = rem % plan.tiles_w * m - pad.left;
      float* vrow = vbuf + tl * ldv;
      const auto transform = [&](auto&& src, auto&& inside) SINTER_INLINE {
        for (index_t c = 0; c < cin; c += L) {
          const int count = static_cast<int>(std::min(L, cin - c));
          input_transform<Tr, B>(
              [&](auto i, auto j) SINTER_INLINE {
                const float* p = src(i, j) + c;
                B x = count == L ? B::load_unaligned(p) : sinter::detail::load_partial<B>(p, count);
                if constexpr (Pro::size > 0) {
                  if (inside(i, j)) {
                    const RowCoord rc{n, ih0 + i, iw0 + j};
                    x = pro.apply(x, TileLoc{&rc, c}, 0, 0, count);
                  }
                }
                return x;
              },
              [&](auto i, auto j, B v) SINTER_INLINE { v.store_aligned(vrow + (i * a + j) * T * ldv + c); });
        }
      };
      if (ih0 >= 0 && iw0 >= 0 && ih0 + a <= in.shape.h && iw0 + a <= in.shape.w) {
        const float* base = in.pixel(n, ih0, iw0);
        const index_t sh = in.stride_h, sw = in.stride_w;
        transform([&](index_t i, index_t j) SINTER_INLINE { return base + i * sh + j * sw; },
                  [](index_t, index_t) { return true; });
      } else {
        const float* src[a][a];
        bool ok[a][a];
        for (int i = 0; i < a; ++i)
          for (int j = 0; j < a; ++j) {
            const index_t ih = ih0 + i, iw = iw0 + j;
            ok[i][j] = ih >= 0 && iw >= 0 && ih < in.shape.h && iw < in.shape.w;
            src[i][j] = ok[i][j] ? in.pixel(n, ih, iw) : zeros;
          }
        transform([&](index_t i, index_t j) SINTER_INLINE { return src[i][j]; },
                  [&](index_t i, index_t j) SINTER_INLINE { return ok[i][j]; });
      }
    }

    // 2. alpha^2 GEMMs: M[xi][tl][co] = sum_ci V[xi][tl][ci] * U[xi][ci][co]. Rows of the
    // last micro-tile past tb repeat row tb - 1; their M rows are scratch, never read.
    const index_t rows = (tb + MR - 1) / MR * MR;
    for (int xi = 0; xi < a2; ++xi) {
      const float* v = vbuf + xi * T * ldv;
      float* mm = mbuf + xi * T * ldm;
      for (index_t j = 0; j < u.panels; ++j) {
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
                arow[r] = v + std::min<index_t>(r0 + r, tb - 1) * ldv + off;
                crow[r] = mm + (r0 + r) * ldm + col;
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
      const index_t t = t0 + tl, n = t / tiles_per_image, rem = t % tiles_per_image;
      const index_t oh0 = rem / plan.tiles_w * m, ow0 = rem % plan.tiles_w * m;
      const int mh = static_cast<int>(std::min<index_t>(m, plan.oh - oh0));
      const int mw = static_cast<int>(std::min<index_t>(m, plan.ow - ow0));
      RowCoord coords[m * m];
      float* dst[m * m];
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j) {
          coords[i * m + j] = {n, oh0 + i, ow0 + j};
          dst[i * m + j] = i < mh && j < mw ? out.pixel(n, oh0 + i, ow0 + j) : nullptr;
        }
      const float* mrow = mbuf + tl * ldm;
      const bool full_tile = mh == m && mw == m;
      for (index_t c = 0; c < cout; c += L) {
        B y[m][m];
        output_transform<Tr, B>(
            [&](auto i, auto j) SINTER_INLINE { return B::load_aligned(mrow + (i * a + j) * T * ldm + c); }, y);
        const TileLoc loc{coords, c};
        const int count = static_cast<int>(std::min(L, cout - c));
        if (full_tile && count == L) {
          const auto st = epi.template tile_state<B, m * m, 1>(loc);
          sinter::detail::static_for<m * m>([&](auto r) SINTER_INLINE {
            epi.apply_tile(y[r / m][r % m], st, r, 0).store_unaligned(dst[r] + c);
          });
        } else {
          for (int r = 0; r < m * m; ++r) {
            if (!dst[r]) continue;
            const B x = epi.apply(y[r / m][r % m], loc, r, 0, count);
            if (count == L) {
              x.store_unaligned(dst[r] + c);
            } else {
              alignas(64) float tmp[B::size];
              x.store_aligned(tmp);
              std::memcpy(dst[r] + c, tmp, static_cast<std::size_t>(count) * sizeof(float));
            }
          }
        }
      }
    }
  }
}

/// True when winograd_conv() computes a conv2d with a kh x kw filter and `p`: 3x3,
/// stride 1, dilation 1, groups 1 (any padding).
constexpr bool winograd2x3_supports(index_t kh, index_t kw, const Conv2DParams& p) noexcept {
  return kh == 3 && kw == 3 && p.stride.h == 1 && p.stride.w == 1 && p.dilation.h == 1 && p.dilation.w == 1 &&
         p.groups == 1;
}

/// Algorithm selection for algo::Automatic: true when Winograd F(2x2, 3x3) is the
/// faster path for a conv2d layer with a kh x kw filter, `p`, C_in and C_out channels.
/// The only place the choice is made; it runs once, when the layer is built.
///
/// Rule: supported (3x3, stride 1, dilation 1, groups 1) and C_in >= 16 and C_out >= 16.
/// Provisional threshold: on ResNet-18's layers (C >= 64) Winograd measured 1.6x to 1.9x
/// faster than im2col (bench/bench_winograd.cpp); the channel threshold is still to be
/// measured.
inline bool winograd2x3_preferred(index_t kh, index_t kw, index_t cin, index_t cout, const Conv2DParams& p) noexcept {
  return winograd2x3_supports(kh, kw, p) && cin >= 16 && cout >= 16;
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
