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

// GCC 12 with AVX-512 enabled stores the constant {1, 1, 1, 1, 0, 0, 0, 0} as eight 1s
// unless its straight-line vectorizer is off; the sinter CMake target turns it off.
// Parameters written as constants, the way users write them, must reach the layers
// unchanged (stride 1, dilation 1 and no padding is the pattern that defect hits).
#include <sinter/layers/conv2d.hpp>
#include <sinter/layers/depthwise.hpp>

#include <vector>

TEST_CASE("constant layer parameters reach the layers as written") {
    namespace s = sinter;
    CHECK(s::detail::constant_aggregates_ok());
    const std::vector<float> w(8 * 8 * 9, 0.5f);
    const s::Shape4 in{1, 10, 12, 8};

    const auto pw = s::conv2d<1, 1>(s::ohwi(w.data(), 8, 1, 1, 8), {.stride = 1, .pad = 0});
    CHECK(pw.params().pad.top == 0);
    CHECK(pw.params().pad.right == 0);
    CHECK(pw.output_shape(in) == s::Shape4{1, 10, 12, 8});

    const auto pw_default = s::conv2d<1, 1>(s::ohwi(w.data(), 8, 1, 1, 8));
    CHECK(pw_default.output_shape(in) == s::Shape4{1, 10, 12, 8});

    const auto valid = s::conv2d<3, 3>(s::ohwi(w.data(), 8, 3, 3, 8), s::Conv2DParams{});
    CHECK(valid.output_shape(in) == s::Shape4{1, 8, 10, 8});

    const auto dw = s::depthwise_conv2d<3, 3>(s::depthwise_filter(w.data(), 3, 3, 8), {.stride = 1, .pad = 0});
    CHECK(dw.output_shape(in) == s::Shape4{1, 8, 10, 8});

    const auto asym = s::conv2d<3, 3>(s::ohwi(w.data(), 8, 3, 3, 8), {.pad = s::Padding(1, 1, 0, 0)});
    CHECK(asym.output_shape(in) == s::Shape4{1, 10, 10, 8});
}
