// sinter/conv/im2col.hpp - implicit im2col: the convolution's A matrix read in place.
//
// im2col (Chellapilla et al., "High Performance Convolutional Neural Networks for
// Document Processing", 2006) views conv2d as a GEMM with A[M x K], M = N*OH*OW output
// pixels and K = KH*KW*Cin/groups. With NHWC input, each filter tap's Cin/groups
// channels are contiguous in memory, so row m of A is KH*KW contiguous segments; the
// GEMM reads them through pointers (indirect GEMM, Dukhan 2019) and never builds A.
// Taps that fall in the zero padding point at a zero row instead. A 1x1 stride-1
// convolution (pointwise) thus reads the input as A in place, with no copy; stride 2
// reads every other pixel the same way.
//
// Few channels per group (the RGB stem, C_in = 3): a segment of cin_g floats would run
// the micro-kernel's K loop only cin_g steps per pointer, and fill KH*KW pointers per
// row for 2*KH*KW*cin_g FLOPs per output channel. With dilation.w == 1 the KW taps of a
// filter row are adjacent pixels, i.e. KW*cin_g contiguous floats of an input row, and
// the packed weights' K order (ky, kx, c) has them contiguous too: such rows are read as
// KH segments of KW*cin_g floats (merged taps). The taps then read a band of input rows
// (transformed by the prologue, or copied when there is none) with pad.left and
// pad.right zero pixels on each side, so no segment straddles the padding. Each output
// still accumulates its K terms in the same order, so the results are bitwise those of
// the per-tap segments.
#pragma once

#include <algorithm>
#include <cstring>
#include <utility>

#include "../gemm/driver.hpp"
#include "params.hpp"
#include "prologue.hpp"

namespace sinter::conv {

/// Which input rows a worker's prologue band holds: rows [h0, h1) of the image the GEMM
/// call reads, row h at band row h - h0, so a row the same worker's previous block
/// transformed is not transformed again. One per worker, reset (valid = false) before
/// each GEMM call.
struct BandRows {
  index_t h0 = 0, h1 = 0;
  bool valid = false;
};

/// A of one group of a conv2d over images [n_begin, n_begin + n_count), as
/// gemm::IndirectA. Without a prologue (Pro = Prologue<>) or merged taps, taps point
/// into `in`.
///
/// With merged taps (`merged`, set to merges_taps(kw, cin_g, p); n_count must be 1)
/// each row has one segment per filter row, pointing into a worker's window of input
/// rows as below, every band row padded with pad.left and pad.right zero pixels; rows
/// in the top/bottom padding read the zero row (>= kw * cin_g floats then).
///
/// With a prologue (n_count must be 1), a copy bound to a worker's scratch (bind) holds
/// the transformed input a block of mc output rows reads, and taps point there (padded
/// taps still read the zero row: padding stays zero after the prologue):
///   1x1 filters  the block's own input pixels, mc x cin_g floats: each input pixel
///                is transformed once per call (blocks do not overlap);
///   otherwise    a window of up to 2R (merged taps: 4R) consecutive input rows (R =
///                band_rows(), the rows one block reads): prepare() transforms only the rows the
///                worker's window does not hold yet (BandRows) and slides the window
///                (moving the rows still needed to its start) when it is full. Each
///                input row is thus transformed once per call and worker when its
///                blocks run in order (the serial executor; nearly so for others),
///                instead of once per block (a 3x3 stride-2 layer with 256-pixel output
///                rows and 48-row blocks: ~8x fewer). Rows stay contiguous, so a tap's
///                address is one multiply-add as without a prologue (a ring of R rows
///                would need a wrap per tap row).
template <class Arch, class Pro = Prologue<>>
struct Im2colA {
  TensorView<const float> in;
  const float* zeros = nullptr;  // zero_floats() zero floats, for padded taps
  index_t cin_g = 0, c0 = 0;     // channels per group, first channel of this group
  index_t kh = 0, kw = 0, oh = 0, ow = 0;
  Conv2DParams p;
  index_t n_begin = 0, n_count = 0;
  // With a prologue: the chain bound for this call and group; the workers' BandRows
  // (one each) and where the workers' slices of the GEMM's workspace start (gemm::gemm
  // gives worker w bytes [w * worker_bytes, (w + 1) * worker_bytes) of it).
  PrologueRuns<Arch, Pro> pro{};
  BandRows* bands = nullptr;
  int workers = 0;
  const std::byte* ws = nullptr;
  std::size_t worker_bytes = 0;
  bool merged = false;  // merged taps: merges_taps(kw, cin_g, p)
  // Set by bind() and prepare():
  float* band = nullptr;        // scratch_floats() floats
  index_t window = 0;           // rows the window holds at most (0: 1x1 filter, pixel band)
  index_t row_floats = 0;       // band_stride(in.shape.w, cin_g): floats between band rows
  BandRows* held = nullptr;     // this worker's BandRows (null: refill every block)
  mutable index_t band_m0 = 0;  // pixel band: first A row of the block
  mutable index_t band_h0 = 0;  // window: input row at the band's start

  static constexpr bool has_prologue = Pro::size > 0;
  /// Channels per group up to which the taps of a filter row are merged. Measured on
  /// AVX-512 (3x3 im2col, one core), speed-up over per-tap segments: C_in 3 (stems)
  /// 1.4-1.6x, 8 1.2-1.5x, 16 1.2-1.4x, 32 1.07-1.2x, 64 and more 1.00-1.04x; kept at
  /// 16 since merged layers run one image per GEMM call and hold a window of input rows
  /// per worker (which grows with C_in).
  static constexpr index_t max_merged_channels = 16;

  /// Whether rows are read as KH segments of KW * cin_g floats (see the file comment):
  /// a filter row has more than one tap, they are adjacent (dilation.w == 1), and there
  /// are at most max_merged_channels channels per group.
  static bool merges_taps(index_t kw, index_t cin_g, const Conv2DParams& p) noexcept {
    return kw > 1 && p.dilation.w == 1 && cin_g <= max_merged_channels;
  }
  /// Segments per row of A.
  static index_t segments(index_t kh, index_t kw, index_t cin_g, const Conv2DParams& p) noexcept {
    return merges_taps(kw, cin_g, p) ? kh : kh * kw;
  }
  /// Floats of the zero row padded taps read.
  static index_t zero_floats(index_t kw, index_t cin_g, const Conv2DParams& p) noexcept {
    return merges_taps(kw, cin_g, p) ? kw * cin_g : cin_g;
  }

  /// Input rows one block of `mc` output rows reads at most.
  static index_t band_rows(index_t mc, index_t ow, index_t h, index_t kh, const Conv2DParams& p) noexcept {
    const index_t out_rows = (mc + ow - 1) / ow + 1;
    return std::min(h, (out_rows - 1) * p.stride.h + (kh - 1) * p.dilation.h + 1);
  }
  /// Rows of the window: 2R, so it slides at most once per R new rows (never more rows
  /// than the image has); 4R with merged taps, whose rows are short (<= 16 channels), so
  /// a slide moves the R rows still needed once per 3R new rows instead of once per R
  /// (the moves cost ~8% of the 3x3 RGB stem at 2R).
  static index_t window_rows(index_t mc, index_t ow, index_t h, index_t kh, const Conv2DParams& p,
                             bool merge = false) noexcept {
    return std::min(h, (merge ? 4 : 2) * band_rows(mc, ow, h, kh, p));
  }
  /// Pixels of a band row for an input `w` pixels wide: with merged taps, framed by
  /// pad.left and pad.right zero pixels.
  static index_t band_width(index_t w, const Conv2DParams& p, bool merge) noexcept {
    return merge ? w + p.pad.left + p.pad.right : w;
  }
  /// Floats between band rows: a row's w * cin_g floats rounded up to whole vectors, so
  /// every row starts aligned (the prologue's stores are aligned).
  static index_t band_stride(index_t w, index_t cin_g) noexcept {
    constexpr index_t L = xsimd::batch<float, Arch>::size;
    return (w * cin_g + L - 1) / L * L;
  }
  /// Scratch floats per worker for an input of shape `in`, a kh x kw filter and output
  /// width `ow` (0 without a prologue and merged taps).
  static index_t scratch_floats(Shape4 in, index_t ow, index_t kh, index_t kw, index_t cin_g,
                                const Conv2DParams& p) noexcept {
    const bool merge = merges_taps(kw, cin_g, p);
    if (!has_prologue && !merge) return 0;
    constexpr index_t mc = gemm::blocking<Arch>::mc;
    if (kh == 1 && kw == 1) return mc * cin_g;
    return window_rows(mc, ow, in.h, kh, p, merge) * band_stride(band_width(in.w, p, merge), cin_g);
  }

  /// Whether taps read a worker's band (a prologue or merged taps) rather than `in`.
  bool uses_band() const noexcept { return has_prologue || merged; }
  index_t rows() const noexcept { return n_count * oh * ow; }
  index_t scratch_floats() const noexcept { return scratch_floats(in.shape, ow, kh, kw, cin_g, p); }
  /// This source reading its band from `scratch` (scratch_floats() floats; unused, may
  /// be null, when uses_band() is false).
  Im2colA bind(float* scratch) const noexcept {
    Im2colA b = *this;
    if (!uses_band()) return b;
    b.band = scratch;
    if (kh == 1 && kw == 1) return b;
    b.window = window_rows(gemm::blocking<Arch>::mc, ow, in.shape.h, kh, p, merged);
    b.row_floats = band_stride(band_width(in.shape.w, p, merged), cin_g);
    // The worker owning `scratch`; without one the window is refilled for every block.
    const auto at = reinterpret_cast<const std::byte*>(scratch);
    if (bands != nullptr && worker_bytes > 0 && at >= ws) {
      const auto w = static_cast<std::size_t>(at - ws) / worker_bytes;
      if (w < static_cast<std::size_t>(workers)) b.held = bands + w;
    }
    return b;
  }
  index_t segments() const noexcept { return merged ? kh : kh * kw; }
  index_t seg_len() const noexcept { return merged ? kw * cin_g : cin_g; }
  RowCoord coord(index_t m) const noexcept {
    const index_t x = m % ow, yz = m / ow;
    return {n_begin + yz / oh, yz % oh, x};
  }
  /// coord(m + 1) from rc = coord(m).
  RowCoord next(RowCoord rc) const noexcept {
    if (++rc.w == ow) {
      rc.w = 0;
      if (++rc.h == oh) {
        rc.h = 0;
        ++rc.n;
      }
    }
    return rc;
  }

  void prepare(index_t m0, index_t mc) const noexcept {
    if (!uses_band()) return;
    if constexpr (has_prologue) {
      if (window == 0) {
        band_m0 = m0;
        for_pixel_runs(m0, mc, [&](index_t slot, const float* src, index_t n, RowCoord first) {
          pro.row(src, p.stride.w * in.stride_w, band + slot * cin_g, n, first, p.stride.w);
        });
        return;
      }
    }
    prepare_rows(m0, mc);
  }

  /// fill() of `tiles` tiles of MR rows (row i at coords[i]) into the GEMM driver's
  /// table: row i's segment s at table[(i / MR) * segments() * MR + s * MR + i % MR].
  /// Merged taps in one loop whose invariants stay in registers: per row, a filter row
  /// is one multiply-add from the row's first tap.
  template <int MR>
  void fill_block(const RowCoord* coords, index_t tiles, const float** table) const noexcept {
    if (kh == 1 && kw == 1) {
      if constexpr (has_prologue) return fill_pointwise_band(coords, tiles * MR, table);
      else return fill_pointwise(coords, tiles * MR, table);
    }
    if (!merged) {
      for (index_t i = 0; i < tiles * MR; ++i) fill(coords[i], table + (i / MR) * kh * kw * MR + i % MR, MR);
      return;
    }
    // The stems' filter heights with a constant trip count (a 3-step loop of run-time
    // length costs more than its stores).
    if (kh == 3) return fill_merged<MR, 3>(coords, tiles, table);
    if (kh == 7) return fill_merged<MR, 7>(coords, tiles, table);
    fill_merged<MR, 0>(coords, tiles, table);
  }

  void fill(const RowCoord& rc, const float** ptrs, index_t stride) const noexcept {
    const index_t ih0 = rc.h * p.stride.h - p.pad.top, iw0 = rc.w * p.stride.w - p.pad.left;
    if (merged) {  // one segment per filter row, inside the band's padded row
      merged_row(ih0, (iw0 + p.pad.left) * cin_g - band_h0 * row_floats, kh, ptrs, stride);
      return;
    }
    if constexpr (has_prologue) {
      if (window == 0) return fill_pointwise_band(&rc, 1, ptrs);  // 1x1: the pixel's slot, or the zero row
      const float* const b = band;
      const index_t h0 = band_h0, rs = row_floats;
      fill_taps(ih0, iw0, cin_g, ptrs, stride, [=](index_t ih) { return b + (ih - h0) * rs; });
    } else {
      const float* const base = in.pixel(rc.n, 0, 0) + c0;
      const index_t sh = in.stride_h;
      fill_taps(ih0, iw0, in.stride_w, ptrs, stride, [=](index_t ih) { return base + ih * sh; });
    }
  }

 private:
  // fill_block() of a 1x1 filter (one segment per row, so table[i] is row i's): the
  // pixel's row, or the zero row where padding puts it outside. Short-K pointwise
  // layers (K = 32: 128 FMAs per row) spent a third of their time in the general
  // fill_taps() per row. Without a prologue the row is the pixel in `in`; with one, its
  // slot in the block's band (prepare() wrote A row m at slot m - band_m0; as fill()
  // per row, 1.5-2% of the fused 56x56x128->128 layer, AVX-512).
  void fill_pointwise(const RowCoord* coords, index_t rows, const float** table) const noexcept {
    const float* const base = in.data + c0;
    const index_t sn = in.stride_n, sy = in.stride_h, sx = in.stride_w;
    pointwise_rows(coords, rows, table, [=](const RowCoord& rc, index_t ih, index_t iw) {
      return base + (rc.n * sn + ih * sy + iw * sx);
    });
  }
  void fill_pointwise_band(const RowCoord* coords, index_t rows, const float** table) const noexcept {
    const float* const b = band;
    const index_t oh_ = oh, ow_ = ow, c = cin_g, first = n_begin * oh * ow + band_m0;
    pointwise_rows(coords, rows, table, [=](const RowCoord& rc, index_t, index_t) {
      return b + ((rc.n * oh_ + rc.h) * ow_ + rc.w - first) * c;
    });
  }
  // table[i] = at(coords[i], ih, iw) for the input pixel (ih, iw) of a 1x1 filter, or
  // the zero row outside the image. Fields are copied to locals: the table's stores
  // could otherwise alias them, and they would be reloaded per row.
  template <class At>
  [[gnu::always_inline]] void pointwise_rows(const RowCoord* coords, index_t rows, const float** table,
                                             At at) const noexcept {
    const float* const zero = zeros;
    const index_t H = in.shape.h, W = in.shape.w, sh = p.stride.h, sw = p.stride.w, top = p.pad.top,
                  left = p.pad.left;
    for (index_t i = 0; i < rows; ++i) {
      const RowCoord& rc = coords[i];
      const index_t ih = rc.h * sh - top, iw = rc.w * sw - left;
      const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
      table[i] = inside ? at(rc, ih, iw) : zero;
    }
  }

  // Merged taps of one output row whose first filter row is input row ih0: filter row y
  // at band offset `off` + (ih0 + y * dilation) * row_floats, or the zero row outside the
  // image; written to ptrs[y * stride] for the n filter rows.
  void merged_row(index_t ih0, index_t off, index_t n, const float** ptrs, index_t stride) const noexcept {
    const index_t H = in.shape.h, dh = p.dilation.h, rs = row_floats;
    for (index_t y = 0; y < n; ++y) {
      const index_t ih = ih0 + y * dh;
      ptrs[y * stride] = ih < 0 || ih >= H ? zeros : band + (off + ih * rs);
    }
  }

  // fill_block() with merged taps; KH: the filter height when known here, else 0.
  template <int MR, int KH>
  void fill_merged(const RowCoord* coords, index_t tiles, const float** table) const noexcept {
    const float* const b = band;
    const index_t H = in.shape.h, sh = p.stride.h, top = p.pad.top, dh = p.dilation.h, rs = row_floats;
    const index_t n = KH > 0 ? KH : kh, step = p.stride.w * cin_g, base = -band_h0 * rs, span = (n - 1) * dh;
    for (index_t t = 0; t < tiles; ++t, table += n * MR, coords += MR) {
      for (int r = 0; r < MR; ++r) {
        const index_t ih0 = coords[r].h * sh - top;
        const index_t off = coords[r].w * step + base;  // (iw0 + pad.left) * cin_g - band_h0 * rs
        const float** const ptrs = table + r;
        if (ih0 >= 0 && ih0 + span < H) {  // every filter row inside the image (most rows)
          const float* const a = b + (off + ih0 * rs);
          for (index_t y = 0; y < n; ++y) ptrs[y * MR] = a + y * dh * rs;
        } else {
          merged_row(ih0, off, n, ptrs, MR);
        }
      }
    }
  }

  // The KH x KW tap pointers of the output pixel whose top-left tap is input (ih0, iw0):
  // row(ih) + iw * pixel inside the image, the zero row outside. Columns inside are
  // found once per pixel, so the tap loops have no bounds checks.
  template <class Row>
  [[gnu::always_inline]] void fill_taps(index_t ih0, index_t iw0, index_t pixel, const float** ptrs, index_t stride,
                                        Row&& row) const noexcept {
    const index_t H = in.shape.h, W = in.shape.w, dh = p.dilation.h, dw = p.dilation.w, n = kw;
    const float* const zero = zeros;
    index_t xa = 0, xb = n;  // taps [xa, xb) of a row read columns inside the image
    while (xa < n && iw0 + xa * dw < 0) ++xa;
    while (xb > xa && iw0 + (xb - 1) * dw >= W) --xb;
    for (index_t y = 0; y < kh; ++y, ptrs += n * stride) {
      const index_t ih = ih0 + y * dh;
      if (ih < 0 || ih >= H) {
        for (index_t x = 0; x < n; ++x) ptrs[x * stride] = zero;
        continue;
      }
      const float* const r = row(ih);
      for (index_t x = 0; x < xa; ++x) ptrs[x * stride] = zero;
      for (index_t x = xa; x < xb; ++x) ptrs[x * stride] = r + (iw0 + x * dw) * pixel;
      for (index_t x = xb; x < n; ++x) ptrs[x * stride] = zero;
    }
  }

  // Input rows [h0, h1) that A rows [m0, m0 + mc) read (h0 >= h1: none, all padding).
  std::pair<index_t, index_t> input_rows(index_t m0, index_t mc) const noexcept {
    const index_t y0 = (m0 / ow) % oh, y1 = ((m0 + mc - 1) / ow) % oh;
    return {std::max<index_t>(0, y0 * p.stride.h - p.pad.top),
            std::min<index_t>(in.shape.h, y1 * p.stride.h - p.pad.top + (kh - 1) * p.dilation.h + 1)};
  }

  void prepare_rows(index_t m0, index_t mc) const noexcept {
    const auto [h0, h1] = input_rows(m0, mc);
    if (h0 >= h1) return;
    BandRows fresh;
    BandRows& w = held != nullptr ? *held : fresh;
    index_t from = h0;
    if (w.valid && h0 >= w.h0 && h0 <= w.h1) {
      // Rows [h0, w.h1) are in the window. Slide it when the rows to add do not fit:
      // the rows still needed move to its start (h1 - h0 <= R, w.h1 - h0 <= 2R).
      from = w.h1;
      if (std::max(w.h1, h1) - w.h0 > window) {
        std::memmove(band, band + (h0 - w.h0) * row_floats,
                     static_cast<std::size_t>((w.h1 - h0) * row_floats) * sizeof(float));
        w.h0 = h0;
      }
    } else {
      w.h0 = h0;
    }
    // Merged taps: each row between pad.left and pad.right zero pixels (moved with it).
    const index_t lead = merged ? p.pad.left * cin_g : 0, trail = merged ? p.pad.right * cin_g : 0;
    const index_t W = in.shape.w;
    for (index_t h = from; h < h1; ++h) {
      float* const r = band + (h - w.h0) * row_floats;
      const float* const src = in.pixel(n_begin, h, 0) + c0;
      std::fill_n(r, lead, 0.f);
      if constexpr (has_prologue) {
        pro.row(src, in.stride_w, r + lead, W, RowCoord{n_begin, h, 0});
      } else if (in.stride_w == cin_g) {
        std::memcpy(r + lead, src, static_cast<std::size_t>(W * cin_g) * sizeof(float));
      } else {  // strided pixels (a group's channels, a view): <= 16 floats each
        for (index_t x = 0; x < W; ++x)
          for (index_t c = 0; c < cin_g; ++c) r[lead + x * cin_g + c] = src[x * in.stride_w + c];
      }
      std::fill_n(r + lead + W * cin_g, trail, 0.f);
    }
    w.h1 = std::max(from, h1);
    w.valid = true;
    band_h0 = w.h0;
  }

  // 1x1 filter: calls f(slot, src, n, first) for each run of A rows [m0, m0 + mc) of one
  // output row whose input pixels lie inside the image: n pixels, the first at input
  // coordinate `first` and address src (the next ones p.stride.w pixels apart), for A
  // rows m0 + slot ... m0 + slot + n - 1.
  template <class F>
  void for_pixel_runs(index_t m0, index_t mc, F&& f) const noexcept {
    const index_t sw = p.stride.w, left = p.pad.left;
    const index_t x_lo = (left + sw - 1) / sw;                      // first x with iw >= 0
    const index_t x_hi = std::min(ow, (in.shape.w - 1 + left) / sw + 1);  // past the last inside
    for (index_t m = m0; m < m0 + mc;) {
      const RowCoord rc = coord(m);
      const index_t end = std::min(m0 + mc - m, ow - rc.w) + rc.w;  // run of this output row
      const index_t ih = rc.h * p.stride.h - p.pad.top;
      if (ih >= 0 && ih < in.shape.h) {
        const index_t xa = std::max(rc.w, x_lo), xb = std::min(end, x_hi);
        if (xa < xb) {
          const index_t iw = xa * sw - left;
          f(m - m0 + (xa - rc.w), in.pixel(rc.n, ih, iw) + c0, xb - xa, RowCoord{rc.n, ih, iw});
        }
      }
      m += end - rc.w;
    }
  }
};

}  // namespace sinter::conv
