// sinter/core/executor.hpp - how a layer call spreads its work over threads.
//
// A layer splits its output into independent tasks (blocks of output rows x blocks of
// output channels for the GEMM paths) and hands them to an executor. Every output
// element is computed by exactly one task, in the same order of operations whatever
// the split, so results are bitwise identical for any thread count.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
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

/// A persistent pool of `threads() - 1` std::threads; the calling thread is worker 0.
/// Unlike thread_executor it starts its threads once, which is what networks of many
/// small layers need.
/// Scheduling: worker w owns the w-th contiguous share of a call's tasks, runs it in
/// order, then takes tasks from the shares still unfinished (an atomic counter per
/// share), so a slow or late worker delays no one. sinter's kernels number tasks in the
/// order of the output rows they write, so a worker's share covers about the same rows
/// from one layer to the next, and a layer reads mostly what the same core wrote: the
/// memory-bound layers then stop paying for moving lines between the cores' caches.
/// Measured against one counter shared by all (bench_threads, taskset -c 0,1, 1t/2t,
/// two runs): depthwise 14x14x512 1.26-1.29 -> 1.48-2.01, 28x28x256 1.27-1.46 ->
/// 1.54-1.75, 56x56x128 1.31-1.38 -> 1.63-1.65, pointwise 56x56x64->128 1.68-1.72 ->
/// 1.76-1.90; bench_face BM_detector_threads, alternated: 1.53-1.90 -> 1.70-1.89.
/// Waiting: an idle worker spins (pause / yield) for up to `spin` before it sleeps on a
/// condition variable, and so does the caller when it runs out of tasks before the
/// workers finish, because a sleeping thread costs a futex wake-up, and in a virtual
/// machine that takes as long as a small layer (pthreadpool and libgomp spin before
/// sleeping for the same reason). bench_face's BM_detector_threads, three runs each of
/// this pool and of one whose workers slept after 4096 pauses (80 us here) and whose
/// caller slept at once: 1t/2t 1.70-1.75 against 1.68-1.70. The price: after a call,
/// the pool's threads keep their cores busy for up to `spin`; pass 0 to sleep at once
/// (e.g. when the pool has more threads than free cores).
/// Hand-over without a lock: a call publishes its tasks in one atomic word (generation,
/// seats), a spinning worker takes a seat with a compare-exchange and counts itself
/// finished with an increment; the mutex and condition variables serve only threads
/// that sleep. bench_threads' BM_pool_call (empty tasks) on a 16-core Xeon VM, one run
/// each, against the pool that took a mutex three times per worker and call:
/// 2 / 4 / 8 / 16 threads 2.0 / 5.5 / 12.6 / 28.2 us -> 0.93 / 2.4 / 4.1 / 7.9 us per
/// call; depthwise MobileNet-v1 layers at 16 threads 48-64 us -> 12-35 us (the old
/// floor was the hand-over). At 2 threads on bench/'s machine, layer times unchanged.
/// An exception thrown by a task is rethrown on the caller (tasks not yet started are
/// skipped). One parallel_for at a time: concurrent calls from several threads are
/// serialised, and a task must not call parallel_for on the same pool.
/// Not copyable or movable; destroy it after its last call returns.
class thread_pool {
  // ticket_ = generation << seat_bits | seats left: one word, so that taking a seat
  // (a compare-exchange) fails once the caller has moved on to another call.
  static constexpr int seat_bits = 16;
  static constexpr std::uint64_t seat_mask = (std::uint64_t{1} << seat_bits) - 1;

 public:
  /// How long an idle thread of the pool spins before it sleeps, unless the constructor
  /// is given another time.
  static constexpr std::chrono::microseconds default_spin{500};

  /// `threads` workers (>= 1; the caller is one of them), each spinning up to `spin`
  /// (>= 0) when idle before it sleeps. Throws sinter::error for a count below 1 or
  /// above max_threads or a negative spin, std::system_error when a thread cannot start.
  explicit thread_pool(int threads = static_cast<int>(std::thread::hardware_concurrency()),
                       std::chrono::microseconds spin = default_spin)
      : n_(threads), spin_(spin) {
    detail::check(n_ >= 1 && n_ <= max_threads, "thread_pool: thread count must be in [1, ", max_threads,
                  "], got ", n_);
    detail::check(spin.count() >= 0, "thread_pool: spin must be >= 0 us, got ", spin.count());
    shares_ = std::make_unique<Share[]>(static_cast<std::size_t>(n_));
    workers_.reserve(static_cast<std::size_t>(n_ - 1));
    for (int w = 1; w < n_; ++w) workers_.emplace_back([this, w] { worker_loop(w); });
  }
  ~thread_pool() {
    stop_.store(true, std::memory_order_relaxed);
    publish(0);
    for (auto& t : workers_) t.join();
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  /// The most threads a pool can have.
  static constexpr int max_threads = (1 << seat_bits) - 1;

  int threads() const noexcept { return n_; }
  /// The spin time given to the constructor.
  std::chrono::microseconds spin() const noexcept { return spin_; }

  template <class F>
  void parallel_for(index_t tasks, F&& f) const {
    if (n_ == 1 || tasks <= 1) {
      for (index_t i = 0; i < tasks; ++i) f(i, 0);
      return;
    }
    std::lock_guard<std::mutex> call(call_mutex_);
    using Fn = std::remove_reference_t<F>;
    // No worker is in a call now: these plain writes reach the workers that take a
    // seat through publish()'s store and their compare-exchange on the ticket.
    job_ = Job{tasks, const_cast<void*>(static_cast<const void*>(&f)),
               [](void* fp, index_t i, int w) { (*static_cast<Fn*>(fp))(i, w); }};
    for (int w = 0; w < n_; ++w)
      shares_[static_cast<std::size_t>(w)].next.store(share_begin(tasks, w), std::memory_order_relaxed);
    error_ = nullptr;
    finished_.store(0, std::memory_order_relaxed);
    const int seats = static_cast<int>(std::min<index_t>(n_ - 1, tasks - 1));
    publish(seats);
    run_tasks(0);
    // Close the call to workers that have not taken a seat yet (they would find no
    // task left) and wait for those that have.
    const std::uint64_t left = ticket_.exchange(generation_ << seat_bits, std::memory_order_acq_rel);
    const int takers = seats - static_cast<int>(left & seat_mask);
    const auto done = [&] { return finished_.load(std::memory_order_seq_cst) == takers; };
    spin_while([&] { return !done(); });
    if (!done()) {
      caller_waits_.store(true, std::memory_order_seq_cst);
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, done);
      caller_waits_.store(false, std::memory_order_relaxed);
    }
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  struct Job {
    index_t tasks = 0;
    void* f = nullptr;
    void (*call)(void*, index_t, int) = nullptr;
  };

  // A new call (or stop) with `seats` seats for the workers. Sleeping workers are woken
  // only if there are any: the store and sleepers_'s load are sequentially consistent,
  // as are a worker's increment of sleepers_ and its load of the ticket before it
  // sleeps, so one of the two sees the other.
  void publish(int seats) const {
    ++generation_;
    ticket_.store(generation_ << seat_bits | static_cast<std::uint64_t>(seats), std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(mutex_); }  // a worker between its check and its wait has reached the wait
      wake_.notify_all();
    }
  }

  // Worker w's share of `tasks`: [share_begin(tasks, w), share_begin(tasks, w + 1)).
  index_t share_begin(index_t tasks, int w) const noexcept { return tasks * w / n_; }

  // Worker `worker` runs its own share in order, then takes what is left of the others'
  // (the next worker's first). Kernels number tasks in the order of the output rows
  // they write, so with whole shares the rows a worker writes in one layer are mostly
  // the rows it reads in the next: in cache, rather than in the other core's cache.
  void run_tasks(int worker) const {
    const Job job = job_;
    try {
      for (int k = 0; k < n_; ++k) {
        const int v = (worker + k) % n_;
        std::atomic<index_t>& next = shares_[static_cast<std::size_t>(v)].next;
        const index_t end = share_begin(job.tasks, v + 1);
        for (index_t i = next.fetch_add(1, std::memory_order_relaxed); i < end;
             i = next.fetch_add(1, std::memory_order_relaxed))
          job.call(job.f, i, worker);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
      for (int v = 0; v < n_; ++v)  // no task starts after this
        shares_[static_cast<std::size_t>(v)].next.store(job.tasks, std::memory_order_relaxed);
    }
  }

  static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  /// Spins while `busy()` holds, for at most spin_. Timed, not counted: a pause takes
  /// from a few to some 150 cycles depending on the core (19 ns on the Zen 5 of
  /// bench/). The clock is read every 64 pauses.
  template <class Busy>
  void spin_while(Busy&& busy) const {
    if (spin_.count() == 0 || !busy()) return;
    const auto until = std::chrono::steady_clock::now() + spin_;
    do {
      for (int i = 0; i < 64; ++i) {
        if (!busy()) return;
        relax();
      }
    } while (std::chrono::steady_clock::now() < until);
  }

  // The ticket of the first call after generation `seen`: spinning, then asleep.
  std::uint64_t next_ticket(std::uint64_t seen) const {
    const auto fresh = [&](std::uint64_t t) { return t >> seat_bits != seen; };
    spin_while([&] { return !fresh(ticket_.load(std::memory_order_acquire)); });
    std::uint64_t t = ticket_.load(std::memory_order_acquire);
    if (fresh(t)) return t;
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return fresh(t = ticket_.load(std::memory_order_seq_cst)); });
    }
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return t;
  }

  // A worker's way through calls, with no lock on the way: it takes a seat in a call by
  // decrementing the ticket's seat count, runs tasks, and counts itself finished; the
  // caller's exchange of the ticket tells it how many seats were taken.
  void worker_loop(int w) const {
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t t = next_ticket(seen);
      if (stop_.load(std::memory_order_relaxed)) return;
      seen = t >> seat_bits;
      while ((t & seat_mask) != 0) {
        if (ticket_.compare_exchange_weak(t, t - 1, std::memory_order_acquire, std::memory_order_acquire)) {
          run_tasks(w);
          finished_.fetch_add(1, std::memory_order_seq_cst);
          if (caller_waits_.load(std::memory_order_seq_cst)) {
            std::lock_guard<std::mutex> lock(mutex_);  // the caller is in its wait, or sees finished_
            done_.notify_one();
          }
          break;
        }
        if (t >> seat_bits != seen) break;  // a newer call: the next round takes it
      }
    }
  }

  int n_;
  std::chrono::microseconds spin_;
  std::vector<std::thread> workers_;
  mutable std::mutex call_mutex_;  // one parallel_for at a time
  mutable std::mutex mutex_;       // for the condition variables (and error_)
  mutable std::condition_variable wake_, done_;
  mutable std::uint64_t generation_ = 0;  // the caller's (under call_mutex_)
  mutable std::atomic<std::uint64_t> ticket_{0};
  mutable std::atomic<int> finished_{0};  // workers done with the current call
  mutable std::atomic<int> sleepers_{0};  // workers asleep on wake_, or about to be
  mutable std::atomic<bool> caller_waits_{false};
  std::atomic<bool> stop_{false};
  mutable Job job_;
  // Per worker: the next task of its share; on its own cache line, as each is written
  // by its owner for every task.
  struct alignas(64) Share {
    std::atomic<index_t> next{0};
  };
  std::unique_ptr<Share[]> shares_;
  mutable std::exception_ptr error_;
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
