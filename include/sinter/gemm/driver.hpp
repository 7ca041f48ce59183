// sinter/gemm/driver.hpp - cache-blocked GEMM over an indirect A and a packed B, with
// the epilogue chain fused into the last K block's stores.
//
// Loop nest (Goto & van de Geijn 2008, BLIS five loops; B is packed once per layer):
//   for each block of MC output rows               A rows of the block stay in L2
//     for each K block (KC of K)                   B[KC x NR] panel stays in L1
//       for each NR-column panel of B
//         for each MR-row tile of the block
//           micro-kernel: C tile (+)= A tile * B panel; on the last K block the
//           epilogue chain runs on the accumulators before the single store.
// Partial sums of earlier K blocks are stored in the output and reloaded; a full tile
// runs the chain in registers; edge tiles (fewer than MR rows, or a partial vector of
// columns) run through a stack tile so nothing outside the output is touched.
#pragma once

#include <algorithm>
#include <cstring>

#include "../core/executor.hpp"
#include "../core/workspace.hpp"
#include "microkernel.hpp"
#include "pack.hpp"

namespace sinter::gemm {

/// Cache blocking of the driver for `Arch`: mc output rows per block (a multiple of
/// MR) and kc, the K elements per block. kc is sized so a KC x NR panel of B takes about
/// 256 KiB, half of a typical L2: measured on the 3x3 56x56x64 conv and GEMM 1024^3
/// (AVX-512, bench_core), panels that stay in L1 (KC = 96..256) lose 3-20% to the
/// partial-sum traffic of the extra K blocks, and a B panel streamed from L2 keeps the
/// micro-kernel at its L1 speed. A specialisation of this trait retunes a target.
template <class Arch>
struct blocking {
  static constexpr int mr = gemm_tile<Arch>::mr;
  static constexpr int nr = gemm_tile<Arch>::nv * static_cast<int>(xsimd::batch<float, Arch>::size);
  static constexpr index_t mc = 8 * mr;
  static constexpr index_t kc = std::clamp<index_t>(256 * 1024 / (nr * 4), 256, 4096);
};

/// The A side of a GEMM, read in place: `rows()` rows, each made of `segments()`
/// contiguous runs of `seg_len()` floats. fill(coord, ptrs, stride) writes the start of
/// each segment of the row at output coordinate `coord` to ptrs[s * stride]. A source
/// may have next(coord(m)) == coord(m + 1), computed without coord()'s divisions, and
/// fill_block<MR>(coords, tiles, table): fill() of rows coords[0 .. tiles * MR) into the
/// driver's table, row i's segment s at table[(i / MR) * segments() * MR + s * MR + i % MR].
/// A source that transforms or copies its input first (a prologue) also has
/// scratch_floats() (per-worker scratch it needs), bind(float*) (a copy of itself using
/// that scratch; null when it needs none) and prepare(m0, mc) (run on the bound copy
/// before rows [m0, m0 + mc) are filled).
template <class T>
concept IndirectA = requires(const T& a, const RowCoord& rc, const float** p) {
  { a.rows() } -> std::convertible_to<index_t>;
  { a.segments() } -> std::convertible_to<index_t>;
  { a.seg_len() } -> std::convertible_to<index_t>;
  { a.coord(index_t{0}) } -> std::same_as<RowCoord>;
  a.fill(rc, p, index_t{1});
};

namespace detail_ {
template <class A>
index_t scratch_floats(const A& a) {
  if constexpr (requires { a.scratch_floats(); }) return a.scratch_floats();
  else return 0;
}
/// coord(m) of the row after `rc` = coord(m - 1): stepped by the source's next() where
/// it has one (a conv's coord() divides by the output's width and height, an integer
/// division per row that cost as much as the 3x3x3 stem's FMAs).
template <class A>
RowCoord next_coord(const A& a, const RowCoord& rc, index_t m) {
  if constexpr (requires { { a.next(rc) } -> std::same_as<RowCoord>; }) return a.next(rc);
  else return a.coord(m);
}
}  // namespace detail_

/// Workspace bytes one worker of the driver needs for an A with `nseg` segments per
/// row and `scratch` floats of A-side scratch.
template <class Arch>
constexpr std::size_t workspace_bytes(index_t nseg, index_t scratch = 0) noexcept {
  using bl = blocking<Arch>;
  return sinter::detail::arena::bytes_for<const float*>(static_cast<std::size_t>(bl::mc * nseg)) +
         sinter::detail::arena::bytes_for<RowCoord>(bl::mc) + sinter::detail::arena::bytes_for<float*>(bl::mc) +
         (scratch > 0 ? sinter::detail::arena::bytes_for<float>(static_cast<std::size_t>(scratch)) : 0);
}

namespace detail_ {

/// Calls f.template operator()<V>() with V = nv, a value in 1 .. NV known only at run
/// time: the one per-call choice of an edge-panel variant.
template <int NV, class F>
inline void dispatch_nv(int nv, F&& f) {
  if constexpr (NV >= 1) {
    if (nv == NV) return f.template operator()<NV>();
    if constexpr (NV > 1) dispatch_nv<NV - 1>(nv, std::forward<F>(f));
  }
}

}  // namespace detail_

/// A tile's products, stored as partial sums without a chain (a K block before the
/// last, or an edge tile into its stack tile): one out-of-line copy per tile shape,
/// shared by every chain.
template <class Arch, int MR, int V, int NR>
[[gnu::noinline]] void partial_products(const KBlock& kb, float* const* c, bool first) {
  if (first) micro_kernel<Arch, MR, V, NR, true, false>(kb, c, Epilogue<>{}, TileLoc{});
  else micro_kernel<Arch, MR, V, NR, false, false>(kb, c, Epilogue<>{}, TileLoc{});
}

/// An edge tile (fewer than MR rows, or a partial vector of columns), computed in a
/// stack tile so nothing outside the output is touched. Out of line: it is rare, and
/// its call stays off the full tiles' path.
template <class Arch, int MR, int V, int NR, class Epi>
[[gnu::noinline]] void run_edge_tile(const KBlock& kb, int mr, int ncols, bool first, bool last,
                                     float* const* base, index_t col, const Epi& epi, const TileLoc& loc) {
  constexpr int L = static_cast<int>(xsimd::batch<float, Arch>::size);
  alignas(64) float tile[MR * V * L] = {};
  float* c[MR];
  float* out[MR];
  for (int r = 0; r < MR; ++r) {
    c[r] = tile + r * V * L;
    out[r] = base[r] + col;
  }
  if (!first)
    for (int r = 0; r < mr; ++r) std::memcpy(c[r], out[r], static_cast<std::size_t>(ncols) * sizeof(float));
  partial_products<Arch, MR, V, NR>(kb, c, first);
  if (last) {
    epi.template store_edge<xsimd::batch<float, Arch>>(tile, V * L, mr, ncols, loc, out);
  } else {
    for (int r = 0; r < mr; ++r) std::memcpy(out[r], c[r], static_cast<std::size_t>(ncols) * sizeof(float));
  }
}

/// One tile: the register path (full tile; the First/Last variant of the micro-kernel)
/// or run_edge_tile.
template <class Arch, int MR, int V, int NR, class Epi>
[[gnu::always_inline]] inline void run_tile(const KBlock& kb, int mr, int ncols, bool first, bool last,
                                            float* const* base, index_t col, const Epi& epi, const TileLoc& loc) {
  constexpr int L = static_cast<int>(xsimd::batch<float, Arch>::size);
  if (mr == MR && ncols == V * L) [[likely]] {
    float* c[MR];
    for (int r = 0; r < MR; ++r) c[r] = base[r] + col;
    if (last) {
      if (first) micro_kernel<Arch, MR, V, NR, true, true>(kb, c, epi, loc);
      else micro_kernel<Arch, MR, V, NR, false, true>(kb, c, epi, loc);
    } else {
      partial_products<Arch, MR, V, NR>(kb, c, first);
    }
    return;
  }
  run_edge_tile<Arch, MR, V, NR>(kb, mr, ncols, first, last, base, col, epi, loc);
}

/// B panels per task range when `row_tasks` tasks of output rows would leave `workers`
/// workers short of 4 tasks each: the panels are cut into ranges until rows x ranges
/// reach that, never below one panel per range; one range on one worker.
inline index_t panels_per_range(int workers, index_t row_tasks, index_t panels) noexcept {
  const index_t rows = std::max<index_t>(row_tasks, 1);
  const index_t ranges = workers <= 1 ? 1 : std::clamp<index_t>((4 * workers + rows - 1) / rows, 1, panels);
  return (panels + ranges - 1) / ranges;
}

/// C[:, col_base .. col_base + pb.n) = chain(A * B) for group g of `pb`, where row m of
/// C is output pixel a.coord(m) of `out` and column n is channel col_base + n; only
/// the columns of B panels [panel_begin, panel_end) when given (default: all).
/// Work is split into tasks of (a span of consecutive MC-row blocks) x (a range of NR
/// panels), run by `exec`; worker w uses bytes [w * W, (w + 1) * W) of `ws`,
/// W = workspace_bytes(...). A column's values do not depend on the panels computed
/// with it. `epi` must have been validated against `out`.
template <class Arch, IndirectA ASrc, class Epi, class Exec>
void gemm(const ASrc& a, const PackedB& pb, index_t g, index_t col_base, const TensorView<float>& out, const Epi& epi,
          workspace ws, const Exec& exec, const char* layer, index_t panel_begin = 0, index_t panel_end = -1) {
  using bl = blocking<Arch>;
  using Bt = xsimd::batch<float, Arch>;
  constexpr int MR = bl::mr, NV = gemm_tile<Arch>::nv, L = static_cast<int>(Bt::size), NR = bl::nr;

  const index_t M = a.rows(), N = pb.n, nseg = a.segments(), seg_len = a.seg_len();
  if (panel_end < 0) panel_end = pb.panels;
  const index_t panels = panel_end - panel_begin;
  if (M == 0 || N == 0 || panels <= 0) return;
  const index_t scratch = detail_::scratch_floats(a);
  const std::size_t worker_bytes = workspace_bytes<Arch>(nseg, scratch);
  const int workers = exec.threads();
  sinter::detail::check(ws.size() >= worker_bytes * static_cast<std::size_t>(workers), layer,
                        ": workspace too small: need at least ", worker_bytes * static_cast<std::size_t>(workers),
                        " bytes, got ", ws.size());

  // K blocks: whole segments while a segment fits in kc, else kc-sized pieces of one.
  const index_t seg_per_block = seg_len >= bl::kc ? 1 : std::max<index_t>(1, bl::kc / std::max<index_t>(seg_len, 1));
  const index_t piece = seg_len >= bl::kc ? bl::kc : seg_len;
  const index_t pieces_per_seg = seg_len == 0 ? 1 : (seg_len + piece - 1) / piece;

  // Tasks: spans of consecutive row blocks, and panel ranges when there are too few row
  // blocks to keep every worker busy. A span (about 1/8 of a worker's share) lets a
  // worker stream through its part of A, and keeps a prologue's or merged taps' window
  // sliding instead of being refilled for every block: with blocks dealt one at a time,
  // 2 workers ran a short-K pointwise layer no faster than 1. Tasks are numbered panel
  // range first, then span: an executor that gives each worker a contiguous share of
  // the tasks (thread_pool) then gives each the same rows of every layer, and, when the
  // panels are split, every row block of its panels (with row blocks first, a 7x7
  // output's lone 49th row was one worker's whole share: 1t/2t 1.71-1.74 -> 1.54-1.58
  // on 14x14x256->512 stride 2, bench_threads). The split never changes an output's
  // order of operations.
  const index_t mblocks = (M + bl::mc - 1) / bl::mc;
  const index_t panels_per_chunk = panels_per_range(workers, mblocks, panels);
  const index_t nchunks = (panels + panels_per_chunk - 1) / panels_per_chunk;
  const index_t span = std::max<index_t>(1, mblocks / (8 * static_cast<index_t>(workers)));
  const index_t spans = (mblocks + span - 1) / span;

  exec.parallel_for(spans * nchunks, [&](index_t task, int worker) {
    sinter::detail::arena ar(ws.subspan(static_cast<std::size_t>(worker) * worker_bytes, worker_bytes));
    const float** table = ar.take<const float*>(static_cast<std::size_t>(bl::mc * nseg), layer);
    RowCoord* coords = ar.take<RowCoord>(bl::mc, layer);
    float** out_base = ar.take<float*>(bl::mc, layer);
    float* const source_scratch = scratch > 0 ? ar.take<float>(static_cast<std::size_t>(scratch), layer) : nullptr;

    const index_t j0 = panel_begin + (task / spans) * panels_per_chunk;
    const index_t j1 = std::min(panel_end, j0 + panels_per_chunk);
    if (j0 >= j1) return;
    const index_t b1 = std::min(mblocks, (task % spans + 1) * span);
    for (index_t b = task % spans * span; b < b1; ++b) {
      const index_t m0 = b * bl::mc;
      const index_t mc = std::min<index_t>(bl::mc, M - m0);
      const index_t tiles = (mc + MR - 1) / MR;

      const auto run = [&](const auto& src) {
        if constexpr (requires { src.prepare(m0, mc); }) src.prepare(m0, mc);
        RowCoord rc = src.coord(m0);
        for (index_t i = 0; i < tiles * MR; ++i) {
          // Rows past M repeat the block's last row: computed, never stored.
          if (i > 0 && i < mc) rc = detail_::next_coord(src, rc, m0 + i);
          coords[i] = rc;
          out_base[i] = out.pixel(rc.n, rc.h, rc.w);
        }
        if constexpr (requires { src.template fill_block<MR>(coords, tiles, table); }) {
          src.template fill_block<MR>(coords, tiles, table);
        } else {
          for (index_t i = 0; i < tiles * MR; ++i) src.fill(coords[i], table + (i / MR) * nseg * MR + i % MR, MR);
        }
      };
      if constexpr (requires { a.bind(static_cast<float*>(nullptr)); })
        run(a.bind(source_scratch));
      else
        run(a);

      for (index_t s0 = 0; s0 < nseg; s0 += seg_per_block) {
        const index_t s1 = std::min(nseg, s0 + seg_per_block);
        for (index_t p = 0; p < pieces_per_seg; ++p) {
          const index_t off = p * piece, len = std::min(piece, seg_len - off);
          const bool first = s0 == 0 && p == 0;
          const bool last = s1 == nseg && p == pieces_per_seg - 1;

          for (index_t j = j0; j < j1; ++j) {
            const index_t col = j * NR;
            const int ncols = static_cast<int>(std::min<index_t>(NR, N - col));
            const int nv = (ncols + L - 1) / L;
            const float* bpanel = pb.panel(g, j) + (s0 * seg_len + off) * NR;
            detail_::dispatch_nv<NV>(nv, [&]<int V>() {
              for (index_t t = 0; t < tiles; ++t) {
                const int mr = static_cast<int>(std::min<index_t>(MR, mc - t * MR));
                const float* const* tab = table + (t * nseg + s0) * MR;
                const float* arow[MR];  // this piece's start in each row when a segment is split
                KBlock kb{tab, s1 - s0, len, bpanel};
                if (pieces_per_seg > 1) {
                  for (int r = 0; r < MR; ++r) arow[r] = tab[r] + off;
                  kb.a = arow;
                }
                const TileLoc loc{coords + t * MR, col_base + col};
                run_tile<Arch, MR, V, NR>(kb, mr, ncols, first, last, out_base + t * MR, col_base + col, epi, loc);
              }
            });
          }
        }
      }
    }
  });
}

}  // namespace sinter::gemm
