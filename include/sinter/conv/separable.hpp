// sinter/conv/separable.hpp - a depthwise conv2d and the pointwise (1x1) conv2d that
// reads its output, run as one loop nest (a MobileNet depthwise-separable block,
// Howard et al., "MobileNets", 2017).
//
// Run as two layers, the depthwise output (N x OH x OW x C floats: 8 MiB for a 256x256x32
// map) is written out and read back by the pointwise GEMM, from DRAM once it outgrows
// the last-level cache. Here each task computes a band of R depthwise output rows into a
// per-worker buffer that stays in L2 (the depthwise kernel with its epilogue,
// unchanged), then runs the pointwise GEMM with that band as its A matrix (the GEMM
// driver, unchanged, its epilogue fused into the stores). The intermediate tensor never
// exists. Where the last-level cache holds it anyway (a server's L3), the gain is small:
// two-layer / fused time 0.98-1.16 over MobileNet-v1's and the face detector's blocks
// on an AMD EPYC Zen 5 core (bench_separable).
#pragma once

#include <algorithm>

#include "../core/executor.hpp"
#include "../core/workspace.hpp"
#include "../gemm/driver.hpp"
#include "depthwise.hpp"

namespace sinter::conv::separable {

/// Geometry of a depthwise-separable call: the depthwise output (= pointwise input)
/// extent oh x ow x c, the band's row stride and the band height.
template <class Arch>
struct Plan {
  static constexpr index_t L = static_cast<index_t>(xsimd::batch<float, Arch>::size);
  /// Band budget: a quarter of a typical 1 MiB L2, so the band stays in L2 next to a
  /// pointwise B panel (up to 256 KiB, see gemm::blocking) between the depthwise and the
  /// GEMM; and never fewer than 2 * mc pixels (two GEMM row blocks).
  static constexpr index_t band_bytes = 256 * 1024;
  static constexpr index_t mc = gemm::blocking<Arch>::mc;
  static constexpr index_t min_pixels = 2 * mc;
  /// Bands per image wanted, where the rows allow: 4 tasks per worker on 4 workers.
  static constexpr index_t min_bands = 16;

  index_t oh = 0, ow = 0, c = 0;
  index_t ldc = 0;   // floats between band pixels: C rounded up to whole vectors
  index_t rows = 0;  // depthwise output rows per band (R)
  index_t bands = 0;  // bands per image

  Plan(index_t oh_, index_t ow_, index_t c_) noexcept : oh(oh_), ow(ow_), c(c_) {
    ldc = (c + L - 1) / L * L;
    const index_t row_bytes = std::max<index_t>(1, ow * ldc * static_cast<index_t>(sizeof(float)));
    // Band heights from lo (2 * mc pixels) to hi (the budget), the one whose last GEMM
    // row block is the least partial: the driver streams all of B through L2 once per
    // block of mc rows, so a band of 128 pixels (2.67 blocks) streams B 3 times for 2.67
    // blocks of work. Measured on 32x32x512 -> 512 (bench_separable, two-layer / fused
    // time): bands of 2, 3, 4, 6, 8 rows (64 .. 256 pixels) 0.96, 1.01, 0.97, 1.00,
    // 1.00. The band depends on the shape alone, never on the executor: the GEMM's edge
    // tiles then fall on the same rows for any thread count.
    const index_t h = std::max<index_t>(oh, 1), w = std::max<index_t>(ow, 1);
    const index_t lo = std::clamp<index_t>((min_pixels + w - 1) / w, 1, h);
    // At most h / min_bands rows where that leaves lo rows or more: 112x112x32 fits 18
    // rows in the budget, 7 bands, which 4 workers share 2/2/2/1; now 19 bands of 6 rows
    // (bench_threads BM_split_separable, speed-up ceiling on 4 / 16 workers: 3.10 / 6.1
    // -> 3.74 / 9.3; 56x56x128: 3.60 / 8.2 -> 3.73 / 11.5, one worker 1.5% slower).
    const index_t fit = band_bytes / row_bytes;
    const index_t hi = std::clamp<index_t>(h / min_bands >= lo ? std::min(fit, h / min_bands) : fit, lo, h);
    const auto waste = [&](index_t r) {  // share of the last block's rows that are not there
      const index_t m = r * w, blocks = (m + mc - 1) / mc;
      return static_cast<double>(blocks * mc - m) / static_cast<double>(blocks * mc);
    };
    rows = hi;
    for (index_t r = hi - 1; r >= lo; --r)
      if (waste(r) < waste(rows) - 1e-9) rows = r;
    bands = (oh + rows - 1) / rows;
  }
  index_t band_floats() const noexcept { return rows * ow * ldc; }
  /// Workspace bytes of one worker: its band and the pointwise GEMM's scratch.
  std::size_t worker_bytes() const noexcept {
    return sinter::detail::arena::bytes_for<float>(static_cast<std::size_t>(band_floats())) +
           gemm::workspace_bytes<Arch>(1, 0);
  }
};

/// A band of depthwise output rows [h0, h0 + rows) of image n, pixel (h, w) at
/// band + ((h - h0) * ow + w) * ldc, as the pointwise GEMM's A (gemm::IndirectA): one
/// segment of C floats per row. coord() gives the pixel's coordinate in the whole
/// output, so the driver stores to, and the epilogue's tensor operands read at, the
/// right pixel.
struct BandA {
  const float* band = nullptr;
  index_t ldc = 0, c = 0, n = 0, h0 = 0, band_rows = 0, ow = 0;

  index_t rows() const noexcept { return band_rows * ow; }
  index_t segments() const noexcept { return 1; }
  index_t seg_len() const noexcept { return c; }
  RowCoord coord(index_t m) const noexcept { return {n, h0 + m / ow, m % ow}; }
  RowCoord next(RowCoord rc) const noexcept {
    if (++rc.w == ow) {
      rc.w = 0;
      ++rc.h;
    }
    return rc;
  }
  const float* pixel(const RowCoord& rc) const noexcept { return band + ((rc.h - h0) * ow + rc.w) * ldc; }
  void fill(const RowCoord& rc, const float** ptrs, index_t /*stride*/) const noexcept { ptrs[0] = pixel(rc); }
  /// One segment per row: row i's pointer is table[i].
  template <int MR>
  void fill_block(const RowCoord* coords, index_t tiles, const float** table) const noexcept {
    for (index_t i = 0; i < tiles * MR; ++i) table[i] = pixel(coords[i]);
  }
};

/// Workspace bytes of a call on `workers` workers: one band tag per worker (which band
/// its buffer holds), then each worker's Plan::worker_bytes().
template <class Arch>
std::size_t workspace_bytes(const Plan<Arch>& plan, int workers) noexcept {
  const auto w = static_cast<std::size_t>(std::max(workers, 1));
  return sinter::detail::arena::bytes_for<index_t>(w) + w * plan.worker_bytes();
}

/// out = pw_epi(pointwise(dw_epi(depthwise(dw_pro(in))))) for the depthwise call `g`
/// (make_call() of the layer's input; its output fields are ignored), the pointwise
/// weights `pb` (C x C_out, one group) and `out` [N, OH, OW, C_out], run by `exec` in
/// `ws` (workspace_bytes(plan, exec.threads()) bytes). Neither chain of the depthwise
/// part may have tensor operands (the band's rows are numbered from 0).
///
/// Tasks: images x bands of plan.rows depthwise output rows x chunks of the pointwise
/// B panels. One worker runs everything as one chunk; more split the panels too when
/// images x bands are fewer than 4 tasks per worker (MobileNet's 7x7x1024 block is one
/// band: 16 panels, 8 chunks on 2 workers). A worker whose buffer already holds the
/// task's band (the previous chunk of it) does not compute it again; tasks are numbered
/// band first, chunk next, so an executor that gives each worker a contiguous share
/// (thread_pool) computes each band about once. Every output element is computed by
/// the same operations in the same order for any split, so results are bitwise
/// identical for any thread count, and bitwise those of the depthwise layer followed
/// by the pointwise layer.
template <class Arch, int KH, int KW, class DwEpi, class DwPro, class PwEpi, class Exec>
void run(const dw::Call& g, const Plan<Arch>& plan, const gemm::PackedB& pb, const TensorView<float>& out,
         const DwEpi& dw_epi, const DwPro& dw_pro, const PwEpi& pw_epi, workspace ws, const Exec& exec,
         const char* layer) {
  const int workers = std::max(1, static_cast<int>(exec.threads()));
  const std::size_t need = workspace_bytes(plan, workers), per_worker = plan.worker_bytes();
  sinter::detail::check(ws.size() >= need, layer, ": workspace too small: need at least ", need, " bytes, got ",
                        ws.size());
  sinter::detail::arena head(ws);
  index_t* const held = head.take<index_t>(static_cast<std::size_t>(workers), layer);  // band in each buffer
  std::fill_n(held, workers, index_t{-1});
  const workspace slices = ws.subspan(sinter::detail::arena::bytes_for<index_t>(static_cast<std::size_t>(workers)));

  const index_t band_tasks = g.n * plan.bands;
  const index_t per_chunk = gemm::panels_per_range(workers, band_tasks, pb.panels);
  const index_t chunks = (pb.panels + per_chunk - 1) / per_chunk;

  exec.parallel_for(band_tasks * chunks, [&](index_t task, int worker) {
    const workspace mine = slices.subspan(static_cast<std::size_t>(worker) * per_worker, per_worker);
    sinter::detail::arena scratch(mine);
    float* band = scratch.take<float>(static_cast<std::size_t>(plan.band_floats()), layer);
    const workspace gemm_ws =
        mine.subspan(sinter::detail::arena::bytes_for<float>(static_cast<std::size_t>(plan.band_floats())));

    const index_t bt = task / chunks, chunk = task % chunks;
    const index_t n = bt / plan.bands, h0 = bt % plan.bands * plan.rows;
    const index_t rows = std::min(plan.rows, plan.oh - h0);
    if (held[worker] != bt) {
      // The depthwise call of rows [h0, h0 + rows) into the band: the same call with
      // its rows renumbered from h0 (the top padding moved by h0 * stride, so input
      // rows are the same) and its output in the band.
      dw::Call t = g;
      t.out = band;
      t.out_sn = 0;
      t.out_sh = plan.ow * plan.ldc;
      t.out_sw = plan.ldc;
      t.oh = rows;
      t.pt = g.pt - h0 * g.sh;
      dw::rows<Arch, KH, KW>(t, n, 0, rows, dw_epi, dw_pro);
      held[worker] = bt;
    }
    const BandA a{band, plan.ldc, plan.c, n, h0, rows, plan.ow};
    const index_t j0 = chunk * per_chunk, j1 = std::min(pb.panels, j0 + per_chunk);
    gemm::gemm<Arch>(a, pb, 0, 0, out, pw_epi, gemm_ws, serial_executor{}, layer, j0, j1);
  });
}

}  // namespace sinter::conv::separable
