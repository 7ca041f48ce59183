// examples/face/postprocess.hpp - SSD box decoding, non-maximum suppression, face
// boxes in image pixels, landmarks and the alignment box, descriptor distances, as
// face-api 1.7.15 computes them (src/ssdMobilenetv1/outputLayer.ts,
// nonMaxSuppression.ts, SsdMobilenetv1.ts, src/classes/Box.ts, FaceLandmarks.ts,
// src/faceLandmarkNet/FaceLandmark68NetBase.ts, src/euclideanDistance.ts).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <span>
#include <vector>

namespace face {

/// A box in TF's SSD order: ymin, xmin, ymax, xmax (relative to the square input).
struct SsdBox {
  float ymin = 0, xmin = 0, ymax = 0, xmax = 0;
};

/// An axis-aligned rectangle in pixels: left x, top y, width, height.
struct Rect {
  double x = 0, y = 0, w = 0, h = 0;
};

/// A face found in a photo: its box in the photo's pixels and its score in (0, 1).
struct Detection {
  Rect box;
  float score = 0;
};

/// Decodes SSD box encodings against their anchors (outputLayer.ts decodeBoxesLayer):
/// anchor (ymin, xmin, ymax, xmax) -> size (h, w) and centre (cy, cx); encoding
/// (ty, tx, th, tw) -> centre (cy + ty / 10 * h, cx + tx / 10 * w), half extents
/// (exp(th / 5) * h / 2, exp(tw / 5) * w / 2). `enc` and `anchors` are [n x 4].
inline std::vector<SsdBox> decode_boxes(std::span<const float> enc, std::span<const float> anchors) {
  const std::size_t n = anchors.size() / 4;
  std::vector<SsdBox> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const float* a = &anchors[4 * i];
    const float* e = &enc[4 * i];
    const float h = a[2] - a[0], w = a[3] - a[1];
    const float cy = a[0] + h / 2, cx = a[1] + w / 2;
    const float hy = std::exp(e[2] / 5) * h / 2, hx = std::exp(e[3] / 5) * w / 2;
    const float y = e[0] / 10 * h + cy, x = e[1] / 10 * w + cx;
    out[i] = {y - hy, x - hx, y + hy, x + hx};
  }
  return out;
}

/// Logistic sigmoid 1 / (1 + exp(-x)).
inline float sigmoid(float x) noexcept { return 1.f / (1.f + std::exp(-x)); }

/// Intersection over union of two SSD boxes, corners taken in either order; 0 when a
/// box has no area (nonMaxSuppression.ts IOU).
inline double iou(const SsdBox& a, const SsdBox& b) noexcept {
  const double ay0 = std::min(a.ymin, a.ymax), ax0 = std::min(a.xmin, a.xmax);
  const double ay1 = std::max(a.ymin, a.ymax), ax1 = std::max(a.xmin, a.xmax);
  const double by0 = std::min(b.ymin, b.ymax), bx0 = std::min(b.xmin, b.xmax);
  const double by1 = std::max(b.ymin, b.ymax), bx1 = std::max(b.xmin, b.xmax);
  const double area_a = (ay1 - ay0) * (ax1 - ax0), area_b = (by1 - by0) * (bx1 - bx0);
  if (area_a <= 0 || area_b <= 0) return 0;
  const double ih = std::max(std::min(ay1, by1) - std::max(ay0, by0), 0.0);
  const double iw = std::max(std::min(ax1, bx1) - std::max(ax0, bx0), 0.0);
  const double inter = ih * iw;
  return inter / (area_a + area_b - inter);
}

/// IoU of two pixel rectangles (0 when either is empty).
inline double iou(const Rect& a, const Rect& b) noexcept {
  const double iw = std::max(0.0, std::min(a.x + a.w, b.x + b.w) - std::max(a.x, b.x));
  const double ih = std::max(0.0, std::min(a.y + a.h, b.y + b.h) - std::max(a.y, b.y));
  const double inter = iw * ih, uni = a.w * a.h + b.w * b.h - inter;
  return a.w <= 0 || a.h <= 0 || b.w <= 0 || b.h <= 0 ? 0.0 : inter / uni;
}

/// Greedy non-maximum suppression (nonMaxSuppression.ts): candidates with
/// score > score_threshold, by descending score (stable for ties); a candidate is kept
/// unless its IoU with a kept box exceeds iou_threshold; at most max_results kept.
/// Returns the kept indices, best first.
inline std::vector<std::size_t> non_max_suppression(std::span<const SsdBox> boxes, std::span<const float> scores,
                                                    std::size_t max_results, double iou_threshold,
                                                    float score_threshold) {
  std::vector<std::size_t> cand;
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (scores[i] > score_threshold) cand.push_back(i);
  std::stable_sort(cand.begin(), cand.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  const std::size_t limit = std::min(max_results, boxes.size());
  std::vector<std::size_t> kept;
  for (std::size_t c : cand) {
    if (kept.size() >= limit) break;
    bool suppressed = false;
    for (std::size_t j = kept.size(); j-- > 0;)
      if (iou(boxes[c], boxes[kept[j]]) > iou_threshold) {
        suppressed = true;
        break;
      }
    if (!suppressed) kept.push_back(c);
  }
  return kept;
}

/// Parameters of SsdMobilenetv1.locateFaces (defaults: SsdMobilenetv1Options).
struct DetectOptions {
  float min_confidence = 0.5f;
  std::size_t max_results = 100;
  double iou_threshold = 0.5;
};

/// From the detector's decoded boxes and scores to faces in the photo's pixels
/// (SsdMobilenetv1.locateFaces): NMS, corners clamped to [0, 1], scaled by
/// input_size / reshaped size (the photo was padded to a square at the bottom/right),
/// then by the photo's size.
inline std::vector<Detection> locate_faces(std::span<const SsdBox> boxes, std::span<const float> scores,
                                           int image_width, int image_height, const DetectOptions& opt = {},
                                           int input_size = 512) {
  const auto keep = non_max_suppression(boxes, scores, opt.max_results, opt.iou_threshold, opt.min_confidence);
  // computeReshapedDimensions: the longer side becomes input_size (Math.round).
  const double s = static_cast<double>(input_size) / std::max(image_width, image_height);
  const double rw = std::floor(image_width * s + 0.5), rh = std::floor(image_height * s + 0.5);
  const double pad_x = input_size / rw, pad_y = input_size / rh;
  std::vector<Detection> out;
  for (std::size_t i : keep) {
    const SsdBox& b = boxes[i];
    const double top = std::max(0.f, b.ymin) * pad_y, bottom = std::min(1.f, b.ymax) * pad_y;
    const double left = std::max(0.f, b.xmin) * pad_x, right = std::min(1.f, b.xmax) * pad_x;
    out.push_back({Rect{left * image_width, top * image_height, (right - left) * image_width,
                        (bottom - top) * image_height},
                   scores[i]});
  }
  return out;
}

/// The integer crop face-api takes for a face (extractFaceTensors: Box.clipAtImageBorders,
/// then floor of x, y, width and height). The result may be empty (w or h <= 0).
inline void crop_rect(const Rect& r, int image_width, int image_height, int& x, int& y, int& w, int& h) {
  const double cx = std::max(r.x, 0.0), cy = std::max(r.y, 0.0);
  const double cw = std::min(r.x + r.w - cx, image_width - cx), ch = std::min(r.y + r.h - cy, image_height - cy);
  x = static_cast<int>(std::floor(cx));
  y = static_cast<int>(std::floor(cy));
  w = static_cast<int>(std::floor(cw));
  h = static_cast<int>(std::floor(ch));
}

/// Euclidean distance between two descriptors (face-api's euclideanDistance; faces of
/// the same person are usually closer than 0.6).
inline double euclidean_distance(std::span<const float> a, std::span<const float> b) noexcept {
  double s = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return std::sqrt(s);
}

/// Cosine similarity of two vectors (1 for parallel ones; 0 if either is zero).
inline double cosine_similarity(std::span<const float> a, std::span<const float> b) noexcept {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

/// A point in pixels.
struct Point {
  double x = 0, y = 0;
};

/// The 68 landmarks in photo pixels from the net's outputs for a crop of crop_w x
/// crop_h pixels taken for `detection` (FaceLandmark68NetBase.postProcess, then
/// FaceLandmarks68 scaled to the crop and shifted by the detection box's corner, as
/// extendWithFaceLandmarks does).
inline std::array<Point, 68> landmark_positions(std::span<const float> out, int crop_w, int crop_h,
                                                const Rect& detection, int input_size = 112) {
  const double scale = static_cast<double>(input_size) / std::max(crop_w, crop_h);
  const double w = crop_w * scale, h = crop_h * scale;
  const double pad_x = w < h ? std::abs(w - h) / 2 : 0, pad_y = h < w ? std::abs(w - h) / 2 : 0;
  std::array<Point, 68> p;
  for (int i = 0; i < 68; ++i) {
    const double rx = (out[2 * i] * double(input_size) - pad_x) / w;
    const double ry = (out[2 * i + 1] * double(input_size) - pad_y) / h;
    p[i] = {rx * crop_w + detection.x, ry * crop_h + detection.y};
  }
  return p;
}

/// The box face-api crops for the descriptor (FaceLandmarks.alignDlib, as
/// ComputeFaceDescriptorsTasks calls it): eyes' and mouth's centres; side =
/// floor(mean eye-to-mouth distance / 0.45); corner at (centre.x - 0.5 side,
/// centre.y - 0.43 side), floored and clamped at 0; extent min(side, crop + corner).
inline Rect align_dlib(const std::array<Point, 68>& p, int crop_w, int crop_h) {
  auto centre = [&](int from, int to) {
    Point c;
    for (int i = from; i < to; ++i) {
      c.x += p[i].x;
      c.y += p[i].y;
    }
    return Point{c.x / (to - from), c.y / (to - from)};
  };
  const Point le = centre(36, 42), re = centre(42, 48), mouth = centre(48, 68);
  auto dist = [&](Point a) { return std::hypot(mouth.x - a.x, mouth.y - a.y); };
  const double size = std::floor((dist(le) + dist(re)) / 2 / 0.45);
  const Point ref{(le.x + re.x + mouth.x) / 3, (le.y + re.y + mouth.y) / 3};
  const double x = std::floor(std::max(0.0, ref.x - 0.5 * size)), y = std::floor(std::max(0.0, ref.y - 0.43 * size));
  return {x, y, std::min(size, crop_w + x), std::min(size, crop_h + y)};
}

}  // namespace face
