// The price of fusion on a memory-bound layer: the chain length swept 0..8 for each
// operand kind (scalar, per_channel, tensor) on MobileNet-v1's depthwise 3x3
// 112x112x32 stride 1 (s::depthwise_conv2d), reported as the ratio of each length's
// time to the bare layer's, measured in the same run (bench/chain_sweep.hpp); %bw
// against the DRAM triad.
//
// Run pinned, one binary at a time:
//   taskset -c 1 bench_chain_depthwise --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include "chain_sweep.hpp"

namespace {

using namespace bench;

const bool registered = [] {
  const LayerShape sh = detail::dw("mobilenet_v1", 112, 32, 3, 1);
  sweep::register_sweeps(sh, [](const LayerData& d) {
    return s::depthwise_conv2d<3, 3>(s::depthwise_ohwi(d.wt.data(), d.sh.cin, 3, 3),
                                     depthwise_params(d.sh.stride, d.sh.pad));
  });
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
