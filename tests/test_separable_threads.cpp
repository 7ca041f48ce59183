// depthwise_separable: a depthwise conv2d and a pointwise conv2d fused into one layer
// (named *threads* so the ThreadSanitizer build runs it too). Checked three ways on
// every case:
//   - against a reference that runs neither kernel: the plain reference depthwise conv
//     and its chain, then a double-precision 1x1 conv over those values, with the error
//     bound of each stage added (below);
//   - bit for bit against the two layers run one after the other (the same kernels, so
//     the fused layer must not change a single rounding);
//   - bit for bit across executors: 2 and 3 threads, and a shuffled task order on
//     random worker indices.
// Shapes cover one band and several (on AVX-512, 112x112x16: 19 bands of 6 rows;
// 40x40x32: 2 of 36), one band whose output channels are split between workers, batch
// 3, channels off the vector width (1, 3, 17, 33), stride 2 with odd sizes, asymmetric
// and TF 'SAME' padding, dilation, a run-time 5x5 extent, a prologue, and a pointwise
// epilogue with a residual tensor; guards around every output. Also the errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "depthwise_cases.hpp"

using namespace sinter_test;

namespace {

/// The case: the depthwise stage (a depthwise ConvCase) and the pointwise C_out.
struct SepCase {
  ConvCase dw;
  index_t cout = 1;
  std::string name() const { return "separable " + dw.name() + " -> 1x1 Cout=" + std::to_string(cout); }
  Shape4 mid_shape() const { return dw.out_shape(); }
  Shape4 out_shape() const {
    const Shape4 m = mid_shape();
    return {m.n, m.h, m.w, cout};
  }
};

/// Reference accumulators of the pointwise stage over the reference depthwise output
/// r1 = DwEpi(acc1): v = sum_c w[co, c] * r1.v, mag = sum_c |w[co, c]| * r1.mag. The
/// kernel's depthwise output x1 differs from r1.v by at most (k1 + ops1 + 1) * eps *
/// r1.mag (the reference's bound for that stage), which the 1x1 conv carries into its
/// sum as at most (k1 + ops1 + 1) * eps * mag; its own rounding adds C * eps * mag. So
/// k = (k1 + ops1 + 1) + C, and check_output's (k + ops + 1) * eps * mag bound covers
/// both stages and the pointwise chain. An element whose depthwise inputs are not
/// checkable is not either.
template <class DwEpi>
RefTensor two_stage_reference(const RefTensor& acc1, const DwEpi& dw_epi, const std::vector<float>& wp,
                              index_t cout) {
  const Shape4 m = acc1.shape;
  RefTensor r;
  r.shape = {m.n, m.h, m.w, cout};
  r.data.resize(static_cast<std::size_t>(m.n * m.h * m.w * cout));
  double k = 0.0;
  std::vector<Ref> x(static_cast<std::size_t>(m.c));
  for (index_t n = 0; n < m.n; ++n)
    for (index_t h = 0; h < m.h; ++h)
      for (index_t w = 0; w < m.w; ++w) {
        bool checkable = true;
        for (index_t c = 0; c < m.c; ++c) {
          const Ref a = ref_epilogue(dw_epi, acc1.at(n, h, w, c), At{n, h, w, c});
          x[static_cast<std::size_t>(c)] = a;
          checkable = checkable && a.checkable && std::isfinite(a.v);
          k = std::max(k, a.k + a.ops + 1.0);
        }
        for (index_t co = 0; co < cout; ++co) {
          double v = 0.0, mag = 0.0;
          for (index_t c = 0; c < m.c; ++c) {
            const double wv = wp[static_cast<std::size_t>(co * m.c + c)];
            v += wv * x[static_cast<std::size_t>(c)].v;
            mag += std::fabs(wv) * x[static_cast<std::size_t>(c)].mag;
          }
          r.at(n, h, w, co) = {v, mag, checkable, 0.0, 0.0};
        }
      }
  r.k = static_cast<index_t>(std::ceil(k)) + m.c;
  for (Ref& e : r.data) e.k = static_cast<double>(r.k);
  return r;
}

template <class Layer, class Exec>
Buffer4 run_on(const Layer& layer, const SepCase& sc, const Buffer4& in, const Exec& exec, const std::string& what) {
  INFO(what);
  Buffer4 out(sc.out_shape(), Layout{.guard = 64});
  std::vector<std::byte> ws(layer.workspace_size(sc.dw.in_shape(), exec.threads()));
  layer(in.view(), out.view(), ws, exec);
  check_guards(out, what);
  return out;
}

/// Builds the depthwise layer with make_dw(filter, params, dw operands, input operands)
/// and the pointwise one with make_pw(filter, output operands), fuses them, and checks
/// the fused layer against the two-stage reference, the two layers run in turn, and
/// other executors.
template <class MakeDw, class MakePw>
void sep_check(const SepCase& sc, MakeDw&& make_dw, MakePw&& make_pw, const std::string& label) {
  const std::string what = sc.name() + ", " + label;
  INFO(what);
  Rng rng(seed_of(what));
  ConvData d = make_conv_data(sc.dw, rng);
  const index_t c = sc.dw.cin;
  std::vector<float> wp(static_cast<std::size_t>(sc.cout * c));
  for (float& v : wp) v = unit.draw(rng);
  Operands in_ops(rng, sc.dw.in_shape());
  Operands dw_ops(rng, sc.mid_shape());
  Operands pw_ops(rng, sc.out_shape());
  const auto dw = make_dw(s::depthwise_ohwi(d.w.data(), c, sc.dw.kh, sc.dw.kw), dw_params(sc.dw.p), dw_ops, in_ops);
  const auto pw = make_pw(s::ohwi(wp.data(), sc.cout, 1, 1, c), pw_ops);
  const auto sep = s::depthwise_separable(dw, pw);
  CHECK(sep.output_shape(sc.dw.in_shape()) == sc.out_shape());
  CHECK(sep.in_channels() == c);
  CHECK(sep.out_channels() == sc.cout);

  const Buffer4 fused = run_on(sep, sc, d.in, s::serial_executor{}, what + " (serial)");
  const RefTensor acc1 = prologue_reference(sc.dw, d, dw.prologue());
  check_output(fused.view(), two_stage_reference(acc1, dw.epilogue(), wp, sc.cout), pw.epilogue(), what);

  // The two layers in turn, through a dense intermediate tensor.
  Buffer4 mid(sc.mid_shape());
  Buffer4 two(sc.out_shape(), Layout{.guard = 64});
  dw(d.in.view(), mid.view());
  pw(std::as_const(mid).view(), two.view());
  CHECK_MESSAGE(same_bits(fused.dense(), two.dense()), "fused differs from depthwise then pointwise");

  for (int t : {2, 3}) {
    const Buffer4 y = run_on(sep, sc, d.in, s::thread_executor(t), what + " (threads)");
    CHECK_MESSAGE(same_bits(y.dense(), fused.dense()), t << " threads differ from serial");
  }
  const Buffer4 sh = run_on(sep, sc, d.in, ShuffledExecutor{3, 7}, what + " (shuffled)");
  CHECK_MESSAGE(same_bits(sh.dense(), fused.dense()), "shuffled task order differs from serial");
}

/// MobileNet's block: batch-norm (scale, shift) + ReLU6 after the depthwise conv; bias,
/// a residual tensor and ReLU after the pointwise conv.
auto mobilenet_dw(s::DepthwiseFilterView f, const s::DepthwiseParams& p, Operands& o, Operands&) {
  return s::depthwise_conv2d<3, 3>(f, p) | s::mul(o.per_channel()) | s::add(o.per_channel()) | s::relu6();
}
auto residual_pw(s::FilterView f, Operands& o) {
  return s::conv2d<1, 1>(f, {}) | s::add(o.per_channel()) | s::add(o.tensor()) | s::relu();
}

SepCase sep_case(index_t n, index_t h, index_t w, index_t c, index_t cout, index_t stride = 1, s::Padding pad = {1},
                 index_t dilation = 1, index_t k = 3) {
  return {dw_case_of(n, h, w, c, k, k, stride, pad, dilation), cout};
}

}  // namespace

TEST_CASE("depthwise_separable: 3x3 depthwise + BN + ReLU6, 1x1 + bias + residual + ReLU") {
  const std::vector<SepCase> cases = {
      sep_case(1, 1, 1, 1, 1),
      sep_case(1, 2, 3, 3, 5),
      sep_case(1, 13, 7, 17, 33, 2, s::same_padding(13, 7, 3, 3, 2)),
      sep_case(3, 13, 7, 33, 16),
      sep_case(1, 40, 40, 32, 64),
      sep_case(1, 112, 112, 16, 24),
      sep_case(1, 112, 112, 16, 24, 2, s::Padding{0, 1, 0, 1}),
      sep_case(1, 20, 17, 8, 8, 1, s::Padding{2}, 2),
      // One band, many output channels: on 2 and 3 workers the B panels are split
      // into chunks, each worker computing the band once for its consecutive chunks.
      sep_case(1, 7, 7, 64, 300),
      sep_case(2, 5, 6, 40, 200, 2, s::same_padding(5, 6, 3, 3, 2)),
  };
  for (const SepCase& sc : cases) sep_check(sc, mobilenet_dw, residual_pw, "BN+ReLU6 / bias+residual+ReLU");
}

TEST_CASE("depthwise_separable: prologue, run-time 5x5 extent, bare pointwise") {
  const auto normalise = [](s::DepthwiseFilterView f, const s::DepthwiseParams& p, Operands& o, Operands& in) {
    return s::prologue(s::sub(in.per_channel()) | s::mul(in.per_channel())) | s::depthwise_conv2d(f, p) |
           s::add(o.per_channel()) | s::relu();
  };
  const auto bare_pw = [](s::FilterView f, Operands&) { return s::conv2d<1, 1>(f, {}); };
  for (const SepCase& sc :
       {sep_case(1, 9, 11, 17, 7, 1, s::Padding{2}, 1, 5), sep_case(2, 30, 30, 24, 40, 2, s::Padding{2}, 1, 5),
        sep_case(1, 64, 64, 33, 9, 1, s::Padding{2}, 1, 5)})
    sep_check(sc, normalise, bare_pw, "prologue / 5x5 dynamic / bare 1x1");
}

TEST_CASE("depthwise_separable: ops appended with | go to the pointwise epilogue") {
  const SepCase sc = sep_case(1, 6, 5, 4, 6);
  Rng rng(seed_of("separable pipe"));
  ConvData d = make_conv_data(sc.dw, rng);
  std::vector<float> wp(static_cast<std::size_t>(sc.cout * 4));
  for (float& v : wp) v = unit.draw(rng);
  const auto dw = s::depthwise_conv2d<3, 3>(s::depthwise_ohwi(d.w.data(), 4, 3, 3), dw_params(sc.dw.p));
  const auto pw = s::conv2d<1, 1>(s::ohwi(wp.data(), sc.cout, 1, 1, 4), {});
  const auto piped = s::depthwise_separable(dw, pw) | s::mul(s::scalar(-2.f)) | s::relu();
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(piped.pointwise().epilogue())>,
                               s::Epilogue<s::Mul<s::Scalar>, s::ReLU>>);
  const auto direct = s::depthwise_separable(dw, pw | s::mul(s::scalar(-2.f)) | s::relu());
  const Buffer4 a = run_on(piped, sc, d.in, s::serial_executor{}, "piped");
  const Buffer4 b = run_on(direct, sc, d.in, s::serial_executor{}, "direct");
  CHECK(same_bits(a.dense(), b.dense()));
}

TEST_CASE("depthwise_separable: errors") {
  std::vector<float> wd(9 * 8, 0.5f), wp(16 * 8, 0.25f), x(1 * 6 * 6 * 8, 1.f), y(1 * 6 * 6 * 16, 7.f);
  const auto dw = s::depthwise_conv2d<3, 3>(s::depthwise_filter(wd.data(), 3, 3, 8), {.pad = 1});
  const auto pw = s::conv2d<1, 1>(s::ohwi(wp.data(), 16, 1, 1, 8), {});
  const auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const s::error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const auto has = [](const std::string& msg, const char* part) {
    CHECK_MESSAGE(msg.find(part) != std::string::npos, "message \"" << msg << "\" lacks \"" << part << "\"");
  };
  has(message(
          [&] { (void)s::depthwise_separable(dw, s::conv2d<1, 1>(s::ohwi(wp.data(), 16, 1, 1, 8), {.stride = 2})); }),
      "stride must be 1, got 2x2");
  has(message([&] { (void)s::depthwise_separable(dw, s::conv2d<1, 1>(s::ohwi(wp.data(), 16, 1, 1, 8), {.pad = 1})); }),
      "must have no padding");
  has(message([&] {
        (void)s::depthwise_separable(dw, s::conv2d<1, 1>(s::ohwi(wp.data(), 16, 1, 1, 4), {.groups = 2}));
      }),
      "groups = 1, got 2");
  has(message([&] { (void)s::depthwise_separable(dw, s::conv2d<1, 1>(s::ohwi(wp.data(), 8, 1, 1, 16), {})); }),
      "C_in (16) must equal the depthwise channels (8)");

  const auto sep = s::depthwise_separable(dw, pw);
  const auto in = s::nhwc(std::as_const(x).data(), 1, 6, 6, 8);
  const auto out = s::nhwc(y.data(), 1, 6, 6, 16);
  std::vector<std::byte> ws(sep.workspace_size(in.shape, 1));
  has(message([&] { sep(s::nhwc(std::as_const(x).data(), 1, 6, 6, 4), out, ws); }),
      "input channels: expected 8, got 4");
  has(message([&] { sep(in, s::nhwc(y.data(), 1, 6, 5, 16), ws); }),
      "output shape: expected [1, 6, 6, 16], got [1, 6, 5, 16]");
  has(message([&] { sep(in, out, s::workspace(ws).first(ws.size() - 1)); }), "workspace too small");
  std::vector<float> big(1 * 6 * 6 * 16, 1.f);
  has(message([&] { sep(s::nhwc(std::as_const(big).data(), 1, 6, 6, 8), s::nhwc(big.data(), 1, 6, 6, 16), ws); }),
      "output overlaps the input");
  CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == 7.f; }));  // nothing written by a failed call
}
