// Multi-core scaling of every kernel: ResNet-18's conv layers and MobileNet-v1's
// depthwise and pointwise layers (224x224 input, batch 1), each with its fused chain,
// on 1, 2, 4, 8, 16 threads up to the machine's cores (s::thread_pool: persistent
// workers, the caller is worker 0).
//   resnet18/...   3x3 conv (algo::Automatic: Winograd F(2x2,3x3) at stride 1,
//                  im2col otherwise) or 1x1 shortcut conv, + bias, scale, shift, relu
//   mobilenet/dw   depthwise 3x3 + folded batch-norm (mul, add per channel) + relu6
//   mobilenet/pw   pointwise 1x1 + bias + relu6
//   mobilenet/sep  both as one s::depthwise_separable layer
// Counters: GFLOP/s over wall time (UseRealTime), the layer's direct-convolution FLOPs
// (2 per multiply-add; for Winograd "effective" GFLOP/s). Speed-up of T threads = time
// at 1 thread / time at T, both medians of the same run:
//   taskset -c 0,1 ./bench_threads --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Results are bitwise identical for any thread count (tests/test_*threads*.cpp).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <sinter/sinter.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace s = sinter;
using s::index_t;

std::vector<float> random_vec(std::size_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

void finish(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(s::default_arch::name());
}

/// conv KxK (compile-time extent, as a network writes it), C_in -> C_out on hw x hw,
/// stride, + bias, scale, shift, relu.
template <index_t K>
void BM_conv(benchmark::State& state, index_t hw, index_t cin, index_t cout, index_t stride) {
  constexpr index_t k = K;
  const int threads = static_cast<int>(state.range(0));
  const index_t pad = k / 2;
  const auto w = random_vec(static_cast<std::size_t>(cout * k * k * cin), 1, -0.1f, 0.1f);
  const auto b = random_vec(static_cast<std::size_t>(cout), 2), sc = random_vec(static_cast<std::size_t>(cout), 3),
             sh = random_vec(static_cast<std::size_t>(cout), 4);
  const auto layer = s::conv2d<K, K>(s::ohwi(w.data(), cout, k, k, cin), {.stride = stride, .pad = pad}) | s::add(s::per_channel(b)) |
                     s::mul(s::per_channel(sc)) | s::add(s::per_channel(sh)) | s::relu();
  const s::Shape4 in_shape{1, hw, hw, cin};
  const s::Shape4 out_shape = layer.output_shape(in_shape);
  const auto x = random_vec(static_cast<std::size_t>(hw * hw * cin), 5);
  std::vector<float> y(static_cast<std::size_t>(out_shape.h * out_shape.w * cout));
  std::vector<std::byte> ws(layer.workspace_size(in_shape, threads));
  const s::thread_pool exec(threads);
  const auto in = s::nhwc(x.data(), 1, hw, hw, cin);
  const auto out = s::nhwc(y.data(), 1, out_shape.h, out_shape.w, cout);
  for (auto _ : state) {
    layer(in, out, ws, exec);
    benchmark::ClobberMemory();
  }
  finish(state, 2.0 * static_cast<double>(out_shape.h * out_shape.w * cout) * static_cast<double>(k * k * cin));
}

/// depthwise 3x3 on hw x hw x c, stride, SAME padding, + mul, add, relu6.
void BM_depthwise(benchmark::State& state, index_t hw, index_t c, index_t stride) {
  const int threads = static_cast<int>(state.range(0));
  const auto w = random_vec(static_cast<std::size_t>(9 * c), 1);
  const auto sc = random_vec(static_cast<std::size_t>(c), 2), sh = random_vec(static_cast<std::size_t>(c), 3);
  const auto layer = s::depthwise_conv2d<3, 3>(s::depthwise_filter(w.data(), 3, 3, c),
                                               {.stride = stride, .pad = s::same_padding(hw, hw, 3, 3, stride)}) |
                     s::mul(s::per_channel(sc)) | s::add(s::per_channel(sh)) | s::relu6();
  const s::Shape4 in_shape{1, hw, hw, c};
  const index_t ohw = (hw + stride - 1) / stride;
  const auto x = random_vec(static_cast<std::size_t>(hw * hw * c), 5);
  std::vector<float> y(static_cast<std::size_t>(ohw * ohw * c));
  std::vector<std::byte> ws(layer.workspace_size(in_shape, threads));
  const s::thread_pool exec(threads);
  const auto in = s::nhwc(x.data(), 1, hw, hw, c);
  const auto out = s::nhwc(y.data(), 1, ohw, ohw, c);
  for (auto _ : state) {
    layer(in, out, ws, exec);
    benchmark::ClobberMemory();
  }
  finish(state, 2.0 * static_cast<double>(ohw * ohw * c) * 9.0);
}

/// depthwise-separable block: depthwise 3x3 on hw x hw x c (stride, SAME padding) +
/// mul, add, relu6, then pointwise c -> cout + add, relu6, as one s::depthwise_separable.
void BM_separable(benchmark::State& state, index_t hw, index_t c, index_t cout, index_t stride) {
  const int threads = static_cast<int>(state.range(0));
  const auto wd = random_vec(static_cast<std::size_t>(9 * c), 1);
  const auto wp = random_vec(static_cast<std::size_t>(cout * c), 2, -0.1f, 0.1f);
  const auto sc = random_vec(static_cast<std::size_t>(c), 3), sh = random_vec(static_cast<std::size_t>(c), 4),
             b = random_vec(static_cast<std::size_t>(cout), 5);
  const auto layer = s::depthwise_separable(
      s::depthwise_conv2d<3, 3>(s::depthwise_filter(wd.data(), 3, 3, c),
                                {.stride = stride, .pad = s::same_padding(hw, hw, 3, 3, stride)}) |
          s::mul(s::per_channel(sc)) | s::add(s::per_channel(sh)) | s::relu6(),
      s::conv2d<1, 1>(s::ohwi(wp.data(), cout, 1, 1, c), {}) | s::add(s::per_channel(b)) | s::relu6());
  const s::Shape4 in_shape{1, hw, hw, c};
  const index_t ohw = (hw + stride - 1) / stride;
  const auto x = random_vec(static_cast<std::size_t>(hw * hw * c), 6);
  std::vector<float> y(static_cast<std::size_t>(ohw * ohw * cout));
  std::vector<std::byte> ws(layer.workspace_size(in_shape, threads));
  const s::thread_pool exec(threads);
  const auto in = s::nhwc(x.data(), 1, hw, hw, c);
  const auto out = s::nhwc(y.data(), 1, ohw, ohw, cout);
  for (auto _ : state) {
    layer(in, out, ws, exec);
    benchmark::ClobberMemory();
  }
  finish(state, 2.0 * static_cast<double>(ohw * ohw * c) * (9.0 + static_cast<double>(cout)));
}

void BM_conv3x3(benchmark::State& state, index_t hw, index_t cin, index_t cout, index_t stride) {
  BM_conv<3>(state, hw, cin, cout, stride);
}
void BM_conv1x1(benchmark::State& state, index_t hw, index_t cin, index_t cout, index_t stride) {
  BM_conv<1>(state, hw, cin, cout, stride);
}

/// 1, 2, 4, 8, 16 threads, up to the cores this machine has.
void thread_counts(benchmark::internal::Benchmark* b) {
  b->ArgName("threads")->UseRealTime()->Unit(benchmark::kMicrosecond);
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int t = 1; t <= 16; t *= 2)
    if (t == 1 || t <= cores) b->Arg(t);
}

// ResNet-18 (224x224 input): the 3x3 convs of each stage, the stride-2 first convs and
// the 1x1 stride-2 shortcuts.
BENCHMARK_CAPTURE(BM_conv3x3, resnet18/56x56x64_3x3, 56, 64, 64, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv3x3, resnet18/28x28x128_3x3, 28, 128, 128, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv3x3, resnet18/14x14x256_3x3, 14, 256, 256, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv3x3, resnet18/7x7x512_3x3, 7, 512, 512, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv3x3, resnet18/56x56x64-128_3x3s2, 56, 64, 128, 2)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv3x3, resnet18/28x28x128-256_3x3s2, 28, 128, 256, 2)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv1x1, resnet18/56x56x64-128_1x1s2, 56, 64, 128, 2)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv1x1, resnet18/14x14x256-512_1x1s2, 14, 256, 512, 2)->Apply(thread_counts);

// MobileNet-v1 (224x224 input): depthwise layers and the pointwise layer after each.
BENCHMARK_CAPTURE(BM_conv3x3, mobilenet/stem_224x224x3-32_3x3s2, 224, 3, 32, 2)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_depthwise, mobilenet/dw_112x112x32, 112, 32, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv1x1, mobilenet/pw_112x112x32-64, 112, 32, 64, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_depthwise, mobilenet/dw_112x112x64_s2, 112, 64, 2)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv1x1, mobilenet/pw_56x56x64-128, 56, 64, 128, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_depthwise, mobilenet/dw_56x56x128, 56, 128, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv1x1, mobilenet/pw_56x56x128-128, 56, 128, 128, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_depthwise, mobilenet/dw_28x28x256, 28, 256, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv1x1, mobilenet/pw_28x28x256-256, 28, 256, 256, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_depthwise, mobilenet/dw_14x14x512, 14, 512, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv1x1, mobilenet/pw_14x14x512-512, 14, 512, 512, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_depthwise, mobilenet/dw_7x7x1024, 7, 1024, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_conv1x1, mobilenet/pw_7x7x1024-1024, 7, 1024, 1024, 1)->Apply(thread_counts);

// MobileNet-v1 depthwise-separable blocks as one layer (s::depthwise_separable).
BENCHMARK_CAPTURE(BM_separable, mobilenet/sep_112x112x32-64, 112, 32, 64, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_separable, mobilenet/sep_56x56x128-128, 56, 128, 128, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_separable, mobilenet/sep_14x14x512-512, 14, 512, 512, 1)->Apply(thread_counts);
BENCHMARK_CAPTURE(BM_separable, mobilenet/sep_7x7x1024-1024, 7, 1024, 1024, 1)->Apply(thread_counts);

}  // namespace
