// The face example's pre- and post-processing (examples/face/image.hpp and
// postprocess.hpp) against values worked out by hand from face-api's and tfjs's
// definitions: padding to a square, bilinear resizing, SSD box decoding, NMS, boxes in
// photo pixels, crops, landmarks, the alignment box and distances.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "../examples/face/image.hpp"
#include "../examples/face/postprocess.hpp"

namespace {

face::Image ramp(int w, int h) {
  face::Image img(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < 3; ++k) img.pixel(x, y)[k] = static_cast<float>(100 * k + 10 * y + x);
  return img;
}

}  // namespace

TEST_CASE("face image: pad to square, at the end or centred (Math.round of half the difference appended)") {
  const face::Image img = ramp(2, 5);  // diff 3: centred appends round(1.5) = 2, prepends 1
  const face::Image end = face::pad_to_square(img, false);
  REQUIRE(end.width == 5);
  REQUIRE(end.height == 5);
  CHECK(end.pixel(1, 4)[0] == img.pixel(1, 4)[0]);
  CHECK(end.pixel(2, 0)[0] == 0.f);
  const face::Image mid = face::pad_to_square(img, true);
  CHECK(mid.pixel(0, 0)[2] == 0.f);
  CHECK(mid.pixel(1, 3)[2] == img.pixel(0, 3)[2]);
  CHECK(mid.pixel(2, 3)[1] == img.pixel(1, 3)[1]);
  CHECK(mid.pixel(3, 3)[1] == 0.f);
  const face::Image wide = face::pad_to_square(ramp(4, 1), true);  // diff 3 along y
  CHECK(wide.pixel(3, 1)[0] == 3.f);
  CHECK(wide.pixel(3, 0)[0] == 0.f);
}

TEST_CASE("face image: bilinear resize without half-pixel centres, as tfjs") {
  const face::Image img = ramp(4, 4);
  const face::Image up = face::resize_bilinear(img, 8, 8);
  // out (c, r) samples (c * 4 / 8, r * 4 / 8); the last ones clamp to pixel 3.
  CHECK(up.pixel(1, 0)[0] == doctest::Approx(0.5f));
  CHECK(up.pixel(3, 2)[1] == doctest::Approx(100 + 10 * 1.0 + 1.5));
  CHECK(up.pixel(7, 7)[0] == doctest::Approx(33.f));
  const face::Image down = face::resize_bilinear(img, 3, 3);  // samples 0, 4/3, 8/3
  CHECK(down.pixel(1, 2)[0] == doctest::Approx(10 * 8.0 / 3 + 4.0 / 3).epsilon(1e-6));
  CHECK(down.pixel(2, 0)[2] == doctest::Approx(200 + 8.0 / 3).epsilon(1e-6));
}

TEST_CASE("face image: resizing on a zero canvas equals pad_to_square then resize") {
  for (bool centred : {false, true})
    for (auto [w, h] : {std::pair{7, 3}, std::pair{3, 8}, std::pair{5, 5}}) {
      const face::Image img = ramp(w, h);
      const face::Image padded = face::resize_bilinear(face::pad_to_square(img, centred), 11, 11);
      const face::Image direct = centred ? face::recognizer_input(img, 11) : face::detector_input(img, 11);
      REQUIRE(direct.rgb.size() == padded.rgb.size());
      for (std::size_t i = 0; i < padded.rgb.size(); ++i) CHECK(direct.rgb[i] == padded.rgb[i]);
    }
}

TEST_CASE("face image: crop inside the image, errors outside") {
  const face::Image img = ramp(6, 4);
  const face::Image c = face::crop(img, 2, 1, 3, 2);
  CHECK(c.width == 3);
  CHECK(c.pixel(2, 1)[0] == img.pixel(4, 2)[0]);
  CHECK_THROWS_AS(face::crop(img, 4, 0, 3, 2), face::error);
  CHECK_THROWS_AS(face::crop(img, 0, 0, 0, 2), face::error);
}

TEST_CASE("face ssd: box decoding against an anchor") {
  // anchor ymin 0.2, xmin 0.4, ymax 0.6, xmax 0.5: h 0.4, w 0.1, centre (0.4, 0.45)
  const std::vector<float> anchors{0.2f, 0.4f, 0.6f, 0.5f, 0.f, 0.f, 1.f, 1.f};
  const std::vector<float> enc{0.f, 0.f, 0.f, 0.f, 10.f, -5.f, 5.f * std::log(2.f), 0.f};
  const auto b = face::decode_boxes(enc, anchors);
  REQUIRE(b.size() == 2);
  CHECK(b[0].ymin == doctest::Approx(0.2f));
  CHECK(b[0].xmin == doctest::Approx(0.4f));
  CHECK(b[0].ymax == doctest::Approx(0.6f));
  CHECK(b[0].xmax == doctest::Approx(0.5f));
  // centre (0.5 + 1, 0.5 - 0.5), half extents (2 * 1 / 2, 1 / 2)
  CHECK(b[1].ymin == doctest::Approx(0.5f));
  CHECK(b[1].ymax == doctest::Approx(2.5f));
  CHECK(b[1].xmin == doctest::Approx(-0.5f));
  CHECK(b[1].xmax == doctest::Approx(0.5f));
  CHECK(face::sigmoid(0.f) == 0.5f);
  CHECK(face::sigmoid(2.f) == doctest::Approx(0.8807971f));
}

TEST_CASE("face ssd: IoU") {
  const face::SsdBox a{0, 0, 1, 1}, b{0.5f, 0, 1.5f, 1}, flipped{1, 1, 0, 0}, flat{0, 0, 0, 1};
  CHECK(face::iou(a, b) == doctest::Approx(1.0 / 3));
  CHECK(face::iou(a, flipped) == doctest::Approx(1.0));
  CHECK(face::iou(a, flat) == 0.0);
  CHECK(face::iou(face::Rect{0, 0, 2, 2}, face::Rect{1, 1, 2, 2}) == doctest::Approx(1.0 / 7));
  CHECK(face::iou(face::Rect{0, 0, 0, 2}, face::Rect{0, 0, 2, 2}) == 0.0);
}

TEST_CASE("face ssd: non-maximum suppression as face-api's") {
  const std::vector<face::SsdBox> boxes{
      {0, 0, 1, 1},          // 0
      {0, 0.1f, 1, 1.1f},    // 1: IoU with 0 = 0.9 / 1.1 > 0.5
      {0, 0.6f, 1, 1.6f},    // 2: IoU with 0 = 0.4 / 1.6, with 1 = 0.5 / 1.5
      {2, 2, 3, 3},          // 3: disjoint
      {0, 0, 1, 1},          // 4: copy of 0, low score
  };
  const std::vector<float> scores{0.8f, 0.9f, 0.7f, 0.6f, 0.4f};
  CHECK(face::non_max_suppression(boxes, scores, 100, 0.5, 0.5f) == std::vector<std::size_t>{1, 2, 3});
  CHECK(face::non_max_suppression(boxes, scores, 2, 0.5, 0.5f) == std::vector<std::size_t>{1, 2});
  CHECK(face::non_max_suppression(boxes, scores, 100, 0.95, 0.3f) == std::vector<std::size_t>{1, 0, 2, 3});
  CHECK(face::non_max_suppression(boxes, scores, 100, 0.5, 0.95f).empty());
  // a score equal to the threshold is dropped (score > threshold)
  CHECK(face::non_max_suppression(boxes, scores, 100, 0.5, 0.6f) == std::vector<std::size_t>{1, 2});
}

TEST_CASE("face ssd: boxes in photo pixels for a landscape photo padded at the bottom") {
  // 1000 x 500 photo -> 1000 x 1000 square -> 512; reshaped 512 x 256: pad_x 1, pad_y 2.
  const std::vector<face::SsdBox> boxes{{0.1f, 0.2f, 0.3f, 0.5f}, {-0.1f, 0.9f, 0.6f, 1.2f}};
  const std::vector<float> scores{0.9f, 0.8f};
  const auto f = face::locate_faces(boxes, scores, 1000, 500);
  REQUIRE(f.size() == 2);
  CHECK(f[0].box.x == doctest::Approx(200));
  CHECK(f[0].box.y == doctest::Approx(0.1 * 2 * 500));
  CHECK(f[0].box.w == doctest::Approx(300));
  CHECK(f[0].box.h == doctest::Approx(0.2 * 2 * 500));
  CHECK(f[0].score == 0.9f);
  // clamped to [0, 1] before scaling
  CHECK(f[1].box.y == 0.0);
  CHECK(f[1].box.x + f[1].box.w == doctest::Approx(1000));
  // min_confidence filters
  face::DetectOptions o;
  o.min_confidence = 0.85f;
  CHECK(face::locate_faces(boxes, scores, 1000, 500, o).size() == 1);
}

TEST_CASE("face crop: clipped at the borders, then floored") {
  int x, y, w, h;
  face::crop_rect({-3.5, 2.7, 10.2, 5.9}, 100, 100, x, y, w, h);
  CHECK((x == 0 && y == 2 && w == 6 && h == 5));  // width 6.7, height 5.9
  face::crop_rect({95.2, 90.0, 10, 20}, 100, 100, x, y, w, h);
  CHECK((x == 95 && y == 90 && w == 4 && h == 10));
  face::crop_rect({120, 0, 10, 10}, 100, 100, x, y, w, h);
  CHECK(w <= 0);
}

TEST_CASE("face descriptors: Euclidean distance and cosine similarity") {
  const std::vector<float> a{1, 0, 0}, b{0, 1, 0}, c{2, 0, 0}, z{0, 0, 0};
  CHECK(face::euclidean_distance(a, b) == doctest::Approx(std::sqrt(2.0)));
  CHECK(face::euclidean_distance(a, a) == 0.0);
  CHECK(face::cosine_similarity(a, c) == doctest::Approx(1.0));
  CHECK(face::cosine_similarity(a, b) == 0.0);
  CHECK(face::cosine_similarity(a, z) == 0.0);
}

TEST_CASE("face landmarks: outputs relative to the padded square -> photo pixels") {
  // A 50 x 100 crop (portrait): scaled to 56 x 112, padded by 28 on the left and right.
  std::vector<float> out(136, 0.f);
  out[0] = 0.25f;  // x: (0.25 * 112 - 28) / 56 = 0 -> left edge of the crop
  out[1] = 0.5f;   // y: 0.5 * 112 / 112 = 0.5 -> 50 px
  out[2] = 0.75f;  // x: (84 - 28) / 56 = 1 -> right edge
  out[3] = 1.0f;
  const auto p = face::landmark_positions(out, 50, 100, face::Rect{10.5, 20.25, 0, 0});
  CHECK(p[0].x == doctest::Approx(10.5));
  CHECK(p[0].y == doctest::Approx(70.25));
  CHECK(p[1].x == doctest::Approx(60.5));
  CHECK(p[1].y == doctest::Approx(120.25));
  // landscape crop: the padding is along y
  const auto q = face::landmark_positions(out, 100, 50, face::Rect{});
  CHECK(q[0].x == doctest::Approx(25));
  CHECK(q[0].y == doctest::Approx((0.5 * 112 - 28) / 56 * 50));
}

TEST_CASE("face landmarks: dlib alignment box from eyes and mouth") {
  std::array<face::Point, 68> p{};
  for (int i = 36; i < 42; ++i) p[i] = {100, 100};  // left eye centre
  for (int i = 42; i < 48; ++i) p[i] = {160, 100};  // right eye centre
  for (int i = 48; i < 68; ++i) p[i] = {130, 140};  // mouth centre
  // eye-to-mouth distance 50 -> size floor(50 / 0.45) = 111; centre (130, 113.33)
  const face::Rect r = face::align_dlib(p, 200, 200);
  CHECK(r.w == 111);
  CHECK(r.h == 111);
  CHECK(r.x == std::floor(130 - 0.5 * 111));
  CHECK(r.y == std::floor(340.0 / 3 - 0.43 * 111));
  // near the corner: clamped at 0
  for (auto& q : p) q = {q.x - 100, q.y - 100};
  const face::Rect c = face::align_dlib(p, 200, 200);
  CHECK(c.x == 0);
  CHECK(c.y == 0);
}
