// depthwise_conv2d split over executors: the serial executor (checked against the
// reference), thread_executor(2), (3) and (16), and a user-written executor that runs the
// tasks in reverse order on rotating worker indices, all giving the same bits, with
// guards around the output, and each call given workspace_size(shape, threads) bytes.
// Shapes cover the splits: bands of output rows (112x112: bands of unequal height, whole
// row pairs at 3 threads, single rows at 16), channel blocks with a partial last vector
// (3x5 images, too few rows for the workers), batch 3, one task (1x1), prologues (their
// operands indexed by input pixel and channel in every task).
#include <doctest/doctest.h>

#include <algorithm>

#include "depthwise_cases.hpp"

using namespace sinter_test;

namespace {

/// A user-written executor: `n` workers, tasks run on the calling thread in reverse
/// order, task i on worker i mod n (each worker's slice of the workspace is used).
struct reverse_executor {
  int n = 3;
  int threads() const noexcept { return n; }
  template <class F>
  void parallel_for(index_t tasks, F&& f) const {
    for (index_t i = tasks - 1; i >= 0; --i) f(i, static_cast<int>(i % n));
  }
};
static_assert(s::Executor<reverse_executor>);

template <class Layer, class Exec>
Buffer4 run_on(const Layer& layer, const ConvCase& cc, const ConvData& d, const Exec& exec, const std::string& what) {
  Layout ol = cc.out_layout;
  ol.guard = std::max<index_t>(ol.guard, 64);
  Buffer4 out(cc.out_shape(), ol);
  std::vector<std::byte> ws(layer.workspace_size(cc.in_shape(), exec.threads()));
  layer(d.in.view(), out.view(), ws, exec);
  check_guards(out, what);
  return out;
}

/// `make(data, input operands, output operands)` builds the layer; the serial result is
/// checked against the reference, every executor's against the serial one, bit for bit.
template <class MakeLayer>
void thread_case(const ConvCase& cc, MakeLayer&& make, const std::string& label) {
  const std::string what = "depthwise " + cc.name() + ", " + label;
  INFO(what);
  Rng rng(seed_of(what));
  ConvData d = make_conv_data(cc, rng);
  Operands pro_ops(rng, cc.in_shape());
  Operands ops(rng, cc.out_shape());
  const auto layer = make(d, pro_ops, ops);
  const Buffer4 serial = run_on(layer, cc, d, s::serial_executor{}, what + " (serial)");
  check_output(serial.view(), prologue_reference(cc, d, layer.prologue()), layer.epilogue(), what);
  for (int t : {2, 3, 16}) {
    const Buffer4 y = run_on(layer, cc, d, s::thread_executor(t), what + " (threads)");
    CHECK_MESSAGE(same_bits(y.dense(), serial.dense()), t << " threads differ from serial");
  }
  const Buffer4 r = run_on(layer, cc, d, reverse_executor{}, what + " (reverse)");
  CHECK_MESSAGE(same_bits(r.dense(), serial.dense()), "reversed task order differs from serial");
#if defined(_OPENMP)
  const Buffer4 o = run_on(layer, cc, d, s::openmp_executor{2}, what + " (openmp)");
  CHECK_MESSAGE(same_bits(o.dense(), serial.dense()), "OpenMP differs from serial");
#endif
}

template <index_t K>
auto dw(const ConvCase& cc, const ConvData& d) {
  return s::depthwise_conv2d<K, K>(s::depthwise_ohwi(d.w.data(), cc.cin, cc.kh, cc.kw), dw_params(cc.p));
}

}  // namespace

TEST_CASE("depthwise threads: bands of output rows, 112x112x32, folded batch-norm + relu6") {
  const ConvCase cc = dw_case_of(1, 112, 112, 32, 3, 3, 1, s::Padding(1));
  thread_case(cc, [&](const ConvData& d, Operands&, Operands& o) {
    return dw<3>(cc, d) | s::mul(o.per_channel(positive)) | s::add(o.per_channel()) | s::relu6();
  }, "bn + relu6");
}

TEST_CASE("depthwise threads: channel blocks when rows are too few, partial last vector") {
  for (index_t c : sizes({8 * LANES + 5, 17})) {
    const ConvCase cc = dw_case_of(1, 3, 5, c, 3, 3, 1, s::Padding(1));
    SUBCASE(cc.name().c_str()) {
      thread_case(cc, [&](const ConvData& d, Operands&, Operands& o) {
        return dw<3>(cc, d) | s::add(o.per_channel()) | s::add(o.tensor(unit, operand_layout)) | s::relu();
      }, "bias + residual");
    }
  }
  const ConvCase c1 = dw_case_of(1, 1, 1, 33, 3, 3, 1, s::Padding(1));
  thread_case(c1, [&](const ConvData& d, Operands&, Operands& o) { return dw<3>(c1, d) | s::add(o.per_channel()); },
              "1x1 image: one task");
}

TEST_CASE("depthwise threads: batch 3, stride 2, prologue and epilogue tensors") {
  for (index_t c : sizes({3, 33})) {
    const ConvCase cc = dw_case_of(3, 13, 7, c, 3, 3, 2, s::same_padding(13, 7, 3, 3, 2));
    SUBCASE(cc.name().c_str()) {
      thread_case(cc, [&](const ConvData& d, Operands& p, Operands& o) {
        return s::prologue(s::sub(p.per_channel()) | s::mul(p.tensor(positive)) | s::add(1.f)) | dw<3>(cc, d) |
               s::add(o.tensor()) | s::relu6();
      }, "prologue and epilogue");
    }
  }
}

TEST_CASE("depthwise threads: prologue on long rows; run-time 5x5, dilation 2") {
  const ConvCase cc = dw_case_of(2, 9, 131, 4 * LANES + 3, 3, 3, 1, s::Padding(1));
  thread_case(cc, [&](const ConvData& d, Operands& p, Operands& o) {
    return s::prologue(s::sub(p.per_channel()) | s::relu()) | dw<3>(cc, d) | s::add(o.per_channel());
  }, "long rows");
  const ConvCase c5 = dw_case_of(1, 23, 19, 2 * LANES + 1, 5, 5, 1, s::Padding(4, 3, 2, 4), 2);
  thread_case(c5, [&](const ConvData& d, Operands& p, Operands& o) {
    return s::prologue(s::mul(p.per_channel(positive))) |
           s::depthwise_conv2d(s::depthwise_ohwi(d.w.data(), c5.cin, 5, 5), dw_params(c5.p)) | s::add(o.per_channel());
  }, "run-time extent, dilation 2");
}
