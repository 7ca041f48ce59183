// sinter/core/compiler_check.hpp - refuses to build layers in a program that a known
// compiler defect would make compute a different convolution than the one written.
//
// GCC 12.2 (Debian 12's g++) with AVX-512 enabled (-march=x86-64-v4, -mavx512f, or
// -march=native on an AVX-512 CPU) at -O2 and -O3 stores some constant aggregates
// wrongly: a 64-byte constant whose first 32 (or 16) bytes repeat one 8-byte value and
// whose other bytes are zero is written as that value broadcast over all 64 bytes, and
// a 32-byte one likewise. The field order of Conv2DParams and DepthwiseParams (stride,
// dilation, padding) makes the most common layer the one hit: stride 1, dilation 1 and
// no padding, written as a constant (`{.stride = 1, .pad = 0}`, or the defaulted
// `Conv2DParams{}`), reaches the layer as padding 1 on every side; a 1x1 layer then
// returns a larger output, or throws on the caller's output shape. The straight-line
// (SLP) vectorizer is what merges the stores: -fno-tree-slp-vectorize avoids it, and
// the sinter CMake target adds that option for GCC before 13. The kernels are explicit
// xsimd code, so the option costs them nothing measurable: bench_face, AVX-512, one
// core, medians of 5, four alternations of builds with and without it, time without /
// with: detector 0.95-1.12, recognizer 0.96-1.09 (this machine's noise, no trend).
// The probe below builds such constants the way a caller builds layer parameters, so
// a program compiled without the option fails at its first layer with a message that
// says what to do, instead of computing wrong results.
#pragma once

#include "error.hpp"

namespace sinter::detail {

/// Aggregates of the shapes the defect hits: eight and four index_t.
struct aggregate_probe64 {
  index_t v[8];
};
struct aggregate_probe32 {
  index_t v[4];
};

#if defined(__GNUC__) && !defined(__clang__)
/// True when `a` and `b` hold {1, 1, 1, 1, 0, 0, 0, 0} and {1, 1, 0, 0}. Not inlined
/// nor analysed across the call (noipa), so the caller must store the constants to
/// pass them; volatile reads keep the check itself from becoming a vector compare
/// against a constant that the same defect could alter.
[[gnu::noipa]] inline bool aggregates_as_written(aggregate_probe64 a, aggregate_probe32 b) noexcept {
  const volatile index_t* const x = a.v;
  const volatile index_t* const y = b.v;
  bool ok = true;
  for (int i = 0; i < 8; ++i) ok = ok && x[i] == (i < 4 ? 1 : 0);
  for (int i = 0; i < 4; ++i) ok = ok && y[i] == (i < 2 ? 1 : 0);
  return ok;
}

/// Whether this program stores constant aggregates as written (checked once).
inline bool constant_aggregates_ok() noexcept {
  static const bool ok = aggregates_as_written(aggregate_probe64{{1, 1, 1, 1, 0, 0, 0, 0}}, aggregate_probe32{{1, 1, 0, 0}});
  return ok;
}
#else
inline bool constant_aggregates_ok() noexcept { return true; }
#endif

/// Throws sinter::error naming `layer` when constant_aggregates_ok() is false.
inline void check_compiler(const char* layer) {
  check(constant_aggregates_ok(), layer,
        ": this program was compiled by a compiler that stores some constant aggregates wrongly (GCC 12 with "
        "AVX-512 enabled merges {1, 1, 1, 1, 0, 0, 0, 0} into a broadcast of 1), so layer parameters such as "
        "Conv2DParams{.stride = 1, .pad = 0} would arrive with padding 1. Compile with -fno-tree-slp-vectorize "
        "(the sinter CMake target adds it for GCC before 13), without AVX-512, or with a compiler version without this defect");
}

}  // namespace sinter::detail
