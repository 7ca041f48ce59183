// Face detection and recognition on real photos with face-api's pretrained models
// (@vladmandic/face-api 1.7.15), every conv and linear layer a fused sinter layer.
//
//   face_demo [options] [photo ...]          (default photos: face-api's six samples)
//
// face-api's pipeline (detectAllFaces().withFaceLandmarks().withFaceDescriptors()), on
// one thread (--threads N: the detector and the recognition net on N):
//   1. SSD MobileNet-v1 on the photo padded to a square and resized to 512x512: faces
//      (box in pixels, score), NMS at IoU 0.5, scores above --min-score (0.5);
//   2. the 68-point landmark net on each face's box crop (112x112);
//   3. the crop aligned on the eyes and mouth (face-api's dlib alignment box);
//   4. the ResNet on that crop (150x150): a 128-D descriptor.
// Prints the faces, the matrix of Euclidean distances between all descriptors and the
// closest face in the other photos (face-api: a distance below 0.6 is the same person),
// and the time of each network; writes each photo with its boxes (green: detection,
// yellow: aligned crop, red: landmarks) to <out>/<photo>_faces.png.
// --check runs plain reference implementations of the three networks
// (examples/face/reference.hpp) on the same inputs and fails beyond stated tolerances.
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
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sinter/sinter.hpp>
#include <string>
#include <vector>

#include "face/detector.hpp"
#include "face/image_io.hpp"
#include "face/landmarks.hpp"
#include "face/recognizer.hpp"
#include "face/reference.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Tolerances of --check: fused float32 sinter networks against the plain reference
// (double accumulators, one pass per op) on the same pre-processed inputs.
constexpr double kScoreTol = 1e-4;       // detector scores, absolute
constexpr double kEncodingTol = 1e-3;    // box encodings and class logits, absolute
constexpr double kLandmarkTol = 1e-4;    // landmark net outputs (fractions of the crop), absolute
constexpr double kDescriptorTol = 1e-4;  // descriptor elements, absolute
constexpr double kCosineMin = 0.9999;    // descriptor cosine similarity

enum class Algo { automatic, im2col, winograd };

struct Options {
  fs::path assets, out = "face_demo_out", save_rgb, faceapi;
  std::vector<fs::path> photos;
  bool check = false, images = true, default_photos = false;
  int repeat = 3, threads = 1;
  Algo algo = Algo::automatic;
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
      "  --algo A         3x3 stride-1 convs of the recognition net: auto, im2col or winograd (default auto)\n"
      "  --repeat N       time each network as the best of N runs (default 3)\n"
      "  --threads N      run the detector and the recognition net on N threads (default 1)\n"
      "  --check          compare with the plain reference networks (slow), fail beyond tolerance\n"
      "  --save-rgb DIR   also write each decoded photo as DIR/<photo>.ppm (input of\n"
      "                   examples/face/faceapi_reference.cjs, which runs face-api itself)\n"
      "  --faceapi FILE   compare with face-api's own results (JSON of faceapi_reference.cjs; with\n"
      "                   --check on the sample photos: examples/face/faceapi_samples.json)\n",
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
    } else if (a == "--faceapi") {
      o.faceapi = value();
    } else if (a == "--save-rgb") {
      o.save_rgb = value();
    } else if (a == "--no-images") {
      o.images = false;
    } else if (a == "--check") {
      o.check = true;
    } else if (a == "--algo") {
      const std::string v = value();
      if (v == "auto") o.algo = Algo::automatic;
      else if (v == "im2col") o.algo = Algo::im2col;
      else if (v == "winograd") o.algo = Algo::winograd;
      else throw face::error("--algo: expected auto, im2col or winograd, got '" + v + "'");
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
    } else if (a == "--threads") {
      const std::string v = value();
      char* end = nullptr;
      const long r = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end || r < 1 || r > 1024)
        throw face::error("--threads: expected an integer in [1, 1024], got '" + v + "'");
      o.threads = static_cast<int>(r);
    } else if (a.size() > 1 && a[0] == '-') {
      throw face::error("unknown option " + a + " (see --help)");
    } else {
      o.photos.emplace_back(a);
    }
  }
  return o;
}

/// The package directory inside the cache, fetching it when a model is missing.
fs::path ensure_assets(const fs::path& cache) {
  const fs::path pkg = cache / "package";
  bool present = true;
  for (const char* m : {"ssd_mobilenetv1_model", "face_landmark_68_model", "face_recognition_model"})
    present = present && fs::exists(pkg / "model" / (std::string(m) + ".bin"));
  if (present) return pkg;
  const fs::path script = fs::path(__FILE__).parent_path() / "face" / "fetch_assets.sh";
  if (!fs::exists(script))
    throw face::error("models not found in " + pkg.string() + " and the fetch script " + script.string() +
                      " is missing: run examples/face/fetch_assets.sh " + cache.string());
  std::printf("models not found in %s: fetching them\n", pkg.string().c_str());
  std::fflush(stdout);
  const std::string cmd = "bash '" + script.string() + "' '" + cache.string() + "'";
  if (std::system(cmd.c_str()) != 0) throw face::error("fetching the models failed (" + cmd + ")");
  return pkg;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

/// Best wall time of `repeat` calls of f (which stores its result itself).
template <class F>
double best_of(int repeat, F&& f) {
  double best = 1e300;
  for (int r = 0; r < repeat; ++r) {
    const auto t = Clock::now();
    f();
    best = std::min(best, ms_since(t));
  }
  return best;
}

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) d = std::max(d, double(std::abs(a[i] - b[i])));
  return d;
}

/// One face as face-api itself found it (faceapi_reference.cjs).
struct FaceApiFace {
  face::Rect box, aligned;
  double score = 0;
  std::vector<float> descriptor;
};

/// face-api's results per photo name (file stem), from faceapi_reference.cjs's JSON.
std::map<std::string, std::vector<FaceApiFace>> load_faceapi(const fs::path& file) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(face::WeightMap::read_text(file));
    std::map<std::string, std::vector<FaceApiFace>> out;
    auto rect = [](const nlohmann::json& a) {
      return face::Rect{a.at(0).get<double>(), a.at(1).get<double>(), a.at(2).get<double>(), a.at(3).get<double>()};
    };
    for (const auto& p : j.at("photos")) {
      auto& faces = out[p.at("photo").get<std::string>()];
      for (const auto& f : p.at("faces"))
        faces.push_back({rect(f.at("box")), rect(f.at("aligned")), f.at("score").get<double>(),
                         f.at("descriptor").get<std::vector<float>>()});
    }
    return out;
  } catch (const nlohmann::json::exception& e) {
    throw face::error(file.string() + ": not face-api results (" + e.what() + ")");
  }
}

struct Face {
  std::size_t photo;
  int index;
  face::Detection det;
  face::Rect aligned;
  std::array<face::Point, 68> landmarks;
  std::array<float, 128> descriptor{};
};

std::string label(const std::vector<fs::path>& photos, const Face& f) {
  return photos[f.photo].stem().string() + "#" + std::to_string(f.index);
}

struct Totals {
  double det_ms = 0, lm_ms = 0, rec_ms = 0, pre_det_ms = 0, pre_face_ms = 0;
  std::size_t photos = 0, lm_faces = 0, rec_faces = 0;
  double score_diff = 0, enc_diff = 0, lm_diff = 0, desc_diff = 0, min_cos = 1;
  int check_failures = 0, rect_mismatches = 0;
  // against face-api itself
  std::size_t fa_photos = 0, fa_faces = 0, fa_aligned_same = 0;
  int fa_failures = 0;
  double fa_min_iou = 1, fa_score_diff = 0, fa_desc_diff = 0, fa_min_cos = 1, fa_dist_diff = 0;
};

// Tolerances against face-api itself (tfjs float32 on the same decoded pixels): the same
// faces (IoU of boxes, as the issue asks) and descriptors.
constexpr double kFaceApiIou = 0.95;
constexpr double kFaceApiCosine = 0.9999;

void draw_landmarks(face::Image& img, const std::array<face::Point, 68>& pts) {
  for (const auto& p : pts)
    for (int dy = -2; dy <= 2; ++dy)
      for (int dx = -2; dx <= 2; ++dx) {
        const int x = static_cast<int>(std::lround(p.x)) + dx, y = static_cast<int>(std::lround(p.y)) + dy;
        if (x < 0 || y < 0 || x >= img.width || y >= img.height) continue;
        float* px = img.pixel(x, y);
        px[0] = 255.f;
        px[1] = px[2] = 0.f;
      }
}

template <class RecAlgo>
int run(const Options& opt, const fs::path& pkg) {
  auto t = Clock::now();
  const face::WeightMap det_w = face::WeightMap::load(pkg / "model", "ssd_mobilenetv1_model");
  const face::WeightMap lm_w = face::WeightMap::load(pkg / "model", "face_landmark_68_model");
  const face::WeightMap rec_w = face::WeightMap::load(pkg / "model", "face_recognition_model");
  face::Detector detector(det_w, opt.threads);
  face::Landmarker landmarker(lm_w);
  face::Recognizer<RecAlgo> recognizer(rec_w, opt.threads);
  const sinter::thread_pool exec(opt.threads);  // one thread: runs inline
  std::printf("sinter %s: face-api 1.7.15 models loaded and packed in %.0f ms\n", sinter::default_arch::name(),
              ms_since(t));
  if (opt.images) fs::create_directories(opt.out);

  std::vector<Face> faces;
  Totals tot;
  // face-api's own results: --faceapi FILE, or with --check on the sample photos the
  // committed fixture next to this program's sources.
  std::string faceapi_file = opt.faceapi.string();
  const fs::path fixture = fs::path(__FILE__).parent_path() / "face" / "faceapi_samples.json";
  if (faceapi_file.empty() && opt.check && opt.default_photos && fs::exists(fixture)) faceapi_file = fixture.string();
  std::optional<std::map<std::string, std::vector<FaceApiFace>>> faceapi;
  if (!faceapi_file.empty()) faceapi = load_faceapi(faceapi_file);
  for (std::size_t p = 0; p < opt.photos.size(); ++p) {
    const fs::path& path = opt.photos[p];
    t = Clock::now();
    face::Image img = face::load_image(path);
    const double decode_ms = ms_since(t);
    if (!opt.save_rgb.empty()) {
      fs::create_directories(opt.save_rgb);
      face::write_ppm(opt.save_rgb / (path.stem().string() + ".ppm"), img);
    }
    t = Clock::now();
    const face::Image input = face::detector_input(img);
    tot.pre_det_ms += ms_since(t);
    face::SsdOutput raw;
    const double det_ms = best_of(opt.repeat, [&] { raw = detector.run(input, nullptr, exec); });
    tot.det_ms += det_ms;
    ++tot.photos;
    const auto dets = face::locate_faces(raw.boxes, raw.scores, img.width, img.height, opt.detect);
    std::printf("\n%s (%dx%d): %zu face(s); decode %.1f ms, detector %.1f ms\n", path.filename().string().c_str(),
                img.width, img.height, dets.size(), decode_ms, det_ms);

    // 2. landmarks on the detection crops (extractFaceTensors, then 112x112).
    t = Clock::now();
    std::vector<Face> pf;
    std::vector<face::Image> lm_in;
    std::vector<std::array<int, 4>> lm_crop;
    for (std::size_t i = 0; i < dets.size(); ++i) {
      int x, y, w, h;
      face::crop_rect(dets[i].box, img.width, img.height, x, y, w, h);
      if (w <= 0 || h <= 0) continue;
      pf.push_back({p, static_cast<int>(i), dets[i], {}, {}, {}});
      lm_crop.push_back({x, y, w, h});
      lm_in.push_back(face::landmark_input(face::crop(img, x, y, w, h)));
    }
    tot.pre_face_ms += ms_since(t);
    std::vector<std::array<float, face::Landmarker::outputs>> lm_out;
    if (!lm_in.empty()) {
      tot.lm_ms += best_of(opt.repeat, [&] { lm_out = landmarker.run(lm_in); });
      tot.lm_faces += lm_in.size();
    }
    // 3. the aligned crops, 4. descriptors.
    t = Clock::now();
    std::vector<face::Image> rec_in;
    std::vector<std::size_t> rec_face;
    for (std::size_t i = 0; i < pf.size(); ++i) {
      pf[i].landmarks = face::landmark_positions(lm_out[i], lm_crop[i][2], lm_crop[i][3], pf[i].det.box);
      pf[i].aligned = face::align_dlib(pf[i].landmarks, lm_crop[i][2], lm_crop[i][3]);
      int x, y, w, h;
      face::crop_rect(pf[i].aligned, img.width, img.height, x, y, w, h);
      if (w <= 0 || h <= 0) continue;
      rec_in.push_back(face::recognizer_input(face::crop(img, x, y, w, h)));
      rec_face.push_back(i);
    }
    tot.pre_face_ms += ms_since(t);
    std::vector<std::array<float, 128>> desc;
    if (!rec_in.empty()) {
      tot.rec_ms += best_of(opt.repeat, [&] { desc = recognizer.run(rec_in, nullptr, exec); });
      tot.rec_faces += rec_in.size();
    }
    for (std::size_t k = 0; k < rec_face.size(); ++k) pf[rec_face[k]].descriptor = desc[k];
    for (const auto& f : pf)
      std::printf("  face %d: x %7.1f y %7.1f w %6.1f h %6.1f  score %.4f  aligned crop (%g, %g) %gx%g\n", f.index,
                  f.det.box.x, f.det.box.y, f.det.box.w, f.det.box.h, f.det.score, f.aligned.x, f.aligned.y,
                  f.aligned.w, f.aligned.h);

    if (opt.check) {
      t = Clock::now();
      const auto ref = face::ref::run_detector(det_w, input);
      const double sd = max_abs_diff(ref.scores, raw.scores);
      const double ed = std::max(max_abs_diff(ref.encodings, raw.encodings), max_abs_diff(ref.logits, raw.logits));
      const auto ref_dets = face::locate_faces(ref.boxes, ref.scores, img.width, img.height, opt.detect);
      bool same = ref_dets.size() == dets.size();
      double min_iou = 1;
      for (std::size_t i = 0; same && i < dets.size(); ++i)
        min_iou = std::min(min_iou, face::iou(dets[i].box, ref_dets[i].box));
      same = same && min_iou >= 0.99;
      double ld = 0, dd = 0, cmin = 1;
      int rect_diff = 0;
      for (std::size_t i = 0; i < lm_in.size(); ++i) {
        const auto r = face::ref::run_landmarks(lm_w, lm_in[i]);
        ld = std::max(ld, max_abs_diff(r, lm_out[i]));
        // the aligned box from the reference's landmarks: the same pixels?
        const auto rp = face::landmark_positions(r, lm_crop[i][2], lm_crop[i][3], pf[i].det.box);
        const auto ra = face::align_dlib(rp, lm_crop[i][2], lm_crop[i][3]);
        rect_diff += ra.x != pf[i].aligned.x || ra.y != pf[i].aligned.y || ra.w != pf[i].aligned.w ||
                     ra.h != pf[i].aligned.h;
      }
      for (std::size_t k = 0; k < rec_in.size(); ++k) {
        const auto r = face::ref::run_recognizer(rec_w, rec_in[k]);
        dd = std::max(dd, max_abs_diff(r, desc[k]));
        cmin = std::min(cmin, face::cosine_similarity(r, desc[k]));
      }
      const bool ok = same && sd <= kScoreTol && ed <= kEncodingTol && ld <= kLandmarkTol && dd <= kDescriptorTol &&
                      cmin >= kCosineMin;
      tot.check_failures += !ok;
      tot.rect_mismatches += rect_diff;
      std::printf("  check vs plain reference (%.0f ms): %s; faces %zu vs %zu (min IoU %.6f); max |diff|: score %.2g, "
                  "box encoding/logit %.2g, landmarks %.2g, descriptor %.2g; min cosine %.8f; aligned boxes "
                  "differing: %d\n",
                  ms_since(t), ok ? "OK" : "FAILED", dets.size(), ref_dets.size(), min_iou, sd, ed, ld, dd, cmin,
                  rect_diff);
      tot.score_diff = std::max(tot.score_diff, sd);
      tot.enc_diff = std::max(tot.enc_diff, ed);
      tot.lm_diff = std::max(tot.lm_diff, ld);
      tot.desc_diff = std::max(tot.desc_diff, dd);
      tot.min_cos = std::min(tot.min_cos, cmin);
    }
    if (faceapi) {
      const auto it = faceapi->find(path.stem().string());
      if (it == faceapi->end()) {
        std::printf("  face-api: no results for %s in %s\n", path.stem().string().c_str(), faceapi_file.c_str());
      } else {
        const auto& ref = it->second;
        ++tot.fa_photos;
        bool ok = ref.size() == pf.size();
        double min_iou = 1, sd = 0, dd = 0, cmin = 1;
        std::size_t same_aligned = 0;
        for (const auto& f : pf) {
          // the face-api face with the best IoU
          const FaceApiFace* best = nullptr;
          double bi = -1;
          for (const auto& r : ref)
            if (const double v = face::iou(f.det.box, r.box); v > bi) bi = v, best = &r;
          if (!best) continue;
          min_iou = std::min(min_iou, bi);
          sd = std::max(sd, std::abs(best->score - f.det.score));
          same_aligned += best->aligned.x == f.aligned.x && best->aligned.y == f.aligned.y &&
                          best->aligned.w == f.aligned.w && best->aligned.h == f.aligned.h;
          dd = std::max(dd, max_abs_diff(best->descriptor, f.descriptor));
          cmin = std::min(cmin, face::cosine_similarity(best->descriptor, f.descriptor));
        }
        ok = ok && min_iou >= kFaceApiIou && cmin >= kFaceApiCosine;
        tot.fa_failures += !ok;
        tot.fa_faces += pf.size();
        tot.fa_aligned_same += same_aligned;
        tot.fa_min_iou = std::min(tot.fa_min_iou, min_iou);
        tot.fa_score_diff = std::max(tot.fa_score_diff, sd);
        tot.fa_desc_diff = std::max(tot.fa_desc_diff, dd);
        tot.fa_min_cos = std::min(tot.fa_min_cos, cmin);
        std::printf("  vs face-api itself: %s; faces %zu vs %zu, min IoU %.6f, max |score diff| %.2g, aligned crops "
                    "identical %zu/%zu, max |descriptor diff| %.2g, min cosine %.8f\n",
                    ok ? "OK" : "DIFFERENT", pf.size(), ref.size(), min_iou, sd, same_aligned, pf.size(), dd, cmin);
      }
    }
    if (opt.images) {
      std::vector<face::Detection> aligned;
      for (const auto& f : pf) {
        aligned.push_back({f.aligned, f.det.score});
        draw_landmarks(img, f.landmarks);
      }
      static constexpr uint8_t kYellow[3] = {255, 210, 0};
      const fs::path o = opt.out / (path.stem().string() + "_faces.png");
      face::Image drawn = img;
      face::write_png_with_boxes(o, drawn, dets, 3, nullptr, &aligned, kYellow);
      std::printf("  wrote %s\n", o.string().c_str());
    }
    for (std::size_t k = 0; k < rec_face.size(); ++k) faces.push_back(pf[rec_face[k]]);
  }

  if (faces.size() > 1) {
    std::printf("\ndescriptor distances (Euclidean; face-api: < 0.6 = same person)\n%-10s", "");
    for (const auto& f : faces) std::printf(" %9s", label(opt.photos, f).c_str());
    std::printf("\n");
    for (const auto& a : faces) {
      std::printf("%-10s", label(opt.photos, a).c_str());
      for (const auto& b : faces) std::printf(" %9.3f", face::euclidean_distance(a.descriptor, b.descriptor));
      std::printf("\n");
    }
    std::printf("\nclosest face in the other photos\n");
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

  const char* algo_name = opt.algo == Algo::winograd ? "winograd" : opt.algo == Algo::im2col ? "im2col" : "auto";
  std::printf("\ntiming: %d thread(s) (landmarks: 1), %s, best of %d runs, recognition 3x3 convs: %s\n", opt.threads,
              sinter::default_arch::name(), opt.repeat, algo_name);
  if (tot.photos)
    std::printf("  detector      %6.3f GFLOP per photo: %8.2f ms per photo (%5.1f GFLOP/s)\n", detector.flops() * 1e-9,
                tot.det_ms / tot.photos, detector.flops() * tot.photos / tot.det_ms * 1e-6);
  if (tot.lm_faces)
    std::printf("  landmarks     %6.3f GFLOP per face:  %8.2f ms per face  (%5.1f GFLOP/s)\n",
                landmarker.flops() * 1e-9, tot.lm_ms / tot.lm_faces,
                landmarker.flops() * tot.lm_faces / tot.lm_ms * 1e-6);
  if (tot.rec_faces)
    std::printf("  recognition   %6.3f GFLOP per face:  %8.2f ms per face  (%5.1f GFLOP/s)\n",
                recognizer.flops() * 1e-9, tot.rec_ms / tot.rec_faces,
                recognizer.flops() * tot.rec_faces / tot.rec_ms * 1e-6);
  if (tot.photos)
    std::printf("  pre-processing, not included above: pad + resize to 512x512 %.2f ms per photo; crops + resizes "
                "to 112x112 and 150x150 %.2f ms per photo\n",
                tot.pre_det_ms / tot.photos, tot.pre_face_ms / tot.photos);
  if (tot.fa_photos)
    std::printf("\nvs face-api 1.7.15 itself (tfjs CPU backend, same pixels), %zu photo(s), %zu face(s): min IoU %.6f "
                "(min %.2f), max |score diff| %.2g, aligned crops identical %zu/%zu, max |descriptor diff| %.2g, min "
                "cosine %.8f (min %.4f): %s\n",
                tot.fa_photos, tot.fa_faces, tot.fa_min_iou, kFaceApiIou, tot.fa_score_diff, tot.fa_aligned_same,
                tot.fa_faces, tot.fa_desc_diff, tot.fa_min_cos, kFaceApiCosine, tot.fa_failures ? "DIFFERENT" : "OK");
  if (opt.check) {
    std::printf("\ncheck vs plain reference, %zu photo(s): max |diff| score %.2g (tol %.0e), box encoding/logit %.2g "
                "(tol %.0e), landmarks %.2g (tol %.0e), descriptor %.2g (tol %.0e); min cosine %.8f (min %.4f); "
                "aligned boxes differing %d: %s\n",
                tot.photos, tot.score_diff, kScoreTol, tot.enc_diff, kEncodingTol, tot.lm_diff, kLandmarkTol,
                tot.desc_diff, kDescriptorTol, tot.min_cos, kCosineMin, tot.rect_mismatches,
                tot.check_failures ? "FAILED" : "OK");
    return tot.check_failures || tot.fa_failures ? 1 : 0;
  }
  return tot.fa_failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) try {
  Options opt = parse(argc, argv);
  const fs::path pkg = ensure_assets(opt.assets);
  opt.default_photos = opt.photos.empty();
  if (opt.photos.empty())
    for (int i = 1; i <= 6; ++i) opt.photos.push_back(pkg / "demo" / ("sample" + std::to_string(i) + ".jpg"));
  switch (opt.algo) {
    case Algo::im2col: return run<sinter::algo::Im2col>(opt, pkg);
    case Algo::winograd: return run<sinter::algo::Winograd2x3>(opt, pkg);
    default: return run<sinter::algo::Automatic>(opt, pkg);
  }
} catch (const std::exception& e) {
  std::fprintf(stderr, "face_demo: error: %s\n", e.what());
  return 1;
}
