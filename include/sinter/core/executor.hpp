// sinter/core/executor.hpp - how a layer call spreads its work over threads.
//
// A layer splits its output into independent tasks (blocks of output rows x blocks of
// output channels for the GEMM paths) and hands them to an executor. Every output
// element is computed by exactly one task, in the same order of operations whatever
// the split, so results are bitwise identical for any thread count.
#pragma once

#include <atomic>
#include <concepts>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "error.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace sinter {

/// What a layer needs from a thread pool:
///   threads()            the number of workers W (>= 1) that may run tasks at once;
///   parallel_for(n, f)   calls f(task, worker) once for every task in [0, n), with
///                        worker in [0, W) and no two concurrent calls sharing a
///                        worker index; returns when all calls have returned.
/// The worker index selects the per-thread slice of the caller's workspace, so an
/// adapter must pass a stable index (pthreadpool's thread index, TBB's
/// this_task_arena::current_thread_index(), omp_get_thread_num()).
///
/// Adapter sketch for pthreadpool (not a dependency of sinter):
///   struct pthreadpool_executor {
///     pthreadpool_t pool;
///     int threads() const { return int(pthreadpool_get_threads_count(pool)); }
///     template <class F> void parallel_for(index_t n, F&& f) const {
///       pthreadpool_parallelize_1d_with_thread(pool,
///         [](void* c, size_t worker, size_t i) { (*static_cast<F*>(c))(index_t(i), int(worker)); },
///         &f, size_t(n), 0);
///     }
///   };
template <class E>
concept Executor = requires(const E& e) {
  { e.threads() } -> std::convertible_to<int>;
  e.parallel_for(index_t{1}, [](index_t, int) {});
};

/// Runs every task on the calling thread, in order. The default: no overhead.
struct serial_executor {
  constexpr int threads() const noexcept { return 1; }
  template <class F>
  void parallel_for(index_t n, F&& f) const {
    for (index_t i = 0; i < n; ++i) f(i, 0);
  }
};

/// Runs tasks on `n` threads: the caller and n - 1 std::threads started for the call
/// and joined before it returns; tasks are handed out through an atomic counter.
/// Simple and free of shared state between calls (so ThreadSanitizer can check the
/// kernels), at the price of thread start-up per call (tens of microseconds): for many
/// small layers prefer openmp_executor or an adapter to a persistent pool.
/// An exception thrown by a task is rethrown on the calling thread.
struct thread_executor {
  int n = 1;

  explicit thread_executor(int threads = static_cast<int>(std::thread::hardware_concurrency())) : n(threads) {
    detail::check(n >= 1, "thread_executor: thread count must be >= 1, got ", n);
  }
  int threads() const noexcept { return n; }

  template <class F>
  void parallel_for(index_t tasks, F&& f) const {
    const int workers = static_cast<int>(std::min<index_t>(n, tasks));
    if (workers <= 1) {
      for (index_t i = 0; i < tasks; ++i) f(i, 0);
      return;
    }
    std::atomic<index_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto work = [&](int worker) {
      try {
        for (index_t i = next.fetch_add(1, std::memory_order_relaxed); i < tasks;
             i = next.fetch_add(1, std::memory_order_relaxed))
          f(i, worker);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next.store(tasks, std::memory_order_relaxed);
      }
    };
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(workers - 1));
    for (int w = 1; w < workers; ++w) pool.emplace_back(work, w);
    work(0);
    for (auto& t : pool) t.join();
    if (error) std::rethrow_exception(error);
  }
};

#if defined(_OPENMP)
/// Runs tasks on OpenMP's persistent thread team (build with -fopenmp), `n` threads
/// (default: omp_get_max_threads()), dynamic schedule.
struct openmp_executor {
  int n = omp_get_max_threads();
  int threads() const noexcept { return n; }
  template <class F>
  void parallel_for(index_t tasks, F&& f) const {
#pragma omp parallel for schedule(dynamic, 1) num_threads(n)
    for (index_t i = 0; i < tasks; ++i) f(i, omp_get_thread_num());
  }
};
#endif

}  // namespace sinter
