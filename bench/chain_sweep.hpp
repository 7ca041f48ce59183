// bench/chain_sweep.hpp - the chain-length sweep of bench_chain_conv and
// bench_chain_depthwise: a layer with 0..8 element-wise ops of one operand kind fused
// in its epilogue, the nine layers run alternately in every iteration.
//
// Ops alternate mul and add, each with its own operand of the kind: scalar
// (s::scalar), per_channel (one vector of C_out per op) or tensor (one output-shaped
// tensor per op). Counters: per variant len<i> the usual ones (common.hpp; GB/s counts
// each op's operand once), len<i>/len0 each one's time over the bare layer's, and
// per_op the least-squares slope of those ratios over the length through (0, 1): the
// cost of one more op as a fraction of the bare layer.
//
// (One binary per layer: each of the 27 fused types is a separate instantiation of the
// kernel, and the depthwise kernel's many tile variants make its nine lengths x three
// kinds take minutes to compile.)
#pragma once

#include <array>
#include <utility>

#include "common.hpp"

namespace bench::sweep {

inline constexpr std::size_t kMaxOps = 8;

/// Operands of the sweep's ops: op i is a mul when i is even (values near 1), an add
/// when odd (values near 0), so the output stays in the range of the bare layer's.
struct SweepOperands {
  std::array<std::vector<float>, kMaxOps> channel, tensor;
  s::Shape4 out{};
  explicit SweepOperands(const LayerShape& sh) : out{1, sh.oh(), sh.ow(), sh.out_c()} {
    for (std::size_t i = 0; i < kMaxOps; ++i) {
      const bool mul = i % 2 == 0;
      channel[i] = uniform(static_cast<std::size_t>(sh.out_c()), 10 + static_cast<unsigned>(i), mul ? 0.9f : -0.1f,
                           mul ? 1.1f : 0.1f);
      tensor[i] = uniform(sh.out_size(), 20 + static_cast<unsigned>(i), mul ? 0.9f : -0.1f, mul ? 1.1f : 0.1f);
    }
  }
};

template <std::size_t I, class X>
auto mul_or_add(const X& operand) {
  if constexpr (I % 2 == 0) return s::mul(operand);
  else return s::add(operand);
}

struct ScalarKind {
  static constexpr const char* name = "scalar";
  template <std::size_t I>
  static auto op(const SweepOperands&) {
    return mul_or_add<I>(s::scalar(I % 2 == 0 ? 1.01f : 0.01f));
  }
};
struct PerChannelKind {
  static constexpr const char* name = "per_channel";
  template <std::size_t I>
  static auto op(const SweepOperands& o) {
    return mul_or_add<I>(s::per_channel(o.channel[I]));
  }
};
struct TensorKind {
  static constexpr const char* name = "tensor";
  template <std::size_t I>
  static auto op(const SweepOperands& o) {
    return mul_or_add<I>(s::tensor(s::nhwc<const float>(o.tensor[I].data(), o.out)));
  }
};

/// `layer` | Kind::op<0> | ... | Kind::op<N-1>.
template <class Kind, class Layer, std::size_t... I>
auto with_ops(Layer layer, const SweepOperands& o, std::index_sequence<I...>) {
  if constexpr (sizeof...(I) == 0) return layer;  // a bare layer: no move, so copy elision applies
  else return (std::move(layer) | ... | Kind::template op<I>(o));
}

/// Bytes an op of `Kind` adds to the layer: its operand, read once.
template <class Kind>
double operand_bytes(const LayerShape& sh) {
  if constexpr (std::is_same_v<Kind, TensorKind>) return 4.0 * static_cast<double>(sh.out_size());
  else if constexpr (std::is_same_v<Kind, PerChannelKind>) return 4.0 * static_cast<double>(sh.out_c());
  else return 0;
}

template <class Kind, class Make, std::size_t... N>
std::vector<Variant> sweep_variants(LayerData& d, const SweepOperands& o, std::vector<std::vector<float>>& outs,
                                    Make make, std::index_sequence<N...>) {
  const bool mem_bound = d.sh.kind == LayerShape::Depthwise;
  return {Variant{"len" + std::to_string(N),
                  bind(with_ops<Kind>(make(d), o, std::make_index_sequence<N>{}), d, outs[N]),
                  {d.sh.flops(), d.sh.bytes() + static_cast<double>(N) * operand_bytes<Kind>(d.sh)},
                  mem_bound}...};
}

template <class Kind, class Make>
void BM_chain(benchmark::State& state, LayerShape sh, Make make) {
  LayerData d(sh);
  SweepOperands o(sh);
  std::vector<std::vector<float>> outs(kMaxOps + 1, std::vector<float>(sh.out_size()));
  const auto vs = sweep_variants<Kind>(d, o, outs, make, std::make_index_sequence<kMaxOps + 1>{});
  std::vector<Ratio> ratios;
  for (std::size_t i = 1; i <= kMaxOps; ++i) ratios.push_back({"len" + std::to_string(i) + "/len0", i, 0});
  run_paired(state, vs, ratios);
  // Least-squares slope through (0, 1) of the ratios over the chain length.
  double num = 0, den = 0;
  for (std::size_t i = 1; i <= kMaxOps; ++i) {
    const auto it = state.counters.find("len" + std::to_string(i) + "/len0");
    if (it == state.counters.end()) return;
    num += static_cast<double>(i) * (it->second.value - 1.0);
    den += static_cast<double>(i * i);
  }
  state.counters["per_op"] = num / den;
  state.SetLabel(Kind::name);
}

template <class Kind, class Make>
void register_sweep(const LayerShape& sh, Make make) {
  benchmark::RegisterBenchmark(("BM_chain/" + sh.name() + "/" + Kind::name).c_str(),
                               [=](benchmark::State& st) { BM_chain<Kind>(st, sh, make); })
      ->Unit(benchmark::kMicrosecond);
}


/// Registers the sweep of `sh` for the three operand kinds; `make(d)` builds the bare
/// layer for LayerData d.
template <class Make>
void register_sweeps(const LayerShape& sh, Make make) {
  register_sweep<ScalarKind>(sh, make);
  register_sweep<PerChannelKind>(sh, make);
  register_sweep<TensorKind>(sh, make);
}

}  // namespace bench::sweep
