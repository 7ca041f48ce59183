// sinter/conv/im2col.hpp - implicit im2col: the convolution's A matrix read in place.
//
// im2col (Chellapilla et al., "High Performance Convolutional Neural Networks for
// Document Processing", 2006) views conv2d as a GEMM with A[M x K], M = N*OH*OW output
// pixels and K = KH*KW*Cin/groups. With NHWC input, each filter tap's Cin/groups
// channels are contiguous in memory, so row m of A is KH*KW contiguous segments; the
// GEMM reads them through pointers (indirect GEMM, Dukhan 2019) and never builds A.
// Taps that fall in the zero padding point at a zero row instead.
#pragma once

#include "../gemm/driver.hpp"
#include "params.hpp"

namespace sinter::conv {

/// A of one group of a conv2d, as gemm::IndirectA.
struct Im2colA {
  TensorView<const float> in;
  const float* zeros = nullptr;  // >= cin_g zero floats, for padded taps
  index_t cin_g = 0, c0 = 0;     // channels per group, first channel of this group
  index_t kh = 0, kw = 0, oh = 0, ow = 0;
  Conv2DParams p;

  index_t rows() const noexcept { return in.shape.n * oh * ow; }
  index_t segments() const noexcept { return kh * kw; }
  index_t seg_len() const noexcept { return cin_g; }
  RowCoord coord(index_t m) const noexcept {
    const index_t x = m % ow, yz = m / ow;
    return {yz / oh, yz % oh, x};
  }
  void fill(const RowCoord& rc, const float** ptrs, index_t stride) const noexcept {
    const index_t ih0 = rc.h * p.stride.h - p.pad.top, iw0 = rc.w * p.stride.w - p.pad.left;
    for (index_t y = 0; y < kh; ++y) {
      const index_t ih = ih0 + y * p.dilation.h;
      for (index_t x = 0; x < kw; ++x, ptrs += stride) {
        const index_t iw = iw0 + x * p.dilation.w;
        const bool inside = ih >= 0 && ih < in.shape.h && iw >= 0 && iw < in.shape.w;
        *ptrs = inside ? in.pixel(rc.n, ih, iw) + c0 : zeros;
      }
    }
  }
};

}  // namespace sinter::conv
