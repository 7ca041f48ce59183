// tests/fuzz/fuzz_layers.cpp - libFuzzer entry over the randomized differential test's
// generator (tests/differential.hpp): the fuzzer's bytes are the generator's choices
// (layer kind and algorithm, shapes, stride, dilation, padding, groups, layouts, chain
// configuration, value kinds, data seed); the layer is built, run and checked against
// the plain reference exactly as tests/test_differential.cpp does. A value outside the
// tolerance, a write outside the output view, a changed input, or a sanitizer report
// (AddressSanitizer, UndefinedBehaviorSanitizer) aborts with the layer's description.
//
// Build: clang with libFuzzer, version 18 or later (sinter uses C++20 float template
// arguments, which clang accepts from version 18; Debian 12: clang-19 and
// libclang-rt-19-dev). SINTER_BUILD_FUZZ is OFF by default; the asan preset gives -O1:
//   CXX=clang++-19 cmake --preset asan -B build/fuzz -DSINTER_BUILD_FUZZ=ON -DSINTER_ISA=avx2
//   cmake --build build/fuzz --target fuzz_layers -j1
// (three of the twelve chain configurations, as in the sanitizer build of the test;
// -DSINTER_FUZZ_ALL_CHAINS=ON compiles all of them, about 4x the compile time).
// Run for a minute, keeping the inputs that reach new code in a corpus directory
// (-len_control=0: long inputs from the start, so every choice is fuzzed, not only the
// first few; past its last byte an input takes each choice's first option):
//   mkdir -p build/fuzz/corpus
//   build/fuzz/tests/fuzz_layers build/fuzz/corpus -max_total_time=60 -max_len=128 -len_control=0
// Replay one input (a crash-* file written by the fuzzer, or any corpus file), with
// the layer's description printed:
//   SINTER_FUZZ_VERBOSE=1 build/fuzz/tests/fuzz_layers crash-<hash>
// Layers are capped at 1e5 multiply-adds (a third of the unit test's cap), so the
// fuzzer runs many small layers per second.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

// The reference's doctest assertions are not used here; no doctest runner is linked.
#define DOCTEST_CONFIG_DISABLE
#include "differential.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace diff = sinter_test::diff;
  static const bool verbose = std::getenv("SINTER_FUZZ_VERBOSE") != nullptr;
  diff::Choices choices(data, size);
  const diff::Desc d = diff::generate(choices, 1e5);
  if (verbose) std::fprintf(stderr, "%s", d.describe().c_str());
  const diff::Outcome o = diff::run_layer(d);
  if (!o.ok) {
    std::fprintf(stderr, "fuzz_layers: the layer failed its check:\n%s\n", diff::report(d, o).c_str());
    std::abort();
  }
  return 0;
}
