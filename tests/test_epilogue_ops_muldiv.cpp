// Epilogue ops Mul, Div and RDiv with every operand kind (Scalar from a float and from
// s::scalar, Constant<V>, PerChannel, Tensor with its own strides), each through a
// linear layer and a conv2d layer with full and edge register tiles in both directions,
// checked against the reference bound and against the exact IEEE float op (see the
// single-op harness in reference.hpp). Add, Sub and RSub: test_epilogue_ops.cpp;
// unary ops and NaN / Inf: test_epilogue_unary.cpp; chains: test_epilogue_chains.cpp.
#include <doctest/doctest.h>

#include "reference.hpp"

using namespace sinter_test;

TEST_CASE("epilogue op Mul (acc * x), every operand kind") {
  op_everywhere([](Operands& o) { return s::mul(o.rng().uniform(-2.f, 2.f)); }, "mul(float)");
  op_everywhere([](Operands& o) { return s::mul(s::scalar(o.rng().uniform(-2.f, 2.f))); }, "mul(scalar)");
  op_everywhere([](Operands&) { return s::mul(s::constant<-1.5f>); }, "mul(constant<-1.5f>)");
  op_everywhere([](Operands& o) { return s::mul(o.per_channel(wide)); }, "mul(per_channel)");
  op_everywhere([](Operands& o) { return s::mul(o.tensor(wide, operand_layout)); }, "mul(tensor)");
}

TEST_CASE("epilogue op Div (acc / x), every operand kind") {
  // Divisors |x| in [0.5, 2]; 3 is not a power of two, so a multiplication by a rounded
  // reciprocal would differ from the true quotient in some elements.
  op_everywhere([](Operands& o) { return s::div(o.rng().away_from_zero(0.5f, 2.f)); }, "div(float)");
  op_everywhere([](Operands& o) { return s::div(s::scalar(o.rng().away_from_zero(0.5f, 2.f))); }, "div(scalar)");
  op_everywhere([](Operands&) { return s::div(s::constant<3.f>); }, "div(constant<3.f>)");
  op_everywhere([](Operands& o) { return s::div(o.per_channel(divisor)); }, "div(per_channel)");
  op_everywhere([](Operands& o) { return s::div(o.tensor(divisor, operand_layout)); }, "div(tensor)");
}

TEST_CASE("epilogue op RDiv (x / acc), every operand kind") {
  // Positive inputs and weights keep the accumulator (the divisor) >= K/16.
  op_everywhere([](Operands& o) { return s::rdiv(o.rng().uniform(-2.f, 2.f)); }, "rdiv(float)", positive);
  op_everywhere([](Operands& o) { return s::rdiv(s::scalar(o.rng().uniform(-2.f, 2.f))); }, "rdiv(scalar)", positive);
  op_everywhere([](Operands&) { return s::rdiv(s::constant<3.f>); }, "rdiv(constant<3.f>)", positive);
  op_everywhere([](Operands& o) { return s::rdiv(o.per_channel(wide)); }, "rdiv(per_channel)", positive);
  op_everywhere([](Operands& o) { return s::rdiv(o.tensor(wide, operand_layout)); }, "rdiv(tensor)", positive);
}
