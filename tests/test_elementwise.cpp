// Elementwise<Epi>: a chain run as its own pass. Every op and operand kind against the
// ops' IEEE float definitions (exact: one pass applies each op once, in order; chains
// here never put an add or sub right after a mul, which a compiler may contract into
// one FMA under the default -ffp-contract=fast of GNU C++), strided
// views, in place, on executors, and the errors it raises.
#include <doctest/doctest.h>

#include "reference.hpp"

using namespace sinter_test;

namespace {

/// Runs elementwise(chain) on a random input of `shape` laid out as `in_layout` into a
/// guarded output laid out as `out_layout` (or in place), and checks every element
/// against the chain's IEEE definition applied to the input.
template <class MakeChain>
void pass_case(Shape4 shape, MakeChain&& make, const std::string& label, Dist data = unit, Layout in_layout = {},
               Layout out_layout = {}, bool in_place = false) {
  std::ostringstream os;
  os << label << " on [" << shape.n << ", " << shape.h << ", " << shape.w << ", " << shape.c << "]"
     << (in_layout.dense() ? "" : " strided input") << (out_layout.dense() ? "" : " strided output")
     << (in_place ? " in place" : "");
  const std::string what = os.str();
  INFO(what);
  Rng rng(seed_of(what));
  out_layout.guard = 64;
  Buffer4 in(shape, in_place ? out_layout : in_layout);
  in.fill(rng, data);
  const Buffer4 orig = in;
  Operands ops(rng, shape);
  const auto pass = s::elementwise(as_chain(make(ops)));
  Buffer4 out_buf(shape, out_layout);
  Buffer4& out = in_place ? in : out_buf;
  pass(std::as_const(in).view(), out.view());
  check_guards(out, what);
  index_t bad = 0;
  for (index_t n = 0; n < shape.n; ++n)
    for (index_t h = 0; h < shape.h; ++h)
      for (index_t w = 0; w < shape.w; ++w)
        for (index_t c = 0; c < shape.c; ++c) {
          const float want = ieee_epilogue(pass.epilogue(), orig.at(n, h, w, c), At{n, h, w, c});
          const float got = std::as_const(out).at(n, h, w, c);
          if (!same_value(got, want) && bad++ < 5)
            MESSAGE("at [" << n << ", " << h << ", " << w << ", " << c << "]: got " << got << ", expected " << want);
        }
  CHECK(bad == 0);
}

const Shape4 kShapes[] = {{1, 1, 1, 1}, {2, 3, 5, 3}, {1, 4, 3, LANES + 1}, {3, 2, 7, 33}, {1, 1, 2, 2 * LANES}};

}  // namespace

TEST_CASE("elementwise: every binary op with every operand kind") {
  for (const Shape4 sh : kShapes) {
    pass_case(sh, [](Operands&) { return s::add(0.75f); }, "add scalar");
    pass_case(sh, [](Operands&) { return s::sub(s::constant<0.5f>); }, "sub constant");
    pass_case(sh, [](Operands& o) { return s::rsub(o.per_channel()); }, "rsub per-channel");
    pass_case(sh, [](Operands& o) { return s::mul(o.tensor(unit, operand_layout)); }, "mul strided tensor");
    pass_case(sh, [](Operands& o) { return s::div(o.per_channel(divisor)); }, "div per-channel");
    pass_case(sh, [](Operands& o) { return s::div(o.tensor(divisor)); }, "div tensor");
    pass_case(sh, [](Operands&) { return s::rdiv(1.5f); }, "rdiv scalar", positive);
    pass_case(sh, [](Operands& o) { return s::rdiv(o.tensor(unit)); }, "rdiv tensor", positive);
  }
}

TEST_CASE("elementwise: relu, clip, relu6 and chains, NaN and infinities included") {
  for (const Shape4 sh : kShapes) {
    pass_case(sh, [](Operands&) { return s::relu(); }, "relu", wide);
    pass_case(sh, [](Operands&) { return s::clip(-0.5f, 0.25f); }, "clip", wide);
    pass_case(
        sh,
        [](Operands& o) {
          return s::sub(o.tensor()) | s::add(o.per_channel()) | s::mul(o.per_channel(wide)) | s::relu6();
        },
        "sub tensor | add | mul | relu6", wide);
  }
  // Special values in the input: NaN stays NaN through relu / clip, inf is clamped.
  Rng rng(7);
  Buffer4 in({1, 1, 3, 2 * LANES + 3});
  in.fill(rng, wide);
  in.at(0, 0, 0, 1) = std::numeric_limits<float>::quiet_NaN();
  in.at(0, 0, 1, 2) = std::numeric_limits<float>::infinity();
  in.at(0, 0, 2, LANES + 1) = -std::numeric_limits<float>::infinity();
  in.at(0, 0, 2, 0) = -0.f;
  Buffer4 out(in.shape(), Layout{.guard = 16});
  s::elementwise(s::relu() | s::clip(-1.f, 2.f))(std::as_const(in).view(), out.view());
  check_guards(out, "special values");
  CHECK(std::isnan(out.at(0, 0, 0, 1)));
  CHECK(out.at(0, 0, 1, 2) == 2.f);
  CHECK(out.at(0, 0, 2, LANES + 1) == 0.f);
  CHECK(out.at(0, 0, 2, 0) == 0.f);
}

TEST_CASE("elementwise: strided views write only their channel slice, and in place") {
  const Layout gaps{.pixel_pad = 3, .c0 = 2, .row_pad = 5, .image_pad = 7};
  for (const Shape4 sh : {Shape4{2, 3, 4, 5}, Shape4{1, 2, 3, LANES + 3}}) {
    auto chain = [](Operands& o) { return s::add(o.tensor(unit, operand_layout)) | s::mul(o.per_channel(wide)); };
    pass_case(sh, chain, "add | mul", unit, gaps, {});
    pass_case(sh, chain, "add | mul", unit, {}, gaps);
    pass_case(sh, chain, "add | mul", unit, {}, gaps, /*in_place=*/true);
  }
}

TEST_CASE("elementwise: channels that do not fill whole vectors, dense rows, in place too") {
  // Dense rows with C % lanes != 0 run as one flat run per row with per-channel patterns.
  for (const Shape4 sh : {Shape4{2, 5, 7, 3}, Shape4{1, 3, 9, LANES - 1}, Shape4{1, 2, 5, 2 * LANES + 3}})
    for (bool in_place : {false, true})
      pass_case(
          sh,
          [](Operands& o) {
            return s::sub(o.per_channel()) | s::div(o.per_channel(divisor)) | s::add(o.tensor()) | s::relu6();
          },
          "sub | div per-channel | add tensor | relu6", unit, {}, {}, in_place);
}

TEST_CASE("elementwise: any executor gives the same bits") {
  const Shape4 sh{2, 9, 5, 2 * LANES + 1};
  Rng rng(11);
  Buffer4 in(sh);
  in.fill(rng);
  Operands ops(rng, sh);
  const auto pass = s::elementwise() | s::add(ops.per_channel()) | s::mul(ops.tensor()) | s::relu();
  Buffer4 serial(sh), par(sh);
  pass(std::as_const(in).view(), serial.view());
  pass(std::as_const(in).view(), par.view(), s::thread_executor(3));
  CHECK(same_bits(serial.dense(), par.dense()));
}

// The 3-float operand on 4 channels is refused before any read; GCC cannot see that
// and, with the kernel inlined, warns about the vector load it would do (-Warray-bounds).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif
TEST_CASE("elementwise: errors") {
  Rng rng(3);
  Buffer4 a({1, 2, 2, 4}), b({1, 2, 2, 5}), c({1, 2, 2, 4});
  a.fill(rng);
  std::vector<float> three(3, 1.f);
  CHECK_THROWS_WITH_AS(s::elementwise(s::relu())(std::as_const(a).view(), b.view()),
                       doctest::Contains("shapes differ"), s::error);
  CHECK_THROWS_WITH_AS(s::elementwise(s::add(s::per_channel(three)))(std::as_const(a).view(), c.view()),
                       doctest::Contains("elementwise"), s::error);
  // A shifted view of the same memory is refused; the same view (in place) is not.
  s::TensorView<float> v = a.view();
  s::TensorView<float> shifted = v;
  shifted.shape.w = 1;
  shifted.data += 1;
  s::TensorView<const float> first = v;
  first.shape.w = 1;
  CHECK_THROWS_WITH_AS(s::elementwise(s::relu())(first, shifted), doctest::Contains("overlaps"), s::error);
  CHECK_NOTHROW(s::elementwise(s::relu())(s::TensorView<const float>(v), v));
  // A tensor operand that is the output.
  CHECK_THROWS_WITH_AS(s::elementwise(s::add(s::tensor(s::TensorView<const float>(c.view()))))(
                           std::as_const(a).view(), c.view()),
                       doctest::Contains("overlaps"), s::error);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
