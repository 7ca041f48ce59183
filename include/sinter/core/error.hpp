// sinter/core/error.hpp - the library's exception type and argument checks.
#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>

namespace sinter {

/// Signed index type for sizes, strides and coordinates (elements, not bytes).
using index_t = std::ptrdiff_t;

/// Raised for every invalid argument: shape mismatch, zero or negative size, null
/// operand, size whose element count overflows index_t, output aliasing an input.
/// The message names the argument, the expected value and the actual value, e.g.
/// "conv2d: per-channel operand 2 (add): expected 64 values, got 63".
/// Derives from std::invalid_argument so callers may catch either.
class error : public std::invalid_argument {
 public:
  explicit error(const std::string& what) : std::invalid_argument(what) {}
};

namespace detail {

template <class... Parts>
[[noreturn]] inline void fail(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw error(os.str());
}

/// Throws sinter::error built from `parts` when `ok` is false.
template <class... Parts>
inline void check(bool ok, const Parts&... parts) {
  if (!ok) [[unlikely]]
    fail(parts...);
}

/// a * b, throwing when the product of two non-negative sizes overflows index_t.
inline index_t checked_mul(index_t a, index_t b, const char* what) {
  index_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    fail(what, ": size ", a, " x ", b, " overflows a ", sizeof(index_t) * 8, "-bit index");
  return r;
}

}  // namespace detail
}  // namespace sinter
