// Checks the build itself: xsimd is found, the instruction set asked for with
// SINTER_ISA reached the compiler, and a test executable links and runs.
#include <doctest/doctest.h>
#include <xsimd/xsimd.hpp>

#include <cstdio>

TEST_CASE("xsimd default batch is usable") {
    using batch = xsimd::batch<float>;
    std::printf("xsimd arch: %s, float lanes: %zu, SINTER_ISA: %s\n",
                xsimd::default_arch::name(), static_cast<std::size_t>(batch::size),
#ifdef SINTER_TEST_ISA
                SINTER_TEST_ISA
#else
                "(unset)"
#endif
    );
    CHECK(batch::size >= 1);

#ifdef SINTER_TEST_EXPECTED_FLOAT_LANES
    // A fixed SINTER_ISA (avx512, avx2, sse4.2, armv8, ...) must select the
    // matching vector width; 'native' and 'none' depend on the machine.
    CHECK(batch::size == SINTER_TEST_EXPECTED_FLOAT_LANES);
#endif

    alignas(64) float in[batch::size];
    alignas(64) float out[batch::size];
    for (std::size_t i = 0; i < batch::size; ++i) in[i] = static_cast<float>(i) - 1.5f;
    auto v = xsimd::load_aligned(in);
    xsimd::store_aligned(out, xsimd::max(v + batch(1.0f), batch(0.0f)));
    for (std::size_t i = 0; i < batch::size; ++i) {
        const float expected = in[i] + 1.0f > 0.0f ? in[i] + 1.0f : 0.0f;
        CHECK(out[i] == expected);
    }
}
