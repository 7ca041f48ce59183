// examples/face/image_io.hpp - reading photos (JPEG, PNG, BMP, ... through
// stb_image) and writing them with boxes drawn (PNG through stb_image_write).
// One translation unit of the program defines STB_IMAGE_IMPLEMENTATION and
// STB_IMAGE_WRITE_IMPLEMENTATION before including this header.
#pragma once

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "image.hpp"
#include "postprocess.hpp"

namespace face {

/// Smallest and largest photo side accepted by load_image().
inline constexpr int kMinImageSide = 16, kMaxImageSide = 16384;

/// Decodes the photo at `path` to RGB floats in [0, 255] (grey-scale and grey+alpha
/// photos are expanded to RGB, alpha is dropped). Throws face::error naming the file
/// when it is missing, not a decodable image (stb_image's reason), or smaller than
/// kMinImageSide / larger than kMaxImageSide on a side.
inline Image load_image(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw error(path.string() + ": no such file");
  int w = 0, h = 0, comp = 0;
  if (!stbi_info(path.string().c_str(), &w, &h, &comp))
    throw error(path.string() + ": not a readable image (" + stbi_failure_reason() + ")");
  if (w < kMinImageSide || h < kMinImageSide || w > kMaxImageSide || h > kMaxImageSide)
    throw error(path.string() + ": image is " + std::to_string(w) + "x" + std::to_string(h) +
                ", expected each side between " + std::to_string(kMinImageSide) + " and " +
                std::to_string(kMaxImageSide) + " pixels");
  std::unique_ptr<unsigned char, void (*)(void*)> px(stbi_load(path.string().c_str(), &w, &h, &comp, 3),
                                                     stbi_image_free);
  if (!px) throw error(path.string() + ": cannot decode image (" + stbi_failure_reason() + ")");
  Image img(w, h);
  const std::size_t n = static_cast<std::size_t>(w) * h * 3;
  for (std::size_t i = 0; i < n; ++i) img.rgb[i] = px.get()[i];
  return img;
}

/// Writes `img` (values clamped to [0, 255]) as a PNG with each box of `faces` drawn
/// as a rectangle `thickness` pixels wide in `color` (RGB, default green), and each box
/// of `more` (when given) in `more_color` (default yellow). Throws face::error when the
/// file cannot be written.
inline void write_png_with_boxes(const std::filesystem::path& path, const Image& img,
                                 const std::vector<Detection>& faces, int thickness = 3,
                                 const uint8_t* color = nullptr, const std::vector<Detection>* more = nullptr,
                                 const uint8_t* more_color = nullptr) {
  static constexpr uint8_t kGreen[3] = {0, 230, 64}, kYellow[3] = {255, 210, 0};
  std::vector<uint8_t> out(img.rgb.size());
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>(std::clamp(std::lround(img.rgb[i]), 0L, 255L));
  auto draw = [&](const std::vector<Detection>& boxes, const uint8_t* col) {
    auto put = [&](int x, int y) {
      if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
      std::copy_n(col, 3, &out[(static_cast<std::size_t>(y) * img.width + x) * 3]);
    };
    for (const auto& f : boxes) {
      const int x0 = static_cast<int>(std::lround(f.box.x)), y0 = static_cast<int>(std::lround(f.box.y));
      const int x1 = static_cast<int>(std::lround(f.box.x + f.box.w));
      const int y1 = static_cast<int>(std::lround(f.box.y + f.box.h));
      for (int t = 0; t < thickness; ++t) {
        for (int x = x0 - t; x <= x1 + t; ++x) {
          put(x, y0 - t);
          put(x, y1 + t);
        }
        for (int y = y0 - t; y <= y1 + t; ++y) {
          put(x0 - t, y);
          put(x1 + t, y);
        }
      }
    }
  };
  draw(faces, color ? color : kGreen);
  if (more) draw(*more, more_color ? more_color : kYellow);
  if (!stbi_write_png(path.string().c_str(), img.width, img.height, 3, out.data(), img.width * 3))
    throw error(path.string() + ": cannot write PNG");
}

/// Writes `img` (values rounded and clamped to [0, 255]) as a binary PPM (P6). Throws
/// face::error when the file cannot be written.
inline void write_ppm(const std::filesystem::path& path, const Image& img) {
  std::FILE* f = std::fopen(path.string().c_str(), "wb");
  if (!f) throw error(path.string() + ": cannot write");
  std::fprintf(f, "P6\n%d %d\n255\n", img.width, img.height);
  std::vector<uint8_t> out(img.rgb.size());
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>(std::clamp(std::lround(img.rgb[i]), 0L, 255L));
  const bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  if (std::fclose(f) != 0 || !ok) throw error(path.string() + ": cannot write");
}

}  // namespace face
