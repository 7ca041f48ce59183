// Epilogue chains of length 0 to 5 in varied orders (the same ops reversed for 4 and
// 5), through a linear and a conv2d layer whose K spans more than one cache block. Each
// chain is built in type form, value form and (conv2d) chain form, which must give the
// same type and bit-identical outputs, and is checked against the reference (see the
// chain harness in reference.hpp). Lengths 6 to 8: test_epilogue_chains_long.cpp.
#include <doctest/doctest.h>

#include "reference.hpp"

using namespace sinter_test;

namespace {

using s::Add;
using s::Clip;
using s::ClipTo;
using s::Constant;
using s::Div;
using s::Mul;
using s::PerChannel;
using s::RDiv;
using s::ReLU;
using s::RSub;
using s::Scalar;
using s::Sub;
using s::Tensor;

// The chains. Ops that divide by the running value are preceded by ops that keep it
// away from zero (clip, then add a constant larger than the accumulation error bound);
// divisors are drawn away from zero.
using C0 = s::Epilogue<>;
C0 c0(Operands&) { return {}; }

using C1 = s::Epilogue<Add<PerChannel>>;
C1 c1(Operands& o) { return C1({o.per_channel()}); }

using C2 = s::Epilogue<Mul<Scalar>, Add<Tensor>>;
C2 c2(Operands& o) { return C2({{0.75f}}, {o.tensor(unit, operand_layout)}); }

using C3 = s::Epilogue<Add<Tensor>, RSub<Constant<1.f>>, ReLU>;
C3 c3(Operands& o) { return C3({o.tensor()}, {}, {}); }

using C4 = s::Epilogue<Sub<PerChannel>, Mul<Tensor>, Clip, Add<Scalar>>;
C4 c4(Operands& o) { return C4({o.per_channel()}, {o.tensor(wide)}, {-1.5f, 1.f}, {{0.125f}}); }

// The same ops in the reverse order.
using C4r = s::Epilogue<Add<Scalar>, Clip, Mul<Tensor>, Sub<PerChannel>>;
C4r c4r(Operands& o) { return C4r({{0.125f}}, {-1.5f, 1.f}, {o.tensor(wide)}, {o.per_channel()}); }

// The residual block: bias, folded batch norm, skip connection, activation.
using C5 = s::Epilogue<Add<PerChannel>, Mul<PerChannel>, Add<PerChannel>, Add<Tensor>, ReLU>;
C5 c5(Operands& o) { return C5({o.per_channel()}, {o.per_channel(wide)}, {o.per_channel()}, {o.tensor()}, {}); }

// The same ops, activation first.
using C5r = s::Epilogue<ReLU, Add<Tensor>, Add<PerChannel>, Mul<PerChannel>, Add<PerChannel>>;
C5r c5r(Operands& o) { return C5r({}, {o.tensor()}, {o.per_channel()}, {o.per_channel(wide)}, {o.per_channel()}); }

}  // namespace

TEST_CASE("epilogue chains of length 0 to 2: type form == value form, against the reference") {
  chain_everywhere(c0);
  chain_everywhere(c1);
  chain_everywhere(c2);
}

TEST_CASE("epilogue chains of length 3 to 4 (both orders): type form == value form") {
  chain_everywhere(c3);
  chain_everywhere(c4);
  chain_everywhere(c4r);
}

TEST_CASE("epilogue chains of length 5 (both orders): type form == value form") {
  chain_everywhere(c5);
  chain_everywhere(c5r);
}
