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
#pragma once

#include <algorithm>

#include "../gemm/driver.hpp"
#include "params.hpp"
#include "prologue.hpp"

namespace sinter::conv {

/// A of one group of a conv2d over images [n_begin, n_begin + n_count), as
/// gemm::IndirectA. Without a prologue (Pro = Prologue<>) taps point into `in`; with one,
/// a copy bound to per-worker scratch (bind) writes the prologue of the input rows a
/// block of output rows needs into that band (prepare; a single image per call: n_count
/// must be 1) and taps point there.
template <class Arch, class Pro = Prologue<>>
struct Im2colA {
  TensorView<const float> in;
  const float* zeros = nullptr;  // >= cin_g zero floats, for padded taps
  index_t cin_g = 0, c0 = 0;     // channels per group, first channel of this group
  index_t kh = 0, kw = 0, oh = 0, ow = 0;
  Conv2DParams p;
  index_t n_begin = 0, n_count = 0;
  const Pro* pro = nullptr;
  float* band = nullptr;  // scratch_floats() floats, set by bind()
  mutable index_t band_h0 = 0;

  static constexpr bool has_prologue = Pro::size > 0;

  /// Input rows the band must hold for a block of `mc` output rows.
  static index_t band_rows(index_t mc, index_t ow, index_t h, index_t kh, const Conv2DParams& p) noexcept {
    const index_t out_rows = (mc + ow - 1) / ow + 1;
    return std::min(h, (out_rows - 1) * p.stride.h + (kh - 1) * p.dilation.h + 1);
  }

  index_t rows() const noexcept { return n_count * oh * ow; }
  index_t scratch_floats() const noexcept {
    return has_prologue ? band_rows(gemm::blocking<Arch>::mc, ow, in.shape.h, kh, p) * in.shape.w * cin_g : 0;
  }
  Im2colA bind(float* scratch) const noexcept
    requires has_prologue
  {
    Im2colA b = *this;
    b.band = scratch;
    return b;
  }
  index_t segments() const noexcept { return kh * kw; }
  index_t seg_len() const noexcept { return cin_g; }
  RowCoord coord(index_t m) const noexcept {
    const index_t x = m % ow, yz = m / ow;
    return {n_begin + yz / oh, yz % oh, x};
  }

  void prepare(index_t m0, index_t mc) const noexcept {
    if constexpr (has_prologue) {
      const index_t y0 = (m0 / ow) % oh, y1 = ((m0 + mc - 1) / ow) % oh;
      const index_t h0 = std::max<index_t>(0, y0 * p.stride.h - p.pad.top);
      const index_t h1 = std::min<index_t>(in.shape.h, y1 * p.stride.h - p.pad.top + (kh - 1) * p.dilation.h + 1);
      band_h0 = h0;
      for (index_t h = h0; h < h1; ++h)
        prologue_row<Arch>(*pro, in.pixel(n_begin, h, 0) + c0, in.stride_w, band + (h - h0) * in.shape.w * cin_g,
                           cin_g, in.shape.w, RowCoord{n_begin, h, 0}, c0, cin_g);
    }
  }

  void fill(const RowCoord& rc, const float** ptrs, index_t stride) const noexcept {
    const index_t ih0 = rc.h * p.stride.h - p.pad.top, iw0 = rc.w * p.stride.w - p.pad.left;
    for (index_t y = 0; y < kh; ++y) {
      const index_t ih = ih0 + y * p.dilation.h;
      for (index_t x = 0; x < kw; ++x, ptrs += stride) {
        const index_t iw = iw0 + x * p.dilation.w;
        const bool inside = ih >= 0 && ih < in.shape.h && iw >= 0 && iw < in.shape.w;
        if constexpr (has_prologue)
          *ptrs = inside ? band + ((ih - band_h0) * in.shape.w + iw) * cin_g : zeros;
        else
          *ptrs = inside ? in.pixel(rc.n, ih, iw) + c0 : zeros;
      }
    }
  }
};

}  // namespace sinter::conv
