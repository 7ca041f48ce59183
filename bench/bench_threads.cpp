// Multi-core scaling of every kernel: ResNet-18's conv layers and MobileNet-v1's
// depthwise and pointwise layers (224x224 input, batch 1), each with its fused chain,
// on 1, 2, 4, 8, 16 threads up to the machine's cores (s::thread_pool: persistent
// workers, the caller is worker 0).
//   resnet18/...   3x3 conv (algo::Automatic: Winograd F(2x2,3x3) at stride 1,
//                  im2col otherwise) or 1x1 shortcut conv, + bias, scale, shift, relu
//   mobilenet/dw   depthwise 3x3 + folded batch-norm (mul, add per channel) + relu6
//   mobilenet/pw   pointwise 1x1 + bias + relu6
//   mobilenet/sep  both as one s::depthwise_separable layer
// BM_pool_call: one parallel_for of empty tasks, the pool's own cost per layer call.
// Counters: GFLOP/s over wall time (UseRealTime), the layer's direct-convolution FLOPs
// (2 per multiply-add; for Winograd "effective" GFLOP/s). Speed-up of T threads = time
// at 1 thread / time at T, both medians of the same run:
//   taskset -c 0,1 ./bench_threads --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Results are bitwise identical for any thread count (tests/test_*threads*.cpp).
//
// BM_split_<kind> (threads:2, 4, 16 on any machine): the layer cut as for T workers, its
// tasks run one after another on one core and each one timed, alternating with the
// layer on one worker. Counters: tasks (per call), speedup_ceiling (the one-worker time
// / the time s::thread_pool's dealing of the tasks would take on T workers with no
// overhead and no contention for memory; medians of the task times over 21 runs),
// efficiency (speedup_ceiling / T). A ceiling < T shows where the split runs out of
// work or leaves tasks of unequal sizes; it does not show bandwidth limits. The Time
// column is the serial run's, not a parallel time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
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

/// An executor for `n` workers that runs every task in turn on the calling thread and
/// times it, under the worker index s::thread_pool deals it to first (its contiguous
/// share): a layer's split at n threads, measured on one core.
struct SplitRecorder {
  int n = 1;
  std::vector<std::vector<double>>* calls = nullptr;  // per parallel_for call: seconds per task

  int threads() const noexcept { return n; }
  template <class F>
  void parallel_for(index_t tasks, F&& f) const {
    std::vector<double>& t = calls->emplace_back(static_cast<std::size_t>(tasks));
    int w = 0;
    for (index_t i = 0; i < tasks; ++i) {
      while (w + 1 < n && tasks * (w + 1) / n <= i) ++w;
      const auto t0 = std::chrono::steady_clock::now();
      f(i, w);
      t[static_cast<std::size_t>(i)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  }
};

/// Time to run tasks of these durations the way s::thread_pool deals them on n workers:
/// each worker runs its contiguous share in order, then takes the first task left in the
/// shares after its own, whenever it is the earliest worker free. No overheads, no
/// contention for memory: a ceiling.
double pool_makespan(const std::vector<double>& t, int n) {
  const auto tasks = static_cast<index_t>(t.size());
  std::vector<index_t> next(static_cast<std::size_t>(n)), end(static_cast<std::size_t>(n));
  for (int w = 0; w < n; ++w) {
    next[static_cast<std::size_t>(w)] = tasks * w / n;
    end[static_cast<std::size_t>(w)] = tasks * (w + 1) / n;
  }
  std::vector<double> clock(static_cast<std::size_t>(n), 0.0);
  for (index_t done = 0; done < tasks; ++done) {
    const auto w = static_cast<int>(std::min_element(clock.begin(), clock.end()) - clock.begin());
    for (int k = 0; k < n; ++k) {
      const auto v = static_cast<std::size_t>((w + k) % n);
      if (next[v] < end[v]) {
        clock[static_cast<std::size_t>(w)] += t[static_cast<std::size_t>(next[v]++)];
        break;
      }
    }
  }
  return *std::max_element(clock.begin(), clock.end());
}

using SplitRuns = std::vector<std::vector<std::vector<double>>>;  // run, call, task: seconds

/// Per call, the median over runs of each task's time.
std::vector<std::vector<double>> median_tasks(const SplitRuns& runs) {
  std::vector<std::vector<double>> med(runs[0].size());
  for (std::size_t c = 0; c < med.size(); ++c)
    for (std::size_t i = 0; i < runs[0][c].size(); ++i) {
      std::vector<double> v;
      for (const auto& r : runs) v.push_back(r[c][i]);
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
      med[c].push_back(v[v.size() / 2]);
    }
  return med;
}

/// Counters of a split run: tasks (the largest call's), the speed-up the split allows
/// (the layer's time on one worker / the pool's makespan of the split's tasks, both
/// from median task times, so the work a split adds counts against it), and that
/// speed-up as a fraction of the thread count.
void report_split(benchmark::State& state, const SplitRuns& one, const SplitRuns& split, int threads) {
  if (one.empty() || split.empty()) return;
  double serial = 0, parallel = 0;
  std::size_t tasks = 0;
  for (const auto& call : median_tasks(one))
    for (double x : call) serial += x;
  for (const auto& call : median_tasks(split)) {
    parallel += pool_makespan(call, threads);
    tasks = std::max(tasks, call.size());
  }
  state.counters["tasks"] = static_cast<double>(tasks);
  state.counters["speedup_ceiling"] = serial / parallel;
  state.counters["efficiency"] = serial / parallel / threads;
  state.SetLabel(s::default_arch::name());
}

/// Runs `layer` on a thread pool of state.range(0) workers (Split: through SplitRecorder).
template <bool Split, class Layer, class In, class Out>
void drive(benchmark::State& state, const Layer& layer, s::Shape4 in_shape, In in, Out out, double flops) {
  const int threads = static_cast<int>(state.range(0));
  std::vector<std::byte> ws(layer.workspace_size(in_shape, threads));
  if constexpr (Split) {
    SplitRuns one, split;  // the layer on one worker, and cut for `threads`
    for (auto _ : state) {
      layer(in, out, ws, SplitRecorder{1, &one.emplace_back()});
      layer(in, out, ws, SplitRecorder{threads, &split.emplace_back()});
    }
    report_split(state, one, split, threads);
  } else {
    const s::thread_pool exec(threads);
    for (auto _ : state) {
      layer(in, out, ws, exec);
      benchmark::ClobberMemory();
    }
    finish(state, flops);
  }
}

/// conv KxK (compile-time extent, as a network writes it), C_in -> C_out on hw x hw,
/// stride, + bias, scale, shift, relu.
template <index_t K, bool Split>
void BM_conv(benchmark::State& state, index_t hw, index_t cin, index_t cout, index_t stride) {
  constexpr index_t k = K;
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
  const auto in = s::nhwc(x.data(), 1, hw, hw, cin);
  const auto out = s::nhwc(y.data(), 1, out_shape.h, out_shape.w, cout);
  drive<Split>(state, layer, in_shape, in, out,
               2.0 * static_cast<double>(out_shape.h * out_shape.w * cout) * static_cast<double>(k * k * cin));
}

/// depthwise 3x3 on hw x hw x c, stride, SAME padding, + mul, add, relu6.
template <bool Split>
void depthwise(benchmark::State& state, index_t hw, index_t c, index_t stride) {
  const auto w = random_vec(static_cast<std::size_t>(9 * c), 1);
  const auto sc = random_vec(static_cast<std::size_t>(c), 2), sh = random_vec(static_cast<std::size_t>(c), 3);
  const auto layer = s::depthwise_conv2d<3, 3>(s::depthwise_filter(w.data(), 3, 3, c),
                                               {.stride = stride, .pad = s::same_padding(hw, hw, 3, 3, stride)}) |
                     s::mul(s::per_channel(sc)) | s::add(s::per_channel(sh)) | s::relu6();
  const s::Shape4 in_shape{1, hw, hw, c};
  const index_t ohw = (hw + stride - 1) / stride;
  const auto x = random_vec(static_cast<std::size_t>(hw * hw * c), 5);
  std::vector<float> y(static_cast<std::size_t>(ohw * ohw * c));
  const auto in = s::nhwc(x.data(), 1, hw, hw, c);
  const auto out = s::nhwc(y.data(), 1, ohw, ohw, c);
  drive<Split>(state, layer, in_shape, in, out, 2.0 * static_cast<double>(ohw * ohw * c) * 9.0);
}

/// depthwise-separable block: depthwise 3x3 on hw x hw x c (stride, SAME padding) +
/// mul, add, relu6, then pointwise c -> cout + add, relu6, as one s::depthwise_separable.
template <bool Split>
void separable(benchmark::State& state, index_t hw, index_t c, index_t cout, index_t stride) {
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
  const auto in = s::nhwc(x.data(), 1, hw, hw, c);
  const auto out = s::nhwc(y.data(), 1, ohw, ohw, cout);
  drive<Split>(state, layer, in_shape, in, out,
               2.0 * static_cast<double>(ohw * ohw * c) * (9.0 + static_cast<double>(cout)));
}

void BM_conv3x3(benchmark::State& state, index_t hw, index_t cin, index_t cout, index_t stride) {
  BM_conv<3, false>(state, hw, cin, cout, stride);
}
void BM_conv1x1(benchmark::State& state, index_t hw, index_t cin, index_t cout, index_t stride) {
  BM_conv<1, false>(state, hw, cin, cout, stride);
}
void BM_depthwise(benchmark::State& state, index_t hw, index_t c, index_t stride) {
  depthwise<false>(state, hw, c, stride);
}
void BM_separable(benchmark::State& state, index_t hw, index_t c, index_t cout, index_t stride) {
  separable<false>(state, hw, c, cout, stride);
}
void BM_split_conv3x3(benchmark::State& state, index_t hw, index_t cin, index_t cout, index_t stride) {
  BM_conv<3, true>(state, hw, cin, cout, stride);
}
void BM_split_conv1x1(benchmark::State& state, index_t hw, index_t cin, index_t cout, index_t stride) {
  BM_conv<1, true>(state, hw, cin, cout, stride);
}
void BM_split_depthwise(benchmark::State& state, index_t hw, index_t c, index_t stride) {
  depthwise<true>(state, hw, c, stride);
}
void BM_split_separable(benchmark::State& state, index_t hw, index_t c, index_t cout, index_t stride) {
  separable<true>(state, hw, c, cout, stride);
}

/// The cost of one s::thread_pool call: parallel_for of 4 tasks per worker that do
/// nothing but write a line of their own, back to back (the workers spin between
/// calls, as in a network's layers). Time per call: the floor under any layer's time.
void BM_pool_call(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const s::thread_pool exec(threads);
  const index_t tasks = 4 * threads;
  struct alignas(64) Line {
    index_t v = 0;
  };
  std::vector<Line> lines(static_cast<std::size_t>(tasks));
  for (auto _ : state) {
    exec.parallel_for(tasks, [&](index_t i, int) { lines[static_cast<std::size_t>(i)].v += i; });
    benchmark::ClobberMemory();
  }
  state.SetLabel(s::default_arch::name());
}

/// 1, 2, 4, 8, 16 threads, up to the cores this machine has.
void thread_counts(benchmark::internal::Benchmark* b) {
  b->ArgName("threads")->UseRealTime()->Unit(benchmark::kMicrosecond);
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int t = 1; t <= 16; t *= 2)
    if (t == 1 || t <= cores) b->Arg(t);
}
/// The split at 2, 4 and 16 workers, whatever this machine has (one core runs it).
void split_counts(benchmark::internal::Benchmark* b) {
  b->ArgName("threads")->Unit(benchmark::kMicrosecond)->Iterations(21);
  for (int t : {2, 4, 16}) b->Arg(t);
}

// Each case twice: on s::thread_pool (BM_<kind>), and its split measured on one core
// (BM_split_<kind>).
#define SINTER_THREADS_CASE(kind, name, ...)                                   \
  BENCHMARK_CAPTURE(BM_##kind, name, __VA_ARGS__)->Apply(thread_counts); \
  BENCHMARK_CAPTURE(BM_split_##kind, name, __VA_ARGS__)->Apply(split_counts)

BENCHMARK(BM_pool_call)->Apply(thread_counts);

// ResNet-18 (224x224 input): the 3x3 convs of each stage, the stride-2 first convs and
// the 1x1 stride-2 shortcuts.
SINTER_THREADS_CASE(conv3x3, resnet18/56x56x64_3x3, 56, 64, 64, 1);
SINTER_THREADS_CASE(conv3x3, resnet18/28x28x128_3x3, 28, 128, 128, 1);
SINTER_THREADS_CASE(conv3x3, resnet18/14x14x256_3x3, 14, 256, 256, 1);
SINTER_THREADS_CASE(conv3x3, resnet18/7x7x512_3x3, 7, 512, 512, 1);
SINTER_THREADS_CASE(conv3x3, resnet18/56x56x64-128_3x3s2, 56, 64, 128, 2);
SINTER_THREADS_CASE(conv3x3, resnet18/28x28x128-256_3x3s2, 28, 128, 256, 2);
SINTER_THREADS_CASE(conv1x1, resnet18/56x56x64-128_1x1s2, 56, 64, 128, 2);
SINTER_THREADS_CASE(conv1x1, resnet18/14x14x256-512_1x1s2, 14, 256, 512, 2);

// MobileNet-v1 (224x224 input): depthwise layers and the pointwise layer after each.
SINTER_THREADS_CASE(conv3x3, mobilenet/stem_224x224x3-32_3x3s2, 224, 3, 32, 2);
SINTER_THREADS_CASE(depthwise, mobilenet/dw_112x112x32, 112, 32, 1);
SINTER_THREADS_CASE(conv1x1, mobilenet/pw_112x112x32-64, 112, 32, 64, 1);
SINTER_THREADS_CASE(depthwise, mobilenet/dw_112x112x64_s2, 112, 64, 2);
SINTER_THREADS_CASE(conv1x1, mobilenet/pw_56x56x64-128, 56, 64, 128, 1);
SINTER_THREADS_CASE(depthwise, mobilenet/dw_56x56x128, 56, 128, 1);
SINTER_THREADS_CASE(conv1x1, mobilenet/pw_56x56x128-128, 56, 128, 128, 1);
SINTER_THREADS_CASE(depthwise, mobilenet/dw_28x28x256, 28, 256, 1);
SINTER_THREADS_CASE(conv1x1, mobilenet/pw_28x28x256-256, 28, 256, 256, 1);
SINTER_THREADS_CASE(depthwise, mobilenet/dw_14x14x512, 14, 512, 1);
SINTER_THREADS_CASE(conv1x1, mobilenet/pw_14x14x512-512, 14, 512, 512, 1);
SINTER_THREADS_CASE(depthwise, mobilenet/dw_7x7x1024, 7, 1024, 1);
SINTER_THREADS_CASE(conv1x1, mobilenet/pw_7x7x1024-1024, 7, 1024, 1024, 1);

// MobileNet-v1 depthwise-separable blocks as one layer (s::depthwise_separable).
SINTER_THREADS_CASE(separable, mobilenet/sep_112x112x32-64, 112, 32, 64, 1);
SINTER_THREADS_CASE(separable, mobilenet/sep_56x56x128-128, 56, 128, 128, 1);
SINTER_THREADS_CASE(separable, mobilenet/sep_14x14x512-512, 14, 512, 512, 1);
SINTER_THREADS_CASE(separable, mobilenet/sep_7x7x1024-1024, 7, 1024, 1024, 1);

}  // namespace
