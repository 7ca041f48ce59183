// The price of fusion on a compute-bound conv: the chain length swept 0..8 for each
// operand kind (scalar, per_channel, tensor) on ResNet-18's 3x3 56x56x64->64 pad 1 with
// algo::Automatic (Winograd F(2x2,3x3) for this layer; the label says which ran),
// reported as the ratio of each length's time to the bare layer's, measured in the same
// run (bench/chain_sweep.hpp).
//
// Run pinned, one binary at a time:
//   taskset -c 1 bench_chain_conv --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include "chain_sweep.hpp"

namespace {

using namespace bench;

const bool registered = [] {
  const LayerShape sh = detail::conv_sym("resnet18", 56, 64, 64, 3, 1);
  sweep::register_sweeps(sh, [](const LayerData& d) {
    return s::conv2d<3, 3>(s::ohwi(d.wt.data(), d.sh.cout, 3, 3, d.sh.cin), conv_params(d.sh.stride, d.sh.pad),
                           s::algo::automatic);
  });
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
