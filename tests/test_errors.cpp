// Bad input: every case throws sinter::error (also catchable as std::invalid_argument)
// with a message that names the layer and the expected and actual values, and a call
// that throws writes nothing to its output (a guarded output buffer full of sentinel
// NaNs must come back unchanged). Also compile-time misuse, checked through the
// library's concepts (no code here fails to compile).
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <new>

#include "reference.hpp"

using namespace sinter_test;

namespace {

/// Runs `f`, which must throw sinter::error; returns the message ("" if it did not).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const s::error& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("threw an exception other than sinter::error: " << e.what());
    return {};
  }
  FAIL_CHECK("did not throw");
  return {};
}

/// `f` throws sinter::error, catchable as std::invalid_argument, with every string of
/// `parts` in its message.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  CHECK_THROWS_AS(f(), std::invalid_argument);
  const std::string msg = error_of(f);
  for (const std::string& p : parts)
    CHECK_MESSAGE(msg.find(p) != std::string::npos, "message \"" << msg << "\" does not contain \"" << p << "\"");
}

/// A 3x3 conv, C_in 4 -> C_out 8, padding 1, on a 1x5x5 input: the valid setup that
/// each conv case below breaks in one way.
struct ConvSetup {
  static constexpr index_t cin = 4, cout = 8;
  std::vector<float> w = std::vector<float>(cout * 3 * 3 * cin, 0.5f);
  std::vector<float> x = std::vector<float>(1 * 5 * 5 * cin, 1.f);
  std::vector<float> b = std::vector<float>(cout, 1.f);
  std::vector<float> r = std::vector<float>(1 * 5 * 5 * cout, 1.f);
  s::Conv2DParams p{.pad = 1};
  Buffer4 out{{1, 5, 5, cout}, Layout{.guard = 32}};

  s::FilterView filter() const { return s::ohwi(w.data(), cout, 3, 3, cin); }
  s::TensorView<const float> in() const { return s::nhwc<const float>(x.data(), 1, 5, 5, cin); }
};

/// A linear layer K = 4 -> N = 8 on M = 3 rows.
struct LinearSetup {
  static constexpr index_t m = 3, n = 8, k = 4;
  std::vector<float> w = std::vector<float>(n * k, 0.5f);
  std::vector<float> x = std::vector<float>(m * k, 1.f);
  std::vector<float> b = std::vector<float>(n, 1.f);
  std::vector<float> r = std::vector<float>(m * n, 1.f);
  Buffer4 y{{1, 1, m, n}, Layout{.guard = 32}};

  s::MatrixView<const float> in() const { return s::matrix<const float>(x.data(), m, k); }
};

}  // namespace

// ---------------------------------------------------------------------------------
// conv2d
// ---------------------------------------------------------------------------------

TEST_CASE("errors conv2d: a valid call works (the baseline the other cases break)") {
  ConvSetup c;
  const auto layer = s::conv2d<3, 3>(c.filter(), c.p) | s::add(s::per_channel(c.b)) |
                     s::add(s::tensor(s::nhwc<const float>(c.r.data(), 1, 5, 5, c.cout)));
  CHECK_NOTHROW(layer(c.in(), c.out.view()));
  CHECK(c.out.outside_changed() == 0);
  CHECK(c.out.inside_unwritten() == 0);
}

TEST_CASE("errors conv2d: input channels differ from the filter's C_in") {
  ConvSetup c;
  const auto layer = s::conv2d<3, 3>(c.filter(), c.p);
  const auto in3 = s::nhwc<const float>(c.x.data(), 1, 5, 5, 3);
  expect_error([&] { (void)layer.output_shape(in3.shape); }, {"conv2d", "input channels", "expected 4", "got 3"});
  expect_error([&] { layer(in3, c.out.view()); }, {"conv2d", "input channels", "expected 4", "got 3"});
  CHECK(c.out.all_sentinel());

  SUBCASE("groups = 2: C_in = 2 * filter C_in / group") {
    s::Conv2DParams p = c.p;
    p.groups = 2;
    const auto grouped = s::conv2d<3, 3>(s::ohwi(c.w.data(), 8, 3, 3, 2), p);
    expect_error([&] { grouped(s::nhwc<const float>(c.x.data(), 1, 5, 5, 2), c.out.view()); },
                 {"input channels", "expected 4", "got 2"});
    CHECK(c.out.all_sentinel());
  }
}

TEST_CASE("errors conv2d: output shape differs from the computed one") {
  ConvSetup c;
  const auto layer = s::conv2d<3, 3>(c.filter(), c.p);
  std::vector<float> big(400, sentinel());
  expect_error([&] { layer(c.in(), s::nhwc(big.data(), 1, 5, 4, 8)); },
               {"conv2d", "output shape", "expected [1, 5, 5, 8]", "got [1, 5, 4, 8]"});
  expect_error([&] { layer(c.in(), s::nhwc(big.data(), 1, 5, 5, 7)); }, {"expected [1, 5, 5, 8]", "got [1, 5, 5, 7]"});
  expect_error([&] { layer(c.in(), s::nhwc(big.data(), 2, 5, 5, 8)); }, {"expected [1, 5, 5, 8]", "got [2, 5, 5, 8]"});
  CHECK(std::all_of(big.begin(), big.end(), is_sentinel));
  // stride 2: 5x5 -> 3x3
  s::Conv2DParams p2 = c.p;
  p2.stride = 2;
  const auto strided = s::conv2d<3, 3>(c.filter(), p2);
  expect_error([&] { strided(c.in(), c.out.view()); }, {"expected [1, 3, 3, 8]", "got [1, 5, 5, 8]"});
  CHECK(c.out.all_sentinel());
}

TEST_CASE("errors conv2d: per-channel operand of the wrong length") {
  ConvSetup c;
  SUBCASE("when the op is attached with |") {
    expect_error([&] { (void)(s::conv2d<3, 3>(c.filter(), c.p) | s::add(s::per_channel(c.b.data(), 7))); },
                 {"conv2d", "per-channel operand of op 0", "expected 8", "got 7"});
    expect_error([&] { (void)(s::conv2d<3, 3>(c.filter(), c.p) | s::relu() | s::mul(s::per_channel(c.b.data(), 9))); },
                 {"op 1", "expected 8", "got 9"});
  }
  SUBCASE("when the layer is built in type form") {
    using Epi = s::Epilogue<s::ReLU, s::Sub<s::PerChannel>>;
    using Layer = s::Conv2D<s::Kernel<3, 3>, s::algo::Im2col, Epi>;
    expect_error([&] { Layer(c.filter(), c.p, Epi({}, {s::per_channel(c.b.data(), 1)})); },
                 {"op 1", "expected 8", "got 1"});
  }
  SUBCASE("when the operand is rebound before a call") {
    auto layer = s::conv2d<3, 3>(c.filter(), c.p) | s::add(s::per_channel(c.b));
    layer.epilogue().op<0>().operand = s::per_channel(c.b.data(), 6);
    expect_error([&] { layer(c.in(), c.out.view()); }, {"conv2d", "op 0", "expected 8", "got 6"});
    CHECK(c.out.all_sentinel());
  }
}

TEST_CASE("errors conv2d: tensor operand of the wrong shape") {
  ConvSetup c;
  const auto bad = s::nhwc<const float>(c.r.data(), 1, 5, 4, 8);
  const auto layer = s::conv2d<3, 3>(c.filter(), c.p) | s::relu() | s::add(s::tensor(bad));
  expect_error([&] { layer(c.in(), c.out.view()); },
               {"conv2d", "tensor operand of op 1", "expected shape [1, 5, 5, 8]", "got [1, 5, 4, 8]"});
  CHECK(c.out.all_sentinel());
  const auto bad_c = s::nhwc<const float>(c.r.data(), 1, 5, 5, 4);
  const auto layer2 = s::conv2d<3, 3>(c.filter(), c.p) | s::mul(s::tensor(bad_c));
  expect_error([&] { layer2(c.in(), c.out.view()); }, {"expected shape [1, 5, 5, 8]", "got [1, 5, 5, 4]"});
  CHECK(c.out.all_sentinel());
}

TEST_CASE("errors conv2d: null pointers") {
  ConvSetup c;
  expect_error([&] { (void)s::conv2d<3, 3>(s::ohwi(nullptr, 8, 3, 3, 4), c.p); }, {"conv2d", "filter", "null"});
  expect_error([&] { (void)s::conv2d<3, 3>(s::hwio(nullptr, 3, 3, 4, 8), c.p); }, {"conv2d", "filter", "null"});
  const auto layer = s::conv2d<3, 3>(c.filter(), c.p);
  expect_error([&] { layer(s::nhwc<const float>(nullptr, 1, 5, 5, 4), c.out.view()); }, {"conv2d", "input", "null"});
  expect_error([&] { layer(c.in(), s::nhwc<float>(nullptr, 1, 5, 5, 8)); }, {"conv2d", "output", "null"});
  expect_error([&] { (void)(s::conv2d<3, 3>(c.filter(), c.p) | s::add(s::per_channel(nullptr, 8))); },
               {"conv2d", "per-channel operand of op 0", "null"});
  const auto with_null_tensor =
      s::conv2d<3, 3>(c.filter(), c.p) | s::add(s::tensor(s::nhwc<const float>(nullptr, 1, 5, 5, 8)));
  expect_error([&] { with_null_tensor(c.in(), c.out.view()); }, {"conv2d", "tensor operand of op 0", "null"});
  CHECK(c.out.all_sentinel());
}

TEST_CASE("errors conv2d: zero and negative sizes and parameters") {
  ConvSetup c;
  expect_error([&] { (void)s::conv2d(s::ohwi(c.w.data(), 0, 3, 3, 4), c.p); },
               {"conv2d", "filter sizes must be positive", "got [0, 3, 3, 4]"});
  expect_error([&] { (void)s::conv2d(s::ohwi(c.w.data(), 8, -3, 3, 4), c.p); }, {"got [8, -3, 3, 4]"});
  expect_error([&] { (void)s::conv2d(s::ohwi(c.w.data(), 8, 3, 3, 0), c.p); }, {"got [8, 3, 3, 0]"});
  expect_error([&] { (void)s::conv2d<3, 3>(s::ohwi(c.w.data(), 2, 5, 5, 4), c.p); },
               {"conv2d", "filter extent", "3x3", "got 5x5"});

  s::Conv2DParams p = c.p;
  p.groups = 0;
  expect_error([&] { (void)s::conv2d<3, 3>(c.filter(), p); }, {"conv2d", "groups", "got 0"});
  p.groups = 3;
  expect_error([&] { (void)s::conv2d<3, 3>(s::ohwi(c.w.data(), 8, 3, 3, 1), p); },
               {"conv2d", "C_out (8)", "divisible by groups (3)"});
  p = c.p;
  p.stride = s::HW(0, 1);
  expect_error([&] { (void)s::conv2d<3, 3>(c.filter(), p); }, {"conv2d", "stride", "got 0x1"});
  p = c.p;
  p.dilation = s::HW(1, -2);
  expect_error([&] { (void)s::conv2d<3, 3>(c.filter(), p); }, {"conv2d", "dilation", "got 1x-2"});
  p = c.p;
  p.pad = s::Padding(1, 1, -1, 1);
  expect_error([&] { (void)s::conv2d<3, 3>(c.filter(), p); }, {"conv2d", "padding", "-1"});

  const auto layer = s::conv2d<3, 3>(c.filter(), c.p);
  expect_error([&] { layer(s::nhwc<const float>(c.x.data(), 0, 5, 5, 4), c.out.view()); },
               {"conv2d", "input sizes must be positive", "got [0, 5, 5, 4]"});
  expect_error([&] { layer(s::nhwc<const float>(c.x.data(), 1, 0, 5, 4), c.out.view()); }, {"got [1, 0, 5, 4]"});
  expect_error([&] { layer(s::nhwc<const float>(c.x.data(), 1, 5, 5, 0), c.out.view()); }, {"got [1, 5, 5, 0]"});
  CHECK(c.out.all_sentinel());

  expect_error([&] { (void)s::nhwc(c.x.data(), 1, -5, 5, 4); }, {"nhwc", "non-negative", "got [1, -5, 5, 4]"});
  expect_error([&] { (void)s::matrix(c.x.data(), -1, 4); }, {"matrix", "non-negative", "got -1 x 4"});
  expect_error([&] { (void)s::matrix(c.x.data(), 2, 4, 3); }, {"matrix", "leading dimension", "(4)", "got 3"});
}

TEST_CASE("errors conv2d: filter that does not fit the padded input") {
  ConvSetup c;
  s::Conv2DParams p;
  p.dilation = 3;  // 3x3 dilated by 3 spans 7 > 5
  const auto layer = s::conv2d<3, 3>(c.filter(), p);
  expect_error([&] { (void)layer.output_shape(c.in().shape); }, {"conv2d", "does not fit", "5x5"});
  expect_error([&] { layer(c.in(), c.out.view()); }, {"does not fit"});
  CHECK(c.out.all_sentinel());
}

TEST_CASE("errors conv2d: output overlapping the input, tensor operand overlapping the output") {
  ConvSetup c;
  const auto layer = s::conv2d<3, 3>(c.filter(), c.p);
  std::vector<float> buf(2000, 1.f);
  const auto in = s::nhwc<const float>(buf.data(), 1, 5, 5, 4);
  expect_error([&] { layer(in, s::nhwc(buf.data(), 1, 5, 5, 8)); }, {"conv2d", "output overlaps the input"});
  expect_error([&] { layer(in, s::nhwc(buf.data() + 99, 1, 5, 5, 8)); }, {"output overlaps the input"});
  CHECK_NOTHROW(layer(in, s::nhwc(buf.data() + 100, 1, 5, 5, 8)));  // adjacent, not overlapping

  const auto out = c.out.view();
  const auto same = s::conv2d<3, 3>(c.filter(), c.p) | s::add(s::tensor(out));
  expect_error([&] { same(c.in(), out); }, {"conv2d", "tensor operand overlaps the output"});
  // A residual whose last pixel shares memory with the output's first one.
  std::vector<float> shared(2 * 200, 0.f);
  const auto out2 = s::nhwc(shared.data() + 199, 1, 5, 5, 8);
  const auto res2 = s::nhwc<const float>(shared.data(), 1, 5, 5, 8);
  const auto partial = s::conv2d<3, 3>(c.filter(), c.p) | s::relu() | s::add(s::tensor(res2));
  expect_error([&] { partial(c.in(), out2); }, {"tensor operand overlaps the output"});
  CHECK(c.out.all_sentinel());
}

TEST_CASE("errors conv2d: workspace too small") {
  ConvSetup c;
  const auto layer = s::conv2d<3, 3>(c.filter(), c.p) | s::add(s::per_channel(c.b));
  const std::size_t need = layer.workspace_size(c.in().shape);
  std::vector<std::byte> ws(need);
  expect_error(
      [&] { layer(c.in(), c.out.view(), s::workspace(ws.data(), need - 1)); },
      {"conv2d", "workspace too small", "need at least " + std::to_string(need), "got " + std::to_string(need - 1)});
  expect_error([&] { layer(c.in(), c.out.view(), s::workspace()); }, {"workspace too small", "got 0"});
  CHECK(c.out.all_sentinel());
  CHECK_NOTHROW(layer(c.in(), c.out.view(), s::workspace(ws.data(), need)));
  CHECK(c.out.inside_unwritten() == 0);
}

TEST_CASE("errors conv2d: overflowing sizes") {
  ConvSetup c;
  const index_t huge = index_t{1} << 21;  // kh * kw * C_in = 2^63
  expect_error([&] { (void)s::conv2d(s::ohwi(c.w.data(), huge, huge, huge, huge), c.p); },
               {"conv2d", "overflows", std::to_string(huge)});
  const index_t big = index_t{1} << 20;
  expect_error([&] { (void)s::nhwc(c.x.data(), big, big, big, big); }, {"nhwc", "overflows"});
  expect_error([&] { (void)s::nhwc(c.x.data(), 1, std::numeric_limits<index_t>::max(), 2, 1); }, {"nhwc", "overflows"});
  expect_error([&] { (void)s::matrix(c.x.data(), index_t{1} << 40, index_t{1} << 40); }, {"matrix", "overflows"});
}

TEST_CASE("errors: aligned_buffer whose byte count overflows") {
  // 2^62 floats are 2^64 bytes: the size cannot be allocated and must be refused
  // (std::bad_alloc or sinter::error), not wrapped to a small allocation.
  bool threw = false;
  std::string got;
  try {
    s::aligned_buffer b(index_t{1} << 62);
    got = "no exception; size() = " + std::to_string(b.size());
  } catch (const std::bad_alloc&) {
    threw = true;
  } catch (const s::error&) {
    threw = true;
  }
  INFO(got);
  CHECK(threw);
  expect_error([] { s::aligned_buffer b(-1); }, {"aligned_buffer", "non-negative", "got -1"});
}

// ---------------------------------------------------------------------------------
// linear
// ---------------------------------------------------------------------------------

TEST_CASE("errors linear: a valid call works (the baseline the other cases break)") {
  LinearSetup l;
  const auto layer = s::linear(l.w.data(), l.n, l.k) | s::add(s::per_channel(l.b)) |
                     s::add(s::tensor(s::matrix<const float>(l.r.data(), l.m, l.n)));
  CHECK_NOTHROW(layer(l.in(), l.y.matrix()));
  CHECK(l.y.outside_changed() == 0);
  CHECK(l.y.inside_unwritten() == 0);
}

TEST_CASE("errors linear: shapes, lengths, nulls, sizes, overlap, workspace") {
  LinearSetup l;
  const auto layer = s::linear(l.w.data(), l.n, l.k);
  const auto y = l.y.matrix();

  expect_error([&] { layer(s::matrix<const float>(l.x.data(), 2, 5), y); },
               {"linear", "input features", "expected 4", "got 5"});
  expect_error([&] { layer(l.in(), s::matrix(l.y.data(), 3, 7)); },
               {"linear", "output shape", "expected [3 x 8]", "got [3 x 7]"});
  expect_error([&] { layer(l.in(), s::matrix(l.y.data(), 2, 8)); }, {"expected [3 x 8]", "got [2 x 8]"});
  expect_error([&] { (void)(s::linear(l.w.data(), l.n, l.k) | s::add(s::per_channel(l.b.data(), 7))); },
               {"linear", "per-channel operand of op 0", "expected 8", "got 7"});
  const auto bad_t = s::linear(l.w.data(), l.n, l.k) | s::add(s::tensor(s::matrix<const float>(l.r.data(), 3, 5)));
  expect_error([&] { bad_t(l.in(), y); },
               {"linear", "tensor operand of op 0", "expected shape [1, 1, 3, 8]", "got [1, 1, 3, 5]"});

  expect_error([&] { (void)s::linear(nullptr, l.n, l.k); }, {"linear", "weights", "null"});
  expect_error([&] { layer(s::matrix<const float>(nullptr, 3, 4), y); }, {"linear", "input", "null"});
  expect_error([&] { layer(l.in(), s::matrix<float>(nullptr, 3, 8)); }, {"linear", "output", "null"});
  expect_error([&] { (void)(s::linear(l.w.data(), l.n, l.k) | s::mul(s::per_channel(nullptr, 8))); },
               {"linear", "null"});

  expect_error([&] { (void)s::linear(l.w.data(), 0, 4); }, {"linear", "weight sizes must be positive", "got [0 x 4]"});
  expect_error([&] { (void)s::linear(l.w.data(), 8, -4); }, {"got [8 x -4]"});
  expect_error([&] { layer(s::matrix<const float>(l.x.data(), 0, 4), s::matrix(l.y.data(), 0, 8)); },
               {"linear", "rows must be positive", "got 0"});
  expect_error([&] { (void)s::linear(l.w.data(), index_t{1} << 32, index_t{1} << 32); }, {"linear", "overflows"});

  std::vector<float> buf(64, 1.f);
  expect_error([&] { layer(s::matrix<const float>(buf.data(), 3, 4), s::matrix(buf.data() + 8, 3, 8)); },
               {"linear", "output overlaps the input"});
  const auto self = s::linear(l.w.data(), l.n, l.k) | s::add(s::tensor(s::MatrixView<const float>(y)));
  expect_error([&] { self(l.in(), y); }, {"linear", "tensor operand overlaps the output"});

  const std::size_t need = layer.workspace_size();
  std::vector<std::byte> ws(need);
  expect_error(
      [&] { layer(l.in(), y, s::workspace(ws.data(), need - 1)); },
      {"linear", "workspace too small", "need at least " + std::to_string(need), "got " + std::to_string(need - 1)});
  CHECK(l.y.all_sentinel());
}

TEST_CASE("errors: clip with lo > hi") {
  expect_error([] { (void)s::clip(2.f, 1.f); }, {"clip", "lo <= hi", "lo = 2", "hi = 1"});
  expect_error([] { (void)s::clip(NAN, 1.f); }, {"clip", "lo = nan"});
  expect_error([] { (void)s::clip(0.f, NAN); }, {"clip", "hi = nan"});
  CHECK_NOTHROW((void)s::clip(1.f, 1.f));
  CHECK_NOTHROW((void)s::clip(-INFINITY, INFINITY));
}

TEST_CASE("errors are sinter::error, derived from std::invalid_argument") {
  static_assert(std::is_base_of_v<std::invalid_argument, s::error>);
  CHECK_THROWS_AS((void)s::clip(1.f, 0.f), s::error);
  CHECK_THROWS_AS((void)s::clip(1.f, 0.f), std::invalid_argument);
  CHECK_THROWS_AS((void)s::clip(1.f, 0.f), std::logic_error);
}

// ---------------------------------------------------------------------------------
// Compile-time misuse, through the concepts the library constrains its API with.
// ---------------------------------------------------------------------------------

template <class T>
concept PipesAfterRelu = requires(T t) {
  s::relu() | t;
};
template <class T>
concept PipesAfterLinear = requires(s::Linear<>&& l, T t) {
  std::move(l) | t;
};
template <class T>
concept PipesAfterConv = requires(s::Conv2D<s::Kernel<3, 3>>&& c, T t) {
  std::move(c) | t;
};

TEST_CASE("errors at compile time: concepts reject what is not an op, operand or chain") {
  // Ops
  static_assert(!s::ElementwiseOp<int>);
  static_assert(!s::ElementwiseOp<float>);
  static_assert(!s::ElementwiseOp<s::Scalar>, "an operand is not an op");
  static_assert(!s::ElementwiseOp<s::Epilogue<s::ReLU>>, "a chain is not an op");
  static_assert(s::ElementwiseOp<s::ReLU> && s::ElementwiseOp<s::ReLU6> && s::ElementwiseOp<s::Clip>);
  static_assert(s::ElementwiseOp<s::ClipTo<-1.f, 1.f>>);
  static_assert(s::ElementwiseOp<s::Add<s::Scalar>> && s::ElementwiseOp<s::Sub<s::Constant<1.f>>>);
  static_assert(s::ElementwiseOp<s::RSub<s::PerChannel>> && s::ElementwiseOp<s::Mul<s::Tensor>>);
  static_assert(s::ElementwiseOp<s::Div<s::Scalar>> && s::ElementwiseOp<s::RDiv<s::Tensor>>);
  static_assert(s::UnaryOp<s::ReLU> && !s::BinaryOp<s::ReLU>);
  static_assert(s::BinaryOp<s::Mul<s::PerChannel>> && !s::UnaryOp<s::Mul<s::PerChannel>>);
  // Operands
  static_assert(s::Operand<s::Scalar> && s::Operand<s::Constant<2.f>> && s::Operand<s::PerChannel> &&
                s::Operand<s::Tensor>);
  static_assert(!s::Operand<float> && !s::Operand<int> && !s::Operand<s::ReLU> && !s::Operand<const float*>);
  // Chains
  static_assert(s::EpilogueChain<s::Epilogue<>> && s::EpilogueChain<const s::Epilogue<s::ReLU>&>);
  static_assert(!s::EpilogueChain<s::ReLU> && !s::EpilogueChain<int>);
  static_assert(!std::is_constructible_v<s::Epilogue<s::ReLU>, int>);
  // Composition accepts ops only.
  static_assert(PipesAfterRelu<s::Clip> && !PipesAfterRelu<int> && !PipesAfterRelu<float> &&
                !PipesAfterRelu<s::Scalar>);
  static_assert(PipesAfterLinear<s::ReLU> && !PipesAfterLinear<int> && !PipesAfterLinear<s::PerChannel>);
  static_assert(PipesAfterConv<s::Add<s::Scalar>> && !PipesAfterConv<double> && !PipesAfterConv<s::Tensor>);
  // Builders map operands to the documented kinds.
  static_assert(std::is_same_v<decltype(s::add(1.0f)), s::Add<s::Scalar>>);
  static_assert(std::is_same_v<decltype(s::add(1.0)), s::Add<s::Scalar>>);
  static_assert(std::is_same_v<decltype(s::sub(s::scalar(1.f))), s::Sub<s::Scalar>>);
  static_assert(std::is_same_v<decltype(s::mul(s::constant<2.f>)), s::Mul<s::Constant<2.f>>>);
  static_assert(std::is_same_v<decltype(s::div(s::per_channel(nullptr, 0))), s::Div<s::PerChannel>>);
  static_assert(std::is_same_v<decltype(s::rdiv(s::tensor(s::TensorView<const float>{}))), s::RDiv<s::Tensor>>);
  static_assert(std::is_same_v<decltype(s::relu6()), s::ClipTo<0.f, 6.f>>);
  CHECK(true);
}
