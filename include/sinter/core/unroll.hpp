// sinter/core/unroll.hpp - compile-time loop unrolling.
#pragma once

#include <type_traits>
#include <utility>

/// Forces inlining of a lambda handed to static_for: register-tile arrays must not
/// escape into an out-of-line call, or the compiler keeps them in memory.
#define SINTER_INLINE __attribute__((always_inline))

namespace sinter::detail {

template <class F, int... I>
[[gnu::always_inline]] inline void static_for_impl(F& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}

/// Calls f(std::integral_constant<int, I>{}) for I = 0 .. N-1, fully unrolled, so
/// register-tile arrays indexed by I stay in registers (no run-time index).
template <int N, class F>
[[gnu::always_inline]] inline void static_for(F&& f) {
  static_for_impl(f, std::make_integer_sequence<int, N>{});
}

}  // namespace sinter::detail
