// Face detection and recognition on real photos with face-api's pretrained models
// (@vladmandic/face-api 1.7.15), every conv and linear layer a fused sinter layer.
//
//   face_demo [options] [photo ...]          (default photos: face-api's six samples)
//
// For each photo: the faces found by the SSD MobileNet-v1 detector (box in pixels,
// score), drawn into <out>/<photo>_faces.png; then the 128-D descriptor of every face
// (face-api's ResNet on the 150x150 crop of its box) and the matrix of Euclidean
// distances between descriptors, with the closest face in the other photos (face-api
// calls a distance below 0.6 the same person). Times each network on one thread.
// --check runs plain reference implementations of both networks (examples/face/
// reference.hpp) and fails when the fused networks differ beyond the stated tolerances.
//
// The models and sample photos are fetched on first run with npm into a cache directory
// (examples/face/fetch_assets.sh; SHA-256 pinned).
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sinter/sinter.hpp>
#include <string>
#include <vector>

#include "face/detector.hpp"
#include "face/image_io.hpp"
#include "face/recognizer.hpp"
#include "face/reference.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Tolerances of --check (fused float32 sinter vs the plain double-accumulating
// reference, from the same weights and the same pre-processed input).
constexpr double kScoreTol = 1e-4;       // detector scores, absolute
constexpr double kEncodingTol = 1e-3;    // box encodings and class logits, absolute
constexpr double kDescriptorTol = 1e-4;  // descriptor elements, absolute
constexpr double kCosineMin = 0.9999;    // descriptor cosine similarity

struct Options {
  fs::path assets, out = "face_demo_out";
  std::vector<fs::path> photos;
  bool check = false, images = true;
  int repeat = 3;
  face::DetectOptions detect;
};

void usage(const char* argv0) {
  std::printf(
      "usage: %s [options] [photo ...]\n"
      "  photo            JPEG/PNG/BMP/... files (default: face-api's demo/sample1..6.jpg)\n"
      "  --assets DIR     face-api cache (default: $SINTER_FACE_ASSETS or\n"
      "                   ${XDG_CACHE_HOME:-~/.cache}/sinter/face-api; fetched with npm when missing)\n"
      "  --out DIR        where the photos with boxes go (default: face_demo_out)\n"
      "  --no-images      do not write the photos with boxes\n"
      "  --min-score X    detection score threshold in (0, 1) (default 0.5)\n"
      "  --repeat N       time each network as the best of N runs (default 3)\n"
      "  --check          compare with the plain reference networks (slow), fail beyond tolerance\n",
      argv0);
}

fs::path default_assets() {
  if (const char* e = std::getenv("SINTER_FACE_ASSETS"); e && *e) return e;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "sinter" / "face-api";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".cache" / "sinter" / "face-api";
}

Options parse(int argc, char** argv) {
  Options o;
  o.assets = default_assets();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw face::error("option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      usage(argv[0]);
      std::exit(0);
    } else if (a == "--assets") {
      o.assets = value();
    } else if (a == "--out") {
      o.out = value();
    } else if (a == "--no-images") {
      o.images = false;
    } else if (a == "--check") {
      o.check = true;
    } else if (a == "--min-score") {
      const std::string v = value();
      char* end = nullptr;
      o.detect.min_confidence = std::strtof(v.c_str(), &end);
      if (end == v.c_str() || *end || !(o.detect.min_confidence > 0 && o.detect.min_confidence < 1))
        throw face::error("--min-score: expected a number in (0, 1), got '" + v + "'");
    } else if (a == "--repeat") {
      const std::string v = value();
      char* end = nullptr;
      const long r = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end || r < 1 || r > 1000)
        throw face::error("--repeat: expected an integer in [1, 1000], got '" + v + "'");
      o.repeat = static_cast<int>(r);
    } else if (a.size() > 1 && a[0] == '-') {
      throw face::error("unknown option " + a + " (see --help)");
    } else {
      o.photos.emplace_back(a);
    }
  }
  return o;
}

/// The package directory inside the cache, fetching it when the models are missing.
fs::path ensure_assets(const fs::path& cache) {
  const fs::path pkg = cache / "package";
  const bool present = fs::exists(pkg / "model" / "ssd_mobilenetv1_model.bin") &&
                       fs::exists(pkg / "model" / "face_recognition_model.bin");
  if (present) return pkg;
  const fs::path script = fs::path(__FILE__).parent_path() / "face" / "fetch_assets.sh";
  if (!fs::exists(script))
    throw face::error("models not found in " + pkg.string() + " and the fetch script " + script.string() +
                      " is missing; run examples/face/fetch_assets.sh " + cache.string());
  std::printf("models not found in %s: fetching them\n", pkg.string().c_str());
  std::fflush(stdout);
  const std::string cmd = "bash '" + script.string() + "' '" + cache.string() + "'";
  if (std::system(cmd.c_str()) != 0) throw face::error("fetching the models failed (" + cmd + ")");
  return pkg;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

struct Face {
  std::size_t photo;
  int index;
  face::Detection det;
  std::array<float, 128> descriptor{};
};

std::string label(const std::vector<fs::path>& photos, const Face& f) {
  return photos[f.photo].stem().string() + "#" + std::to_string(f.index);
}

}  // namespace

int main(int argc, char** argv) try {
  Options opt = parse(argc, argv);
  const fs::path pkg = ensure_assets(opt.assets);
  if (opt.photos.empty())
    for (int i = 1; i <= 6; ++i) opt.photos.push_back(pkg / "demo" / ("sample" + std::to_string(i) + ".jpg"));

  auto t = Clock::now();
  const face::WeightMap det_w = face::WeightMap::load(pkg / "model", "ssd_mobilenetv1_model");
  const face::WeightMap rec_w = face::WeightMap::load(pkg / "model", "face_recognition_model");
  face::Detector detector(det_w);
  face::Recognizer<> recognizer(rec_w);
  std::printf("sinter %s, face-api 1.7.15 models loaded and packed in %.0f ms\n", sinter::default_arch::name(),
              ms_since(t));
  if (opt.images) fs::create_directories(opt.out);

  std::vector<Face> faces;
  double det_ms_total = 0, pre_ms_total = 0, rec_ms_total = 0, rec_pre_ms_total = 0;
  double max_score_diff = 0, max_enc_diff = 0, max_desc_diff = 0, min_cos = 1;
  int check_failures = 0;
  std::size_t n_rec_faces = 0;
  for (std::size_t p = 0; p < opt.photos.size(); ++p) {
    const fs::path& path = opt.photos[p];
    t = Clock::now();
    const face::Image img = face::load_image(path);
    const double decode_ms = ms_since(t);
    t = Clock::now();
    const face::Image input = face::detector_input(img);
    const double pre_ms = ms_since(t);
    face::SsdOutput raw;
    double best = 1e300;
    for (int r = 0; r < opt.repeat; ++r) {
      t = Clock::now();
      raw = detector.run(input);
      best = std::min(best, ms_since(t));
    }
    det_ms_total += best;
    pre_ms_total += pre_ms;
    const auto dets = face::locate_faces(raw.boxes, raw.scores, img.width, img.height, opt.detect);
    std::printf("\n%s (%dx%d): %zu face(s); decode %.1f ms, resize %.1f ms, detector %.1f ms (%.1f GFLOP/s)\n",
                path.filename().string().c_str(), img.width, img.height, dets.size(), decode_ms, pre_ms, best,
                detector.flops() / best * 1e-6);

    // Crops as face-api's extractFaceTensors, then the recognition net on the batch.
    t = Clock::now();
    std::vector<face::Image> crops;
    std::vector<Face> photo_faces;
    for (std::size_t i = 0; i < dets.size(); ++i) {
      int x, y, w, h;
      face::crop_rect(dets[i].box, img.width, img.height, x, y, w, h);
      std::printf("  face %zu: x %7.1f y %7.1f w %6.1f h %6.1f  score %.4f", i, dets[i].box.x, dets[i].box.y,
                  dets[i].box.w, dets[i].box.h, dets[i].score);
      if (w <= 0 || h <= 0) {
        std::printf("  (empty crop, skipped)\n");
        continue;
      }
      std::printf("\n");
      crops.push_back(face::recognizer_input(face::crop(img, x, y, w, h)));
      photo_faces.push_back({p, static_cast<int>(i), dets[i], {}});
    }
    rec_pre_ms_total += ms_since(t);
    if (!crops.empty()) {
      std::vector<std::array<float, 128>> desc;
      best = 1e300;
      for (int r = 0; r < opt.repeat; ++r) {
        t = Clock::now();
        desc = recognizer.run(crops);
        best = std::min(best, ms_since(t));
      }
      rec_ms_total += best;
      n_rec_faces += crops.size();
      for (std::size_t i = 0; i < crops.size(); ++i) photo_faces[i].descriptor = desc[i];
      std::printf("  recognizer: %zu face(s) in %.1f ms (%.2f ms per face, %.1f GFLOP/s)\n", crops.size(), best,
                  best / crops.size(), recognizer.flops() * crops.size() / best * 1e-6);
    }
    if (opt.check) {
      t = Clock::now();
      const auto ref = face::ref::run_detector(det_w, input);
      double sd = 0, ed = 0;
      for (std::size_t i = 0; i < ref.scores.size(); ++i) sd = std::max(sd, double(std::abs(ref.scores[i] - raw.scores[i])));
      for (std::size_t i = 0; i < ref.encodings.size(); ++i)
        ed = std::max(ed, double(std::abs(ref.encodings[i] - raw.encodings[i])));
      for (std::size_t i = 0; i < ref.logits.size(); ++i) ed = std::max(ed, double(std::abs(ref.logits[i] - raw.logits[i])));
      const auto ref_dets = face::locate_faces(ref.boxes, ref.scores, img.width, img.height, opt.detect);
      bool same = ref_dets.size() == dets.size();
      double min_iou = 1;
      for (std::size_t i = 0; same && i < dets.size(); ++i) min_iou = std::min(min_iou, face::iou(dets[i].box, ref_dets[i].box));
      same = same && min_iou >= 0.99;
      double dd = 0, cmin = 1;
      for (std::size_t i = 0; i < crops.size(); ++i) {
        const auto r = face::ref::run_recognizer(rec_w, crops[i]);
        for (int k = 0; k < 128; ++k) dd = std::max(dd, double(std::abs(r[k] - photo_faces[i].descriptor[k])));
        cmin = std::min(cmin, face::cosine_similarity(r, photo_faces[i].descriptor));
      }
      const bool ok = same && sd <= kScoreTol && ed <= kEncodingTol && dd <= kDescriptorTol && cmin >= kCosineMin;
      check_failures += !ok;
      std::printf("  check vs plain reference (%.0f ms): %s; faces %zu vs %zu (min IoU %.6f), max |score diff| %.2g, "
                  "max |encoding/logit diff| %.2g, max |descriptor diff| %.2g, min cosine %.8f\n",
                  ms_since(t), ok ? "OK" : "FAILED", dets.size(), ref_dets.size(), min_iou, sd, ed, dd, cmin);
      max_score_diff = std::max(max_score_diff, sd);
      max_enc_diff = std::max(max_enc_diff, ed);
      max_desc_diff = std::max(max_desc_diff, dd);
      min_cos = std::min(min_cos, cmin);
    }
    if (opt.images) {
      const fs::path o = opt.out / (path.stem().string() + "_faces.png");
      face::write_png_with_boxes(o, img, dets);
      std::printf("  wrote %s\n", o.string().c_str());
    }
    faces.insert(faces.end(), photo_faces.begin(), photo_faces.end());
  }

  // Distances between every pair of faces.
  if (faces.size() > 1) {
    std::printf("\ndescriptor distances (Euclidean; face-api: < 0.6 = same person)\n%-10s", "");
    for (const auto& f : faces) std::printf(" %9s", label(opt.photos, f).c_str());
    std::printf("\n");
    for (const auto& a : faces) {
      std::printf("%-10s", label(opt.photos, a).c_str());
      for (const auto& b : faces) std::printf(" %9.3f", face::euclidean_distance(a.descriptor, b.descriptor));
      std::printf("\n");
    }
    std::printf("\nbest match of each face in the other photos\n");
    for (const auto& a : faces) {
      const Face* best = nullptr;
      double bd = 1e300;
      for (const auto& b : faces)
        if (b.photo != a.photo) {
          const double d = face::euclidean_distance(a.descriptor, b.descriptor);
          if (d < bd) bd = d, best = &b;
        }
      if (best)
        std::printf("  %-10s -> %-10s distance %.3f  %s\n", label(opt.photos, a).c_str(),
                    label(opt.photos, *best).c_str(), bd, bd < 0.6 ? "same person" : "no match");
    }
  }

  const std::size_t np = opt.photos.size();
  std::printf("\ntiming (one thread, %s, best of %d runs)\n", sinter::default_arch::name(), opt.repeat);
  std::printf("  detector    %.1f GFLOP per photo: %8.2f ms per photo  (%.1f GFLOP/s)\n", detector.flops() * 1e-9,
              det_ms_total / np, detector.flops() * np / det_ms_total * 1e-6);
  if (n_rec_faces)
    std::printf("  recognizer  %.3f GFLOP per face:  %8.2f ms per face   (%.1f GFLOP/s)\n", recognizer.flops() * 1e-9,
                rec_ms_total / n_rec_faces, recognizer.flops() * n_rec_faces / rec_ms_total * 1e-6);
  std::printf("  pre-processing (not included above): pad + resize to 512x512 %.2f ms per photo, crop + resize to "
              "150x150 %.2f ms per photo\n",
              pre_ms_total / np, rec_pre_ms_total / np);
  if (opt.check) {
    std::printf("\ncheck vs plain reference over %zu photo(s): max |score diff| %.2g (tol %.0e), max |encoding diff| "
                "%.2g (tol %.0e), max |descriptor diff| %.2g (tol %.0e), min cosine %.8f (min %.4f): %s\n",
                np, max_score_diff, kScoreTol, max_enc_diff, kEncodingTol, max_desc_diff, kDescriptorTol, min_cos,
                kCosineMin, check_failures ? "FAILED" : "OK");
    return check_failures ? 1 : 0;
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "face_demo: error: %s\n", e.what());
  return 1;
}
