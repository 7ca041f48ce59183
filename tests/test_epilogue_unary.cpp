// Unary epilogue ops (ReLU, ReLU6, Clip, ClipTo) through a linear and a conv2d layer,
// and the NaN / Inf behaviour documented in include/sinter/epilogue/ops.hpp, checked
// exactly:
//   relu(NaN) = NaN, clip(NaN, lo, hi) = NaN (NaN propagates, as PyTorch's relu/clamp)
//   relu(-inf) = 0, relu(+inf) = +inf, clip(-inf) = lo, clip(+inf) = hi
// with NaN / Inf arriving both through an operand and in the accumulators themselves.
#include <doctest/doctest.h>

#include "reference.hpp"

using namespace sinter_test;

namespace {

/// A tensor operand of the output's shape whose elements cycle through NaN, +inf, -inf
/// and two finite values, so every tile position (full and edge tiles, every lane) sees
/// each special value.
s::Tensor specials_tensor(Operands& o) {
  const s::Tensor t = o.tensor(unit, operand_layout);
  Buffer4& b = o.last_tensor();
  const Shape4 sh = b.shape();
  index_t i = 0;
  for (index_t n = 0; n < sh.n; ++n)
    for (index_t h = 0; h < sh.h; ++h)
      for (index_t w = 0; w < sh.w; ++w)
        for (index_t c = 0; c < sh.c; ++c, ++i) {
          switch (i % 5) {
            case 0:
              b.at(n, h, w, c) = NAN;
              break;
            case 1:
              b.at(n, h, w, c) = INFINITY;
              break;
            case 2:
              b.at(n, h, w, c) = -INFINITY;
              break;
            default:
              break;
          }
        }
  return t;
}

/// What clamp(x, lo, hi) must give for x = acc + special.
void check_special(float got, float special, float lo, float hi, const std::string& where) {
  INFO(where);
  if (std::isnan(special)) {
    CHECK_MESSAGE(std::isnan(got), "NaN must propagate, got " << got);
  } else if (special == INFINITY) {
    CHECK(got == hi);
  } else if (special == -INFINITY) {
    CHECK(got == lo);
  }
}

}  // namespace

TEST_CASE("epilogue unary ops: relu, relu6, clip, ClipTo") {
  op_everywhere([](Operands&) { return s::relu(); }, "relu");
  // Scaled so that part of the outputs lands above 6.
  op_everywhere([](Operands&) { return s::mul(s::constant<8.f>) | s::relu6(); }, "mul(constant<8>) | relu6");
  op_everywhere([](Operands&) { return s::clip(-0.75f, 0.5f); }, "clip(-0.75, 0.5)");
  op_everywhere([](Operands&) { return s::clip(0.25f, 0.25f); }, "clip(0.25, 0.25)");
  op_everywhere([](Operands&) { return s::ClipTo<-0.5f, 1.f>{}; }, "ClipTo<-0.5, 1>");
}

TEST_CASE("epilogue NaN and Inf from a tensor operand, through every clamp") {
  // add(T) with T in {NaN, +inf, -inf, finite}: acc + T is NaN / +-inf exactly, then
  // the clamp; checked against the float definitions on the layer's own accumulators.
  op_everywhere([](Operands& o) { return s::add(specials_tensor(o)) | s::relu(); }, "add(specials) | relu");
  op_everywhere([](Operands& o) { return s::add(specials_tensor(o)) | s::relu6(); }, "add(specials) | relu6");
  op_everywhere([](Operands& o) { return s::add(specials_tensor(o)) | s::clip(-0.5f, 0.5f); },
                "add(specials) | clip(-0.5, 0.5)");
  op_everywhere([](Operands& o) { return s::add(specials_tensor(o)) | s::ClipTo<-1.f, 2.f>{}; },
                "add(specials) | ClipTo<-1, 2>");
  op_everywhere([](Operands& o) { return s::add(specials_tensor(o)); }, "add(specials)");
}

TEST_CASE("epilogue NaN and Inf: documented values, element by element") {
  // The same as above with the documented results spelled out, on a linear layer with
  // one full and one edge tile in each direction.
  const LinearCase lc{.m = MR + 1, .n = NR + 1, .k = 5};
  Rng rng(3);
  LinearData d = make_linear_data(lc, rng);
  Operands o(rng, lc.out_shape());
  const s::Tensor t = specials_tensor(o);
  const Buffer4& tb = o.last_tensor();

  const Buffer4 relu = run_linear(s::linear(d.w.data(), lc.n, lc.k) | s::add(t) | s::relu(), lc, d, "relu");
  const Buffer4 relu6 = run_linear(s::linear(d.w.data(), lc.n, lc.k) | s::add(t) | s::relu6(), lc, d, "relu6");
  const Buffer4 clip = run_linear(s::linear(d.w.data(), lc.n, lc.k) | s::add(t) | s::clip(-0.5f, 0.25f), lc, d, "clip");
  const Buffer4 clipto =
      run_linear(s::linear(d.w.data(), lc.n, lc.k) | s::add(t) | s::ClipTo<-3.f, -2.f>{}, lc, d, "ClipTo");
  std::size_t specials = 0;
  for (index_t m = 0; m < lc.m; ++m)
    for (index_t n = 0; n < lc.n; ++n) {
      const float x = tb.at(0, 0, m, n);
      if (std::isfinite(x)) continue;
      ++specials;
      const std::string where = "row " + std::to_string(m) + ", column " + std::to_string(n);
      check_special(relu.at(0, 0, m, n), x, 0.f, INFINITY, "relu, " + where);
      check_special(relu6.at(0, 0, m, n), x, 0.f, 6.f, "relu6, " + where);
      check_special(clip.at(0, 0, m, n), x, -0.5f, 0.25f, "clip(-0.5, 0.25), " + where);
      check_special(clipto.at(0, 0, m, n), x, -3.f, -2.f, "ClipTo<-3, -2>, " + where);
    }
  CHECK(specials * 5 >= static_cast<std::size_t>(3 * lc.m * lc.n) - 5);
}

TEST_CASE("epilogue NaN and Inf in the accumulators") {
  // Input row 1 holds a NaN, row 2 +inf and row 3 -inf (in column 0); the other rows
  // are finite. Weights of column 0 are away from zero, so those rows accumulate NaN or
  // an infinity whose sign is the weight's (times the input's).
  for (const index_t m : sizes({4, MR + 1, 2 * MR + 3})) {
    const LinearCase lc{.m = m, .n = NR + LANES + 1, .k = 9};
    SUBCASE(lc.name().c_str()) {
      Rng rng(static_cast<std::uint32_t>(m));
      LinearData d = make_linear_data(lc, rng);
      for (index_t n = 0; n < lc.n; ++n) d.w[static_cast<std::size_t>(n * lc.k)] = rng.away_from_zero(0.5f, 1.f);
      d.x.at(0, 0, 1, 0) = NAN;
      d.x.at(0, 0, 2, 0) = INFINITY;
      d.x.at(0, 0, 3, 0) = -INFINITY;
      d.acc = ref_linear(std::as_const(d.x).matrix(), d.w, lc.n);
      Operands o(rng, lc.out_shape());

      const auto plain = s::linear(d.w.data(), lc.n, lc.k);
      const Buffer4 raw = run_linear(plain, lc, d, lc.name() + " no epilogue");
      check_output(raw.view(), d.acc, plain.epilogue(), lc.name() + " no epilogue");

      const auto relu = s::linear(d.w.data(), lc.n, lc.k) | s::relu();
      const Buffer4 y_relu = run_linear(relu, lc, d, lc.name() + " relu");
      check_output(y_relu.view(), d.acc, relu.epilogue(), lc.name() + " relu");
      check_ieee(y_relu, raw, relu.epilogue(), lc.name() + " relu");

      const auto clip = s::linear(d.w.data(), lc.n, lc.k) | s::add(o.per_channel()) | s::clip(-1.f, 1.f);
      const Buffer4 y_clip = run_linear(clip, lc, d, lc.name() + " add | clip");
      check_output(y_clip.view(), d.acc, clip.epilogue(), lc.name() + " add | clip");
      check_ieee(y_clip, raw, clip.epilogue(), lc.name() + " add | clip");

      for (index_t n = 0; n < lc.n; ++n) {
        CAPTURE(n);
        CHECK(std::isnan(y_relu.at(0, 0, 1, n)));
        CHECK(std::isnan(y_clip.at(0, 0, 1, n)));
        const bool pos = d.w[static_cast<std::size_t>(n * lc.k)] > 0.f;  // sign of +inf * w
        CHECK(y_relu.at(0, 0, 2, n) == (pos ? INFINITY : 0.f));
        CHECK(y_relu.at(0, 0, 3, n) == (pos ? 0.f : INFINITY));
        CHECK(y_clip.at(0, 0, 2, n) == (pos ? 1.f : -1.f));
        CHECK(y_clip.at(0, 0, 3, n) == (pos ? -1.f : 1.f));
      }
    }
  }
}

TEST_CASE("epilogue NaN scalar operand makes every output NaN, through relu and clip") {
  op_everywhere([](Operands&) { return s::add(NAN) | s::relu(); }, "add(NaN) | relu");
  op_everywhere([](Operands&) { return s::mul(s::scalar(NAN)) | s::clip(-1.f, 1.f); }, "mul(NaN) | clip(-1, 1)");
}
