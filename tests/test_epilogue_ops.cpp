// Epilogue ops Add, Sub and RSub with every operand kind (Scalar from a float and from
// s::scalar, Constant<V>, PerChannel, Tensor with its own strides), each through a
// linear layer and a conv2d layer with full and edge register tiles in both directions,
// checked against the reference bound and against the exact IEEE float op (see the
// single-op harness in reference.hpp). Mul, Div and RDiv: test_epilogue_ops_muldiv.cpp;
// unary ops and NaN / Inf: test_epilogue_unary.cpp; chains: test_epilogue_chains.cpp.
#include <doctest/doctest.h>

#include "reference.hpp"

using namespace sinter_test;

TEST_CASE("epilogue op Add (acc + x), every operand kind") {
  op_everywhere([](Operands& o) { return s::add(o.rng().uniform(-2.f, 2.f)); }, "add(float)");
  op_everywhere([](Operands& o) { return s::add(s::scalar(o.rng().uniform(-2.f, 2.f))); }, "add(scalar)");
  op_everywhere([](Operands&) { return s::add(s::constant<0.75f>); }, "add(constant<0.75f>)");
  op_everywhere([](Operands& o) { return s::add(o.per_channel(wide)); }, "add(per_channel)");
  op_everywhere([](Operands& o) { return s::add(o.tensor(wide, operand_layout)); }, "add(tensor)");
}

TEST_CASE("epilogue op Sub (acc - x), every operand kind") {
  op_everywhere([](Operands& o) { return s::sub(o.rng().uniform(-2.f, 2.f)); }, "sub(float)");
  op_everywhere([](Operands& o) { return s::sub(s::scalar(o.rng().uniform(-2.f, 2.f))); }, "sub(scalar)");
  op_everywhere([](Operands&) { return s::sub(s::constant<-1.25f>); }, "sub(constant<-1.25f>)");
  op_everywhere([](Operands& o) { return s::sub(o.per_channel(wide)); }, "sub(per_channel)");
  op_everywhere([](Operands& o) { return s::sub(o.tensor(wide, operand_layout)); }, "sub(tensor)");
}

TEST_CASE("epilogue op RSub (x - acc), every operand kind") {
  op_everywhere([](Operands& o) { return s::rsub(o.rng().uniform(-2.f, 2.f)); }, "rsub(float)");
  op_everywhere([](Operands& o) { return s::rsub(s::scalar(o.rng().uniform(-2.f, 2.f))); }, "rsub(scalar)");
  op_everywhere([](Operands&) { return s::rsub(s::constant<2.5f>); }, "rsub(constant<2.5f>)");
  op_everywhere([](Operands& o) { return s::rsub(o.per_channel(wide)); }, "rsub(per_channel)");
  op_everywhere([](Operands& o) { return s::rsub(o.tensor(wide, operand_layout)); }, "rsub(tensor)");
}

TEST_CASE("epilogue ops: Sub and RSub, Div and RDiv are mirror images") {
  // acc - x == -(x - acc) exactly in IEEE arithmetic; x / acc and acc / x differ.
  const LinearCase lc{.m = 2 * MR + 1, .n = NR + 1, .k = 19, .x_dist = positive, .w_dist = positive};
  Rng rng(7);
  LinearData d = make_linear_data(lc, rng);
  Operands o(rng, lc.out_shape());
  const s::PerChannel x = o.per_channel(divisor);
  const Buffer4 sub = run_linear(s::linear(d.w.data(), lc.n, lc.k) | s::sub(x), lc, d, "sub");
  const Buffer4 rsub = run_linear(s::linear(d.w.data(), lc.n, lc.k) | s::rsub(x), lc, d, "rsub");
  const Buffer4 div = run_linear(s::linear(d.w.data(), lc.n, lc.k) | s::div(x), lc, d, "div");
  const Buffer4 rdiv = run_linear(s::linear(d.w.data(), lc.n, lc.k) | s::rdiv(x), lc, d, "rdiv");
  std::size_t not_negated = 0, div_equal_rdiv = 0;
  for (index_t m = 0; m < lc.m; ++m)
    for (index_t n = 0; n < lc.n; ++n) {
      not_negated += sub.at(0, 0, m, n) != -rsub.at(0, 0, m, n);
      div_equal_rdiv += div.at(0, 0, m, n) == rdiv.at(0, 0, m, n);
    }
  CHECK(not_negated == 0);
  // |acc| >= 19/16 and |x| <= 2: acc/x == x/acc only where acc^2 == x^2 (never here,
  // up to rounding in a handful of elements at most).
  CHECK(div_equal_rdiv * 20 < static_cast<std::size_t>(lc.m * lc.n));
}
