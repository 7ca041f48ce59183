// XNNPACK's NHWC convolution beside sinter's on the ResNet-18, MobileNet-v1 and
// motivating shape sets, bare and with the chain scale, shift (per channel) + residual +
// ReLU, in the same binary. Built by bench/CMakeLists.txt when XNNPACK is found
// (Debian: libxnnpack-dev, libpthreadpool-dev).
//
// XNNPACK (operator API of the Debian package, 2022): xnn_create_convolution2d_nhwc_f32
// with the same OHWI weights (depthwise layers: groups = C, one channel per group), no
// bias, no thread pool (single thread). It fuses only a clamp into a convolution, and
// the chain's ReLU comes after the residual add, so the chain runs as the element-wise
// operators a TFLite graph would give it: multiply by the [C] scale, add the [C] shift
// (both broadcast over [1, H, W, C], in place on the conv's output), then add the
// residual with the ReLU fused as that add's clamp [0, +inf). Both libraries get the
// same input, weights and operands; before timing, each pair of outputs is checked
// equal within a relative tolerance (max |ours - theirs| / max |theirs|; counters
// err_bare, err_fused).
//
// Each benchmark runs four variants alternately in every iteration (run_paired):
// sinter_bare, xnnpack_bare, sinter_fused, xnnpack_fused; counters per variant (us,
// GFLOP/s, %peak, GB/s) and the ratios
//   sinter/xnnpack:bare, sinter/xnnpack:fused   our time over theirs (< 1: we are faster)
//   sinter:fused/bare, xnnpack:fused/bare       each library's price of the chain
//
// Run pinned:
//   taskset -c 1 bench_conv_xnnpack --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <xnnpack.h>

#include <limits>
#include <memory>

#include "common.hpp"

namespace {

using namespace bench;

constexpr double kTolerance = 2e-4;
constexpr float kInf = std::numeric_limits<float>::infinity();

void xnn_check(xnn_status st, const char* what) {
  if (st != xnn_status_success)
    throw std::runtime_error(std::string("XNNPACK: ") + what + " failed with status " + std::to_string(st));
}

/// A buffer of `n` floats with XNN_EXTRA_BYTES of slack after it (XNNPACK may read, never
/// write, that far beyond a tensor).
std::vector<float> padded(const std::vector<float>& v) {
  std::vector<float> p(v.size() + XNN_EXTRA_BYTES / sizeof(float) + 1, 0.f);
  std::copy(v.begin(), v.end(), p.begin());
  return p;
}

struct OpDeleter {
  void operator()(xnn_operator_t op) const { xnn_delete_operator(op); }
};
using Op = std::unique_ptr<xnn_operator, OpDeleter>;

/// The layer as XNNPACK operators, bare (the conv) or with the chain (conv, multiply,
/// add, add + clamp), set up once on fixed buffers.
struct XnnLayer {
  std::vector<float> in, scale, shift, res;
  std::vector<float>& out;
  Op conv, mul, add, add_res;

  XnnLayer(const LayerData& d, std::vector<float>& o, bool chain)
      : in(padded(d.in)), scale(padded(d.scale)), shift(padded(d.shift)), res(padded(d.res)), out(o) {
    const LayerShape& sh = d.sh;
    const bool dw = sh.kind == LayerShape::Depthwise;
    const std::size_t groups = dw ? static_cast<std::size_t>(sh.cin) : 1;
    const std::size_t gin = dw ? 1 : static_cast<std::size_t>(sh.cin), gout = dw ? 1 : static_cast<std::size_t>(sh.cout);
    out.assign(sh.out_size() + XNN_EXTRA_BYTES / sizeof(float) + 1, 0.f);
    xnn_operator_t op = nullptr;
    xnn_check(xnn_create_convolution2d_nhwc_f32(
                  static_cast<uint32_t>(sh.pad.top), static_cast<uint32_t>(sh.pad.right),
                  static_cast<uint32_t>(sh.pad.bottom), static_cast<uint32_t>(sh.pad.left), static_cast<uint32_t>(sh.k),
                  static_cast<uint32_t>(sh.k), static_cast<uint32_t>(sh.stride), static_cast<uint32_t>(sh.stride), 1, 1,
                  static_cast<uint32_t>(groups), gin, gout, static_cast<std::size_t>(sh.cin),
                  static_cast<std::size_t>(sh.out_c()), d.wt.data(), nullptr, -kInf, kInf, 0, &op),
              "create convolution");
    conv.reset(op);
    xnn_check(xnn_setup_convolution2d_nhwc_f32(op, 1, static_cast<std::size_t>(sh.h), static_cast<std::size_t>(sh.w),
                                               in.data(), out.data(), nullptr),
              "setup convolution");
    if (!chain) return;
    const std::size_t full[4] = {1, static_cast<std::size_t>(sh.oh()), static_cast<std::size_t>(sh.ow()),
                                 static_cast<std::size_t>(sh.out_c())};
    const std::size_t chan[1] = {static_cast<std::size_t>(sh.out_c())};
    xnn_check(xnn_create_multiply_nd_f32(-kInf, kInf, 0, &op), "create multiply");
    mul.reset(op);
    xnn_check(xnn_setup_multiply_nd_f32(op, 4, full, 1, chan, out.data(), scale.data(), out.data(), nullptr),
              "setup multiply");
    xnn_check(xnn_create_add_nd_f32(-kInf, kInf, 0, &op), "create add");
    add.reset(op);
    xnn_check(xnn_setup_add_nd_f32(op, 4, full, 1, chan, out.data(), shift.data(), out.data(), nullptr), "setup add");
    xnn_check(xnn_create_add_nd_f32(0.f, kInf, 0, &op), "create add (residual, relu)");
    add_res.reset(op);
    xnn_check(xnn_setup_add_nd_f32(op, 4, full, 4, full, out.data(), res.data(), out.data(), nullptr),
              "setup add (residual, relu)");
  }
  void operator()() const {
    xnn_run_operator(conv.get(), nullptr);
    if (mul) {
      xnn_run_operator(mul.get(), nullptr);
      xnn_run_operator(add.get(), nullptr);
      xnn_run_operator(add_res.get(), nullptr);
    }
  }
};

template <class Bare, class Fused>
void compare(benchmark::State& state, LayerData& d, Bare bare, Fused fused) {
  const LayerShape& sh = d.sh;
  std::vector<float> theirs, theirs_fused;
  std::shared_ptr<XnnLayer> xb, xf;
  try {
    xb = std::make_shared<XnnLayer>(d, theirs, false);
    xf = std::make_shared<XnnLayer>(d, theirs_fused, true);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    for (auto _ : state) {
    }
    return;
  }
  auto ours_bare = bind(std::move(bare), d, d.out);
  auto ours_fused = bind(std::move(fused), d, d.out2);

  ours_bare();
  ours_fused();
  (*xb)();
  (*xf)();
  const double err_bare = max_rel_diff(d.out.data(), theirs.data(), sh.out_size());
  const double err_fused = max_rel_diff(d.out2.data(), theirs_fused.data(), sh.out_size());
  state.counters["err_bare"] = err_bare;
  state.counters["err_fused"] = err_fused;
  if (!(err_bare <= kTolerance && err_fused <= kTolerance)) {
    state.SkipWithError("sinter and XNNPACK outputs differ beyond the tolerance");
    for (auto _ : state) {
    }
    return;
  }
  const bool mem_bound = sh.kind == LayerShape::Depthwise;
  // XNNPACK's unfused chain moves the output 3 more times (read + write) and the operands.
  const double xnn_fused_bytes = sh.bytes(true) + 3 * 2 * 4.0 * static_cast<double>(sh.out_size());
  run_paired(state,
             {{"sinter_bare", ours_bare, {sh.flops(), sh.bytes()}, mem_bound},
              {"xnnpack_bare", [xb] { (*xb)(); }, {sh.flops(), sh.bytes()}, mem_bound},
              {"sinter_fused", ours_fused, {sh.flops(), sh.bytes(true)}, mem_bound},
              {"xnnpack_fused", [xf] { (*xf)(); }, {sh.flops(), xnn_fused_bytes}, mem_bound}},
             {{"sinter/xnnpack:bare", 0, 1},
              {"sinter/xnnpack:fused", 2, 3},
              {"sinter:fused/bare", 2, 0},
              {"xnnpack:fused/bare", 3, 1}});
}

const bool registered = [] {
  if (xnn_initialize(nullptr) != xnn_status_success) {
    std::fprintf(stderr, "XNNPACK: xnn_initialize failed (unsupported CPU?); no benchmarks\n");
    return false;
  }
  register_peer_layers([](benchmark::State& state, LayerData& d, auto bare, auto fused) {
    compare(state, d, std::move(bare), std::move(fused));
  });
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
