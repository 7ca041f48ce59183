// Linear layer against the reference over the GEMM edge-case matrix: M, N and K equal
// to, below, above and not divisible by the register tile (MR x NR), the vector width
// and the cache blocks (MC, KC) of the build's kernels, with dense and padded leading
// dimensions, with and without an epilogue chain.
#include <doctest/doctest.h>

#include "reference.hpp"

using namespace sinter_test;

namespace {

std::vector<index_t> m_sizes() { return sizes({1, MR - 1, MR, MR + 1, 2 * MR + 3, MC - 1, MC, MC + 1, 2 * MC + 5}); }
std::vector<index_t> n_sizes() { return sizes({1, LANES - 1, LANES, LANES + 1, NR - 1, NR, NR + 1, 2 * NR + 5}); }
std::vector<index_t> k_sizes() { return sizes({1, 3, KC - 1, KC, KC + 1, 2 * KC + 7}); }

// A chain touching every operand kind but Constant: y = clip(x*W^T * 0.5 + b[n] + T[m][n], -4, 4).
auto typical_chain(Operands& o, index_t operand_ld_pad) {
  return s::mul(0.5f) | s::add(o.per_channel()) | s::add(o.matrix(unit, operand_ld_pad)) | s::clip(-4.f, 4.f);
}

std::uint32_t seed_of(index_t m, index_t n, index_t k) {
  return static_cast<std::uint32_t>(1000003 * m + 1009 * n + k);
}

}  // namespace

TEST_CASE("linear: tile and block sizes of this build") {
  MESSAGE("arch " << arch::name() << ": MR=" << MR << " NR=" << NR << " lanes=" << LANES << " MC=" << MC
                  << " KC=" << KC);
  CHECK(MR >= 1);
  CHECK(NR % LANES == 0);
  CHECK(MC % MR == 0);
}

TEST_CASE("linear: edge-case matrix, no epilogue, dense") {
  for (index_t m : m_sizes())
    for (index_t n : n_sizes())
      for (index_t k : k_sizes()) {
        const LinearCase lc{.m = m, .n = n, .k = k};
        SUBCASE(lc.name().c_str()) {
          linear_case(lc, seed_of(m, n, k), [](Operands&) { return s::Epilogue<>{}; });
        }
      }
}

TEST_CASE("linear: edge-case matrix, 4-op chain, dense") {
  for (index_t m : m_sizes())
    for (index_t n : n_sizes())
      for (index_t k : k_sizes()) {
        const LinearCase lc{.m = m, .n = n, .k = k};
        SUBCASE(lc.name().c_str()) {
          linear_case(
              lc, seed_of(m, n, k) + 1, [](Operands& o) { return typical_chain(o, 0); }, "mul|add|add|clip");
        }
      }
}

TEST_CASE("linear: edge-case matrix, 4-op chain, leading dimensions larger than the rows") {
  for (index_t m : m_sizes())
    for (index_t n : n_sizes())
      for (index_t k : k_sizes()) {
        // Odd paddings so rows start at every alignment.
        const LinearCase lc{.m = m, .n = n, .k = k, .x_ld_pad = 3, .y_ld_pad = 5};
        SUBCASE(lc.name().c_str()) {
          linear_case(
              lc, seed_of(m, n, k) + 2, [](Operands& o) { return typical_chain(o, 7); }, "mul|add|add|clip");
        }
      }
}

TEST_CASE("linear: value form equals type form bit for bit") {
  const LinearCase lc{.m = 2 * MR + 3, .n = NR + LANES + 1, .k = KC + 5, .x_ld_pad = 1, .y_ld_pad = 2};
  Rng rng(11);
  LinearData d = make_linear_data(lc, rng);
  Operands o(rng, lc.out_shape());
  const s::PerChannel b = o.per_channel();
  const s::Tensor t = o.matrix(unit, 4);

  const auto value_form = s::linear(d.w.data(), lc.n, lc.k) | s::mul(0.5f) | s::add(b) | s::add(t) | s::clip(-4.f, 4.f);
  using Epi = s::Epilogue<s::Mul<s::Scalar>, s::Add<s::PerChannel>, s::Add<s::Tensor>, s::Clip>;
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(value_form)>, s::Linear<Epi>>);
  const s::Linear<Epi> type_form(
      d.w.data(), lc.n, lc.k,
      Epi(s::Mul<s::Scalar>{{0.5f}}, s::Add<s::PerChannel>{b}, s::Add<s::Tensor>{t}, s::Clip{-4.f, 4.f}));
  CHECK(value_form.in_features() == lc.k);
  CHECK(value_form.out_features() == lc.n);
  const Buffer4 y1 = run_linear(value_form, lc, d, lc.name() + " value form");
  const Buffer4 y2 = run_linear(type_form, lc, d, lc.name() + " type form");
  CHECK(same_bits(y1.dense(), y2.dense()));
  check_output(y1.view(), d.acc, value_form.epilogue(), lc.name());
}

TEST_CASE("linear: caller-provided workspace") {
  const LinearCase lc{.m = MC + 1, .n = NR + 1, .k = 2 * KC + 7};
  Rng rng(12);
  LinearData d = make_linear_data(lc, rng);
  Operands o(rng, lc.out_shape());
  const auto layer = s::linear(d.w.data(), lc.n, lc.k) | s::add(o.per_channel());
  const Buffer4 ref = run_linear(layer, lc, d, lc.name() + " allocating call");
  check_output(ref.view(), d.acc, layer.epilogue(), lc.name());

  const std::size_t need = layer.workspace_size();
  CHECK(need > 0);
  // Exactly workspace_size() bytes, at every byte offset of a cache line: the layer must
  // align its arrays inside the span and still fit.
  for (std::size_t shift : {0, 1, 4, 31, 63}) {
    CAPTURE(shift);
    std::vector<std::byte> mem(need + 64);
    Buffer4 y(lc.out_shape(), Layout{.guard = 64});
    layer(d.x.matrix(), y.matrix(), s::workspace(mem.data() + shift, need));
    check_guards(y, lc.name() + " with workspace");
    CHECK(same_bits(y.dense(), ref.dense()));
  }
}

TEST_CASE("linear: one layer, many calls with different M") {
  // The packed weights are reused; nothing of one call leaks into the next.
  const index_t n = NR + 3, k = 2 * KC + 7;
  Rng rng(13);
  const std::vector<float> w = rng.uniform_vec(n * k, -1.f, 1.f);
  const std::vector<float> bias = rng.uniform_vec(n, -1.f, 1.f);
  const auto layer = s::linear(w.data(), n, k) | s::add(s::per_channel(bias)) | s::relu();
  for (index_t m : {MC + 1, index_t{1}, 2 * MR + 3, MR}) {
    const LinearCase lc{.m = m, .n = n, .k = k};
    SUBCASE(lc.name().c_str()) {
      LinearData d;
      d.x = Buffer4({1, 1, m, k});
      d.x.fill(rng);
      d.w = w;
      d.acc = ref_linear(std::as_const(d.x).matrix(), w, n);
      const Buffer4 y = run_linear(layer, lc, d, lc.name());
      check_output(y.view(), d.acc, layer.epilogue(), lc.name());
    }
  }
}
