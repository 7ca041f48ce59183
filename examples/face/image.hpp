// examples/face/image.hpp - RGB images as float tensors and the geometric
// pre-processing face-api applies before its networks (tfjs semantics).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "weights.hpp"

namespace face {

/// An RGB image, HWC, 3 floats per pixel in [0, 255] (as tf.node.decodeImage + cast).
struct Image {
  int width = 0, height = 0;
  std::vector<float> rgb;  ///< height * width * 3, row-major

  Image() = default;
  Image(int w, int h) : width(w), height(h), rgb(static_cast<std::size_t>(w) * h * 3, 0.f) {}
  float* pixel(int x, int y) noexcept { return rgb.data() + (static_cast<std::size_t>(y) * width + x) * 3; }
  const float* pixel(int x, int y) const noexcept {
    return rgb.data() + (static_cast<std::size_t>(y) * width + x) * 3;
  }
};

/// Where pad_to_square puts the image: the square's side and the image's offset.
inline void square_placement(int w, int h, bool centered, int& side, int& off_x, int& off_y) {
  side = std::max(w, h);
  const int diff = side - std::min(w, h);
  const int prepend = centered ? diff - static_cast<int>(std::floor(diff * 0.5 + 0.5)) : 0;
  off_x = w < h ? prepend : 0;
  off_y = h < w ? prepend : 0;
}

/// face-api's padToSquare (src/ops/padToSquare.ts): pads the shorter side with zeros
/// to a square of side max(width, height). `centered` = false puts all the padding at
/// the end (bottom / right); true appends round(diff / 2) (JS Math.round, halves up)
/// and prepends the rest.
inline Image pad_to_square(const Image& img, bool centered) {
  if (img.width == img.height) return img;
  int side, ox, oy;
  square_placement(img.width, img.height, centered, side, ox, oy);
  Image out(side, side);
  for (int y = 0; y < img.height; ++y) std::copy_n(img.pixel(0, y), 3 * img.width, out.pixel(ox, y + oy));
  return out;
}

/// tf.image.resizeBilinear(canvas, [out_h, out_w], alignCorners = false,
/// halfPixelCenters = false), as tfjs's CPU kernel computes it: source coordinate
/// r * in / out, clamped neighbour at the far edge, lerp along x then along y. The
/// canvas is canvas_w x canvas_h (default: the image's size) with `img` at (off_x,
/// off_y) and zeros elsewhere, so pad_to_square + resize runs without building the
/// padded image.
inline Image resize_bilinear(const Image& img, int out_w, int out_h, int canvas_w = 0, int canvas_h = 0,
                             int off_x = 0, int off_y = 0) {
  if (canvas_w <= 0) canvas_w = img.width;
  if (canvas_h <= 0) canvas_h = img.height;
  Image out(out_w, out_h);
  static constexpr float zero[3] = {0.f, 0.f, 0.f};
  auto at = [&](int x, int y) -> const float* {
    x -= off_x;
    y -= off_y;
    return x < 0 || y < 0 || x >= img.width || y >= img.height ? zero : img.pixel(x, y);
  };
  const double sy = static_cast<double>(canvas_h) / out_h, sx = static_cast<double>(canvas_w) / out_w;
  for (int r = 0; r < out_h; ++r) {
    const double fy = sy * r;
    const int y0 = static_cast<int>(std::floor(fy)), y1 = std::min(canvas_h - 1, static_cast<int>(std::ceil(fy)));
    const double wy = fy - y0;
    for (int c = 0; c < out_w; ++c) {
      const double fx = sx * c;
      const int x0 = static_cast<int>(std::floor(fx)), x1 = std::min(canvas_w - 1, static_cast<int>(std::ceil(fx)));
      const double wx = fx - x0;
      const float *tl = at(x0, y0), *tr = at(x1, y0), *bl = at(x0, y1), *br = at(x1, y1);
      float* o = out.pixel(c, r);
      for (int k = 0; k < 3; ++k) {
        const double top = tl[k] + (tr[k] - tl[k]) * wx, bottom = bl[k] + (br[k] - bl[k]) * wx;
        o[k] = static_cast<float>(top + (bottom - top) * wy);
      }
    }
  }
  return out;
}

/// The pixels [x, x + w) x [y, y + h) of `img`. Throws face::error when the rectangle
/// is empty or leaves the image.
inline Image crop(const Image& img, int x, int y, int w, int h) {
  if (w <= 0 || h <= 0 || x < 0 || y < 0 || x + w > img.width || y + h > img.height)
    throw error("crop: rectangle (" + std::to_string(x) + ", " + std::to_string(y) + ", " + std::to_string(w) +
                " x " + std::to_string(h) + ") is not inside the " + std::to_string(img.width) + " x " +
                std::to_string(img.height) + " image");
  Image out(w, h);
  for (int r = 0; r < h; ++r) std::copy_n(img.pixel(x, y + r), 3 * w, out.pixel(0, r));
  return out;
}

/// The detector's input: face-api's toBatchTensor(512, isCenterInputs = false) for a
/// tensor input: pad_to_square at the end, resize_bilinear to size x size.
inline Image detector_input(const Image& img, int size = 512) {
  int side, ox, oy;
  square_placement(img.width, img.height, false, side, ox, oy);
  if (side == size) return pad_to_square(img, false);
  return resize_bilinear(img, size, size, side, side, ox, oy);
}

/// The recognition net's input for one face crop: toBatchTensor(150, true): centred
/// pad_to_square, then resize_bilinear to size x size.
inline Image recognizer_input(const Image& face_crop, int size = 150) {
  int side, ox, oy;
  square_placement(face_crop.width, face_crop.height, true, side, ox, oy);
  if (side == size) return pad_to_square(face_crop, true);
  return resize_bilinear(face_crop, size, size, side, side, ox, oy);
}

}  // namespace face
