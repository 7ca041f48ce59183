// The two real networks of the face example (examples/face/), end to end:
//   detector     face-api's SSD MobileNet-v1, 512x512 input, ~6.3 GFLOP
//   recognizer   face-api's ResNet (dlib's face descriptor), one 150x150 face, ~0.54 GFLOP
// each built fused (every conv one sinter layer with its whole chain) and unfused (the
// same bare convs, then every element-wise op of the chains and prologues as its own
// s::elementwise pass), on 1, 2, 4, ... threads up to the machine's cores (thread_pool).
// Pre-processing (decoding, resizing) is not part of the timed region: the input is a
// fixed synthetic image of the network's input size (time does not depend on content).
//
// Counters: GFLOP/s (the networks' conv and linear FLOPs, 2 per multiply-add, over wall
// time: UseRealTime, so 1 and 2 threads compare).
//
// The ratios come from paired cases, which alternate their variants in every iteration
// (bench::run_paired) so that both share the machine's load; on a shared machine the
// time of one network drifts by 10-20% within minutes, more than the ratios measure:
//   BM_<net>_fusion    fused and unfused on one thread: ratio unfused/fused
//   BM_<net>_threads   fused on 1 and 2 threads (wall time): ratio 1t/2t, and 2t:%peak
//                      per core (machines with 2 cores or more)
// Run each on the cores it uses (repetitions: --benchmark_repetitions=5
// --benchmark_report_aggregates_only=true):
//   taskset -c 1 ./bench_face --benchmark_filter='threads:1|fusion' <repetitions>
//   taskset -c 0,1 ./bench_face --benchmark_filter='_threads' <repetitions>
// The weights come from face-api's npm package (examples/face/fetch_assets.sh, cache
// $SINTER_FACE_ASSETS or ~/.cache/sinter/face-api); without them every case is skipped
// with a message.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <sinter/sinter.hpp>
#include <string>
#include <thread>
#include <utility>

#include "../examples/face/detector.hpp"
#include "../examples/face/recognizer.hpp"
#include "common.hpp"

namespace {

namespace fs = std::filesystem;

fs::path model_dir() {
  fs::path cache;
  if (const char* e = std::getenv("SINTER_FACE_ASSETS"); e && *e)
    cache = e;
  else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    cache = fs::path(x) / "sinter" / "face-api";
  else if (const char* h = std::getenv("HOME"); h && *h)
    cache = fs::path(h) / ".cache" / "sinter" / "face-api";
  return cache / "package" / "model";
}

/// The weights of `model`, or null (with the reason in `why`) when not fetched.
std::shared_ptr<const face::WeightMap> weights(const std::string& model, std::string& why) {
  const fs::path dir = model_dir();
  if (!fs::exists(dir / (model + ".bin"))) {
    why = "no " + (dir / (model + ".bin")).string() + ": run examples/face/fetch_assets.sh";
    return nullptr;
  }
  try {
    return std::make_shared<const face::WeightMap>(face::WeightMap::load(dir, model));
  } catch (const std::exception& e) {
    why = e.what();
    return nullptr;
  }
}

/// The weights of `model`, loaded once per process; null, with the case skipped and the
/// reason given, when they cannot be loaded.
const face::WeightMap* model_weights(benchmark::State& state, const std::string& model) {
  static std::map<std::string, std::pair<std::shared_ptr<const face::WeightMap>, std::string>> cache;
  auto it = cache.find(model);
  if (it == cache.end()) {
    std::string why;
    auto w = weights(model, why);
    it = cache.emplace(model, std::pair{std::move(w), std::move(why)}).first;
  }
  if (!it->second.first) {
    state.SkipWithError(it->second.second.c_str());
    return nullptr;
  }
  return it->second.first.get();
}

/// A smooth synthetic RGB image in [0, 255].
face::Image synthetic(int side) {
  face::Image img(side, side);
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      for (int c = 0; c < 3; ++c)
        img.pixel(x, y)[c] = 127.5f + 127.5f * std::sin(0.05f * static_cast<float>(x + 2 * y) + 2.f * static_cast<float>(c));
  return img;
}

/// The networks' fixed inputs, and one run of a network on an executor.
const face::Image& detector_input() {
  static const face::Image input = synthetic(face::Detector::input_size);
  return input;
}
const std::vector<face::Image>& recognizer_input() {
  static const std::vector<face::Image> input{synthetic(150)};
  return input;
}
struct RunDetector {
  template <class Net, class Exec>
  void operator()(Net& net, const Exec& exec) const {
    auto out = net.run(detector_input(), nullptr, exec);
    benchmark::DoNotOptimize(out.scores.data());
  }
};
struct RunRecognizer {
  template <class Net, class Exec>
  void operator()(Net& net, const Exec& exec) const {
    auto out = net.run(recognizer_input(), nullptr, exec);
    benchmark::DoNotOptimize(out.data());
  }
};

template <class Policy>
using DetectorNet = face::BasicDetector<Policy>;
template <class Policy>
using RecognizerNet = face::Recognizer<sinter::algo::Automatic, Policy>;

/// `Net` on state.range(0) threads, timed by Google Benchmark.
template <class Net, class Run>
void run_net(benchmark::State& state, const char* model, Run run) {
  const face::WeightMap* w = model_weights(state, model);
  if (!w) return;
  const int threads = static_cast<int>(state.range(0));
  Net net(*w, threads);
  const sinter::thread_pool exec(threads);
  run(net, exec);  // warm-up: first-touch of activations and workspace
  for (auto _ : state) run(net, exec);
  state.counters["GFLOP/s"] = benchmark::Counter(net.flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(sinter::default_arch::name());
}

/// Fused and unfused `Net<Policy>` alternately on one thread; ratio unfused/fused.
template <template <class> class Net, class Run>
void fusion_pair(benchmark::State& state, const char* model, Run run) {
  const face::WeightMap* w = model_weights(state, model);
  if (!w) return;
  Net<face::Fused> fused(*w);
  Net<face::Unfused> unfused(*w);
  const sinter::serial_executor serial;
  bench::run_paired(state,
                    {{"fused", [&] { run(fused, serial); }, {fused.flops(), 0}},
                     {"unfused", [&] { run(unfused, serial); }, {unfused.flops(), 0}}},
                    {{"unfused/fused", 1, 0}});
  state.SetLabel(sinter::default_arch::name());
}

/// The fused `Net` on 1 and 2 threads alternately (wall time); ratio 1t/2t.
template <class Net, class Run>
void threads_pair(benchmark::State& state, const char* model, Run run) {
  const face::WeightMap* w = model_weights(state, model);
  if (!w) return;
  Net net(*w, 2);
  const sinter::thread_pool one(1), two(2);
  bench::run_paired(state,
                    {{.name = "1t", .run = [&] { run(net, one); }, .work = {net.flops(), 0}},
                     {.name = "2t", .run = [&] { run(net, two); }, .work = {net.flops(), 0}, .cores = 2}},
                    {{"1t/2t", 0, 1}}, bench::Clock::wall);
  state.SetLabel(sinter::default_arch::name());
}

template <class Policy>
void BM_detector(benchmark::State& state) {
  run_net<DetectorNet<Policy>>(state, "ssd_mobilenetv1_model", RunDetector{});
}
template <class Policy>
void BM_recognizer(benchmark::State& state) {
  run_net<RecognizerNet<Policy>>(state, "face_recognition_model", RunRecognizer{});
}
void BM_detector_fusion(benchmark::State& state) { fusion_pair<DetectorNet>(state, "ssd_mobilenetv1_model", RunDetector{}); }
void BM_recognizer_fusion(benchmark::State& state) {
  fusion_pair<RecognizerNet>(state, "face_recognition_model", RunRecognizer{});
}
void BM_detector_threads(benchmark::State& state) {
  threads_pair<DetectorNet<face::Fused>>(state, "ssd_mobilenetv1_model", RunDetector{});
}
void BM_recognizer_threads(benchmark::State& state) {
  threads_pair<RecognizerNet<face::Fused>>(state, "face_recognition_model", RunRecognizer{});
}

/// 1, 2, 4, 8, 16 threads, up to the cores this machine has.
void thread_counts(benchmark::internal::Benchmark* b) {
  b->ArgName("threads")->UseRealTime()->Unit(benchmark::kMillisecond);
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int t = 1; t <= 16; t *= 2)
    if (t == 1 || t <= cores) b->Arg(t);
}

BENCHMARK_TEMPLATE(BM_detector, face::Fused)->Apply(thread_counts);
BENCHMARK_TEMPLATE(BM_detector, face::Unfused)->Apply(thread_counts);
BENCHMARK_TEMPLATE(BM_recognizer, face::Fused)->Apply(thread_counts);
BENCHMARK_TEMPLATE(BM_recognizer, face::Unfused)->Apply(thread_counts);
BENCHMARK(BM_detector_fusion)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_recognizer_fusion)->Unit(benchmark::kMillisecond);

/// Registers the thread pairs on machines with 2 cores or more.
[[maybe_unused]] const bool threads_registered = [] {
  if (std::thread::hardware_concurrency() >= 2) {
    benchmark::RegisterBenchmark("BM_detector_threads", BM_detector_threads)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("BM_recognizer_threads", BM_recognizer_threads)->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace
