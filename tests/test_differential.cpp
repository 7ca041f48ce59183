// Randomized differential test: random layers (conv2d with each algorithm, pointwise,
// depthwise, linear; random shapes, strides, dilations, paddings, groups, batches,
// strided and channel-slice views, prologue and epilogue chains, value ranges) against
// the plain double-precision reference of reference.hpp. The generator, the chain
// configurations and the checks are in differential.hpp; the same generator drives the
// libFuzzer entry tests/fuzz/fuzz_layers.cpp.
//
// Budget and reproduction (environment variables):
//   SINTER_DIFF_SEED=S     seed of the run (default below); layer i is drawn from
//                          diff::layer_seed(S, i), so any layer can be rerun alone
//   SINTER_DIFF_LAYERS=N   number of layers (default: per build, below)
//   SINTER_DIFF_SECONDS=T  long mode: draw layers for T seconds (overrides N)
//   SINTER_DIFF_FIRST=I    start at layer I
//   SINTER_DIFF_VERBOSE=1  print every layer's description
// A failure prints the layer's full description (sizes, layouts, chain types, operand
// values, data seed) and the command line that reruns that one layer.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <map>

#include "differential.hpp"

using namespace sinter_test;

namespace {

// The CI budget: about 10 s at -O3 on x86 (2 loaded cores); the sanitizer build (-O1,
// AddressSanitizer) and the aarch64 build under qemu take several times longer per
// layer, so they draw fewer, staying under a minute.
#if defined(SINTER_TEST_SANITIZED)
constexpr long default_layers = 6000;
#elif defined(__aarch64__)
constexpr long default_layers = 3000;
#else
constexpr long default_layers = 10000;
#endif
constexpr std::uint64_t default_seed = 20240609;

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : fallback;
}
double env_double(const char* name, double fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtod(v, nullptr) : fallback;
}

std::string kind_label(const diff::Desc& d) {
  switch (d.kind) {
    case diff::Kind::depthwise: return "depthwise";
    case diff::Kind::linear: return "linear";
    case diff::Kind::conv2d: break;
  }
  if (d.pointwise) return "conv2d pointwise";
  static constexpr const char* algos[] = {"im2col", "winograd2x3", "automatic"};
  return std::string("conv2d ") + algos[static_cast<int>(d.algo)] +
         (d.algo == diff::Algo::automatic ? (d.runs_winograd() ? " (winograd)" : " (im2col)") : "");
}

}  // namespace

TEST_CASE("differential: random layers against the plain reference") {
  const std::uint64_t seed = env_u64("SINTER_DIFF_SEED", default_seed);
  const std::uint64_t first = env_u64("SINTER_DIFF_FIRST", 0);
  const double seconds = env_double("SINTER_DIFF_SECONDS", 0.0);
  const std::uint64_t count = env_u64("SINTER_DIFF_LAYERS", static_cast<std::uint64_t>(default_layers));
  const bool verbose = env_u64("SINTER_DIFF_VERBOSE", 0) != 0;

  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  std::map<std::string, long> kinds;
  std::size_t checked = 0, unchecked = 0, layers = 0, failures = 0, skipped = 0, redrawn = 0;
  double worst = 0.0, macs = 0.0;
  std::string worst_where;

  for (std::uint64_t i = first;; ++i) {
    if (seconds > 0 ? elapsed() >= seconds : i >= first + count) break;
    diff::Choices ch(diff::layer_seed(seed, i));
    diff::Desc d = diff::generate(ch);
    d.seed = diff::layer_seed(seed, i);
    if (verbose)
      std::printf("layer %llu:\n%s  chain configuration %d:\n%s", static_cast<unsigned long long>(i),
                  d.describe().c_str(), d.config,
                  diff::config_types(d.config, std::make_index_sequence<diff::n_configs>{}).c_str());
    const diff::Outcome o = diff::run_layer(d);
    ++layers;
    if (verbose)
      std::printf("  -> %s: %zu elements checked, %zu not checkable, error / tolerance <= %.3g%s\n",
                  o.ok ? "ok" : "FAILED", o.checked, o.unchecked, o.worst, o.skipped ? ", skipped" : "");
    ++kinds[kind_label(d)];
    macs += d.macs();
    checked += o.checked;
    unchecked += o.unchecked;
    skipped += o.skipped;
    redrawn += o.redraws > 0;
    if (o.worst > worst) {
      worst = o.worst;
      worst_where = "layer " + std::to_string(i);
    }
    if (!o.ok) {
      ++failures;
      std::ostringstream os;
      os << "layer " << i << " of seed " << seed << ": " << diff::report(d, o) << "  reproduce: SINTER_DIFF_SEED="
         << seed << " SINTER_DIFF_FIRST=" << i << " SINTER_DIFF_LAYERS=1 ./test_differential";
      FAIL_CHECK(os.str());
      if (failures >= 10) {
        MESSAGE("stopping after 10 failing layers");
        break;
      }
    }
  }

  std::printf("differential: %zu layers (seed %llu, first %llu) in %.1f s, %.3g multiply-adds; %zu elements "
              "checked, %zu not checkable (%.2f%%); largest error / tolerance %.3g (%s); %zu layers redrawn with "
              "unit values, %zu skipped; %zu failed\n",
              layers, static_cast<unsigned long long>(seed), static_cast<unsigned long long>(first), elapsed(), macs,
              checked, unchecked, 100.0 * static_cast<double>(unchecked) / static_cast<double>(std::max<std::size_t>(checked + unchecked, 1)),
              worst, worst_where.c_str(), redrawn, skipped, failures);
  for (const auto& [k, n] : kinds) std::printf("  %-28s %ld\n", k.c_str(), n);

  // A run whose elements mostly escape the bound (x / acc with acc near its own error)
  // or whose layers are mostly skipped would check little.
  CHECK(unchecked * 10 <= checked + unchecked);
  CHECK(skipped * 50 <= layers);
  CHECK(layers > 0);
}

TEST_CASE("differential: the chain configurations hold every op, operand kind and length") {
  std::vector<int> epi_seen(diff::gen::n_kinds), pro_seen(diff::gen::n_kinds), epi_len(9), pro_len(9);
  const auto record = []<class... Ops>(diff::tag<s::Epilogue<Ops...>>, std::vector<int>& seen, std::vector<int>& len) {
    (++seen[static_cast<std::size_t>(diff::kind_of<Ops>())], ...);
    ++len[sizeof...(Ops)];
  };
  [&]<std::size_t... C>(std::index_sequence<C...>) {
    (record(diff::tag<diff::config_epilogue<static_cast<int>(C)>>{}, epi_seen, epi_len), ...);
    (record(diff::tag<diff::config_prologue<static_cast<int>(C)>>{}, pro_seen, pro_len), ...);
  }(std::make_index_sequence<diff::n_configs>{});
  for (int k = 0; k < diff::gen::n_kinds; ++k) {
    INFO("op kind " << k);
    CHECK(epi_seen[static_cast<std::size_t>(k)] > 0);
    CHECK(pro_seen[static_cast<std::size_t>(k)] > 0);
  }
  for (int l = 0; l <= 8; ++l) {
    INFO("chain length " << l);
    CHECK(epi_len[static_cast<std::size_t>(l)] > 0);
    CHECK(pro_len[static_cast<std::size_t>(l)] > 0);
  }
}

TEST_CASE("differential: the generator is reproducible and reads any byte string as a valid layer") {
  for (std::uint64_t i = 0; i < 200; ++i) {
    diff::Choices a(diff::layer_seed(7, i)), b(diff::layer_seed(7, i));
    CHECK(diff::generate(a).describe() == diff::generate(b).describe());
  }
  std::mt19937 g(11);
  for (int t = 0; t < 2000; ++t) {
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(g() % 96));
    for (auto& x : bytes) x = static_cast<std::uint8_t>(g());
    diff::Choices ch(bytes.data(), bytes.size());
    const diff::Desc d = diff::generate(ch);
    INFO(d.describe());
    const Shape4 o = d.out_shape();
    REQUIRE((o.n > 0 && o.h > 0 && o.w > 0 && o.c > 0));
    REQUIRE(d.cin % d.p.groups == 0);
    REQUIRE(d.cout % d.p.groups == 0);
    if (d.algo == diff::Algo::winograd && d.kind == diff::Kind::conv2d)
      REQUIRE((d.kh == 3 && d.kw == 3 && d.p.stride.h == 1 && d.p.stride.w == 1 && d.p.groups == 1));
  }
}
