// Every layer split over an executor gives the serial result, bit for bit, and writes
// nothing outside its output: real threads (thread_executor, 2 to 8 workers) and a
// scheduler that runs the tasks in a shuffled order with worker indices handed out
// round-robin, which exercises orders and worker/scratch pairings a 2-core machine
// rarely produces. This file is also the ThreadSanitizer build's test (tests/run.sh).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <random>
#include <stdexcept>

#include "reference.hpp"

using namespace sinter_test;

namespace {

auto block5(Operands& o) {
  return s::add(o.per_channel()) | s::mul(o.per_channel(wide)) | s::add(o.per_channel()) | s::add(o.tensor()) |
         s::relu();
}

/// Runs `layer` serially, then on each executor, into guarded outputs: same bits.
template <class Layer, class Run>
void same_on_every_executor(const Layer& layer, Shape4 out_shape, Layout out_layout, Run&& run,
                            const std::string& what) {
  auto make_out = [&] {
    Layout l = out_layout;
    l.guard = std::max<index_t>(l.guard, 64);
    return Buffer4(out_shape, l);
  };
  Buffer4 serial = make_out();
  run(serial, s::serial_executor{});
  check_guards(serial, what + ", serial");
  for (int t : {2, 3, 8}) {
    Buffer4 par = make_out();
    run(par, s::thread_executor(t));
    check_guards(par, what + ", " + std::to_string(t) + " threads");
    CHECK_MESSAGE(same_bits(serial.dense(), par.dense()), what << ", " << t << " threads");
  }
  for (int t : {2, 5}) {
    const s::thread_pool pool(t);
    for (int rep = 0; rep < 2; ++rep) {  // a second call reuses the sleeping workers
      Buffer4 par = make_out();
      run(par, pool);
      check_guards(par, what + ", pool of " + std::to_string(t));
      CHECK_MESSAGE(same_bits(serial.dense(), par.dense()), what << ", pool of " << t);
    }
  }
  for (unsigned seed : {1u, 2u}) {
    Buffer4 par = make_out();
    run(par, ShuffledExecutor{.n = 4, .seed = seed});
    check_guards(par, what + ", shuffled");
    CHECK_MESSAGE(same_bits(serial.dense(), par.dense()), what << ", shuffled order " << seed);
  }
  (void)layer;
}

template <class Layer>
void conv_threads(const Layer& layer, const ConvCase& cc, const ConvData& d, const std::string& what) {
  INFO(what);
  same_on_every_executor(
      layer, cc.out_shape(), cc.out_layout,
      [&](Buffer4& out, const auto& exec) {
        std::vector<std::byte> ws(layer.workspace_size(cc.in_shape(), exec.threads()));
        layer(d.in.view(), out.view(), ws, exec);
      },
      what);
  // The serial result is also the right one.
  Buffer4 out(cc.out_shape(), cc.out_layout);
  std::vector<std::byte> ws(layer.workspace_size(cc.in_shape(), 3));
  layer(d.in.view(), out.view(), ws, s::thread_executor(3));
  check_output(out.view(), d.acc, layer.epilogue(), what + ", 3 threads vs reference");
}

}  // namespace

TEST_CASE("thread_executor runs every task once and rethrows a task's exception") {
  for (int t : {1, 2, 5}) {
    std::vector<std::atomic<int>> hits(1000);
    s::thread_executor(t).parallel_for(1000, [&](index_t i, int w) {
      CHECK((w >= 0 && w < t));
      hits[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
    });
    CHECK(std::all_of(hits.begin(), hits.end(), [](const auto& h) { return h.load() == 1; }));
    CHECK_THROWS_WITH_AS(s::thread_executor(t).parallel_for(64,
                                                            [&](index_t i, int) {
                                                              if (i == 37) throw std::runtime_error("task 37");
                                                            }),
                         "task 37", std::runtime_error);
  }
  CHECK_THROWS_AS(s::thread_executor(0), s::error);
}

TEST_CASE("thread_pool runs every task once per call, many calls, and rethrows a task's exception") {
  // spin 0: idle threads sleep at once (every hand-over through the condition
  // variables); 20 us: some calls find the workers spinning, some asleep.
  using us = std::chrono::microseconds;
  for (auto [t, spin] : {std::pair{1, s::thread_pool::default_spin}, {2, us(0)}, {2, s::thread_pool::default_spin},
                         {4, us(0)}, {4, us(20)}}) {
    CAPTURE(t);
    CAPTURE(spin.count());
    const s::thread_pool pool(t, spin);
    CHECK(pool.threads() == t);
    CHECK(pool.spin() == spin);
    std::vector<std::atomic<int>> hits(300);
    for (int call = 0; call < 200; ++call) {
      const index_t tasks = call % 7 == 0 ? 1 : 1 + call % 300;
      pool.parallel_for(tasks, [&](index_t i, int w) {
        CHECK((w >= 0 && w < t));
        hits[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
      });
      bool once = true;
      for (index_t i = 0; i < 300; ++i) once = once && hits[static_cast<std::size_t>(i)].exchange(0) == (i < tasks);
      CHECK_MESSAGE(once, "call " << call << ", " << tasks << " tasks");
    }
    CHECK_THROWS_WITH_AS(pool.parallel_for(64,
                                           [&](index_t i, int) {
                                             if (i == 17) throw std::runtime_error("task 17");
                                           }),
                         "task 17", std::runtime_error);
    // Still usable after an exception.
    std::atomic<index_t> sum{0};
    pool.parallel_for(100, [&](index_t i, int) { sum.fetch_add(i, std::memory_order_relaxed); });
    CHECK(sum.load() == 4950);
  }
  // Tasks of a call see each other's writes once the call returns; worker indices are
  // never shared by concurrent tasks (each worker's slot is written without a lock).
  const s::thread_pool pool(4);
  std::vector<index_t> per_worker(4, 0);
  pool.parallel_for(1000, [&](index_t, int w) { ++per_worker[static_cast<std::size_t>(w)]; });
  CHECK(per_worker[0] + per_worker[1] + per_worker[2] + per_worker[3] == 1000);
  CHECK_THROWS_AS(s::thread_pool(0), s::error);
  CHECK_THROWS_AS(s::thread_pool(2, us(-1)), s::error);
}

TEST_CASE("thread_pool with more threads than cores: seats, late workers, back-to-back calls") {
  // 8 and 16 threads on any machine (2 cores in CI): workers wake late, often after the
  // caller has run every task and closed the call; calls of fewer tasks than threads
  // leave workers out. Every task still runs once, and no two concurrent tasks share a
  // worker index.
  using us = std::chrono::microseconds;
  for (auto [t, spin] : {std::pair{8, us(0)}, {8, us(20)}, {16, us(0)}, {16, us(5)}}) {
    CAPTURE(t);
    CAPTURE(spin.count());
    const s::thread_pool pool(t, spin);
    std::vector<std::atomic<int>> hits(64);
    std::vector<std::atomic<int>> in_task(static_cast<std::size_t>(t));
    std::atomic<int> shared_index{0};
    for (int call = 0; call < 300; ++call) {
      const index_t tasks = 1 + (call * 7) % 40;
      pool.parallel_for(tasks, [&](index_t i, int w) {
        auto& mine = in_task[static_cast<std::size_t>(w)];
        if (mine.fetch_add(1, std::memory_order_relaxed) != 0) shared_index.fetch_add(1, std::memory_order_relaxed);
        hits[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
        mine.fetch_sub(1, std::memory_order_relaxed);
      });
      bool once = true;
      for (index_t i = 0; i < 64; ++i) once = once && hits[static_cast<std::size_t>(i)].exchange(0) == (i < tasks);
      CHECK_MESSAGE(once, "call " << call << ", " << tasks << " tasks");
    }
    CHECK(shared_index.load() == 0);
  }
  CHECK_THROWS_AS(s::thread_pool(s::thread_pool::max_threads + 1), s::error);
}

TEST_CASE("linear on an executor: same bits as serial") {
  // M spans several row blocks and a partial one; N several panels and an edge tile.
  for (auto [m, n, k] : {std::tuple<index_t, index_t, index_t>{3 * MC + 5, 3 * NR + 3, 37}, {7, 5 * NR, KC + 9}}) {
    const LinearCase lc{.m = m, .n = n, .k = k, .y_ld_pad = 3};
    const std::string what = lc.name();
    Rng rng(seed_of(what));
    LinearData d = make_linear_data(lc, rng);
    Operands ops(rng, lc.out_shape());
    const auto chain = s::add(ops.per_channel()) | s::add(ops.matrix()) | s::relu();
    const s::Linear<decltype(chain)> layer(d.w.data(), lc.n, lc.k, chain);
    same_on_every_executor(
        layer, lc.out_shape(), Layout{.pixel_pad = lc.y_ld_pad},
        [&](Buffer4& y, const auto& exec) {
          std::vector<std::byte> ws(layer.workspace_size(exec.threads()));
          layer(d.x.matrix(), y.matrix(), ws, exec);
        },
        what);
  }
}

TEST_CASE("im2col conv2d on an executor: same bits as serial") {
  struct Case {
    ConvCase cc;
    const char* note;
  };
  ConvCase a{.n = 3, .h = 13, .w = 7, .cin = 17, .cout = 33, .kh = 3, .kw = 3};
  a.p.pad = s::Padding(1, 0, 2, 1);
  ConvCase b{.n = 1, .h = 28, .w = 28, .cin = 64, .cout = 2 * NR + 1, .kh = 3, .kw = 3};
  b.p.pad = 1;
  b.out_layout = Layout{.pixel_pad = 5, .c0 = 3};
  b.in_layout = Layout{.pixel_pad = 2};
  ConvCase c{.n = 2, .h = 15, .w = 9, .cin = 12, .cout = 20, .kh = 3, .kw = 3};
  c.p.groups = 4;
  c.p.stride = 2;
  c.p.pad = 1;
  ConvCase e{.n = 1, .h = 9, .w = 11, .cin = 6, .cout = 10, .kh = 5, .kw = 3};
  e.p.dilation = s::HW{2, 1};
  e.p.pad = s::Padding(4, 4, 1, 1);
  for (const ConvCase& cc : {a, b, c, e}) {
    SUBCASE(cc.name().c_str()) {
      Rng rng(seed_of(cc.name()));
      ConvData d = make_conv_data(cc, rng);
      Operands ops(rng, cc.out_shape());
      const auto layer = s::conv2d(d.filter(), cc.p, s::algo::im2col) | block5(ops);
      conv_threads(layer, cc, d, cc.name());
    }
  }
}

TEST_CASE("pointwise (1x1) conv2d on an executor: same bits as serial") {
  for (index_t stride : {1, 2}) {
    ConvCase cc{.n = 2, .h = 11, .w = 13, .cin = 40, .cout = NR + 7, .kh = 1, .kw = 1};
    cc.p.stride = stride;
    cc.in_layout = Layout{.pixel_pad = 3};
    SUBCASE(cc.name().c_str()) {
      Rng rng(seed_of(cc.name()));
      ConvData d = make_conv_data(cc, rng);
      Operands ops(rng, cc.out_shape());
      const auto layer = s::conv2d<1, 1>(d.filter(), cc.p) | block5(ops);
      conv_threads(layer, cc, d, cc.name());
    }
  }
}

TEST_CASE("winograd conv2d on an executor: same bits as serial") {
  // Many blocks of tiles; and one block whose output channels (several B panels) are
  // split into chunks.
  ConvCase a{.n = 2, .h = 20, .w = 18, .cin = 17, .cout = 33, .kh = 3, .kw = 3};
  a.p.pad = s::Padding(1, 0, 2, 1);
  ConvCase b{.n = 1, .h = 7, .w = 6, .cin = 20, .cout = 3 * NR + 5, .kh = 3, .kw = 3};
  b.p.pad = 1;
  b.out_layout = Layout{.pixel_pad = 3, .c0 = 1};
  for (const ConvCase& cc : {a, b}) {
    SUBCASE(cc.name().c_str()) {
      Rng rng(seed_of(cc.name()));
      ConvData d = make_conv_data(cc, rng);
      Operands ops(rng, cc.out_shape());
      const auto layer = s::conv2d<3, 3>(d.filter(), cc.p, s::algo::winograd2x3) | block5(ops);
      conv_threads(layer, cc, d, cc.name() + ", winograd");
    }
  }
}

TEST_CASE("conv2d with a prologue on an executor: same bits as serial") {
  ConvCase cc{.n = 2, .h = 17, .w = 10, .cin = 3, .cout = 24, .kh = 3, .kw = 3};
  cc.p.stride = 2;
  cc.p.pad = s::Padding(0, 1, 0, 1);
  Rng rng(seed_of(cc.name()));
  ConvData d = make_conv_data(cc, rng);
  std::vector<float> mean(3), inv_std(3);
  for (float& v : mean) v = unit.draw(rng);
  for (float& v : inv_std) v = positive.draw(rng);
  Operands ops(rng, cc.out_shape());
  const auto layer = s::prologue(s::sub(s::per_channel(mean)) | s::mul(s::per_channel(inv_std))) |
                     s::conv2d<3, 3>(d.filter(), cc.p) | s::relu();
  INFO(cc.name());
  same_on_every_executor(
      layer, cc.out_shape(), cc.out_layout,
      [&](Buffer4& out, const auto& exec) {
        std::vector<std::byte> ws(layer.workspace_size(cc.in_shape(), exec.threads()));
        layer(d.in.view(), out.view(), ws, exec);
      },
      cc.name() + ", prologue");
}

TEST_CASE("a workspace sized for fewer workers is refused") {
  ConvCase cc{.n = 1, .h = 20, .w = 20, .cin = 16, .cout = 16, .kh = 3, .kw = 3};
  cc.p.pad = 1;
  Rng rng(seed_of(cc.name()));
  ConvData d = make_conv_data(cc, rng);
  const auto layer = s::conv2d<3, 3>(d.filter(), cc.p, s::algo::im2col);
  Buffer4 out(cc.out_shape());
  std::vector<std::byte> ws(layer.workspace_size(cc.in_shape(), 1));
  if (layer.workspace_size(cc.in_shape(), 4) > ws.size())
    CHECK_THROWS_WITH_AS(layer(d.in.view(), out.view(), ws, s::thread_executor(4)),
                         doctest::Contains("workspace too small"), s::error);
}
