// Epilogue chains of length 6 to 8, composition of chains, and rebinding an operand,
// through a linear and a conv2d layer whose K spans more than one cache block. Each
// chain is built in type form, value form and (conv2d) chain form, which must give the
// same type and bit-identical outputs, and is checked against the reference (see the
// chain harness in reference.hpp). Lengths 0 to 5: test_epilogue_chains.cpp.
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

using C6 = s::Epilogue<ReLU, Div<PerChannel>, Sub<Scalar>, Mul<Constant<0.5f>>, Add<Tensor>, ClipTo<-1.f, 1.f>>;
C6 c6(Operands& o) { return C6({}, {o.per_channel(divisor)}, {{0.25f}}, {}, {o.tensor(unit, operand_layout)}, {}); }

using C7 = s::Epilogue<Clip, Add<Constant<64.f>>, RDiv<PerChannel>, Mul<Tensor>, Sub<Tensor>, s::ReLU6, RSub<Scalar>>;
C7 c7(Operands& o) {
  return C7({-1.f, 1.f}, {}, {o.per_channel(wide)}, {o.tensor(wide)}, {o.tensor(unit, operand_layout)}, {}, {{3.f}});
}

using C8 = s::Epilogue<Add<Scalar>, Mul<PerChannel>, Sub<Tensor>, ReLU, Add<Constant<0.25f>>, Div<Scalar>,
                       RSub<PerChannel>, Clip>;
C8 c8(Operands& o) {
  return C8({{-0.5f}}, {o.per_channel(wide)}, {o.tensor()}, {}, {}, {{-1.75f}}, {o.per_channel()}, {-2.f, 1.5f});
}

}  // namespace

TEST_CASE("epilogue chains of length 6 to 8: type form == value form") {
  chain_everywhere(c6);
  chain_everywhere(c7);
  chain_everywhere(c8);
}

TEST_CASE("epilogue chain composition: op | op, chain | op, then()") {
  const auto a = s::relu() | s::clip(-1.f, 1.f);
  static_assert(std::is_same_v<decltype(a), const s::Epilogue<ReLU, Clip>>);
  const auto b = a | s::add(2.f);
  static_assert(std::is_same_v<decltype(b), const s::Epilogue<ReLU, Clip, Add<Scalar>>>);
  const auto c = s::Epilogue<>{}.then(s::mul(s::constant<2.f>));
  static_assert(std::is_same_v<decltype(c), const s::Epilogue<Mul<Constant<2.f>>>>);
  CHECK(b.size == 3);
  CHECK(b.op<1>().lo == -1.f);
  CHECK(b.op<1>().hi == 1.f);
  CHECK(b.op<2>().operand.value == 2.f);
  CHECK(std::string(b.op<0>().name) == "relu");
}

TEST_CASE("epilogue: rebinding a tensor operand between calls") {
  // The layer keeps pointers to its operands; epilogue().op<I>() rebinds one, e.g. the
  // residual of the next input.
  ConvCase cc{.n = 1, .h = 4, .w = 5, .cin = 3, .cout = NR + 1, .kh = 3, .kw = 3};
  cc.p.pad = 1;
  Rng rng(5);
  ConvData d = make_conv_data(cc, rng);
  Operands o(rng, cc.out_shape());
  auto layer = s::conv2d<3, 3>(d.filter(), cc.p, s::algo::im2col) | s::add(o.per_channel()) | s::add(o.tensor());
  const Buffer4 y1 = run_conv(layer, cc, d, cc.name() + " first residual");
  check_output(y1.view(), d.acc, layer.epilogue(), cc.name() + " first residual");
  layer.epilogue().op<1>().operand = o.tensor(unit, operand_layout);
  const Buffer4 y2 = run_conv(layer, cc, d, cc.name() + " second residual");
  check_output(y2.view(), d.acc, layer.epilogue(), cc.name() + " second residual");
  CHECK_FALSE(same_bits(y1.dense(), y2.dense()));
}
