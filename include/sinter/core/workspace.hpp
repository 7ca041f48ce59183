// sinter/core/workspace.hpp - caller-provided scratch memory.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "error.hpp"

namespace sinter {

/// Scratch memory for one layer call. A layer's `workspace_size(...)` gives the bytes a
/// call needs; passing a span at least that large makes the call allocate nothing.
using workspace = std::span<std::byte>;

namespace detail {

/// Carves typed, 64-byte aligned arrays out of a workspace, in order.
class arena {
 public:
  explicit arena(workspace ws) : ws_(ws) {}

  /// Bytes needed for `count` objects of T, including alignment slack.
  template <class T>
  static constexpr std::size_t bytes_for(std::size_t count) noexcept {
    return (count * sizeof(T) + 63) / 64 * 64 + 64;
  }

  template <class T>
  T* take(std::size_t count, const char* layer) {
    const std::size_t need = bytes_for<T>(count);
    check(used_ + need <= ws_.size(), layer, ": workspace too small: need at least ", used_ + need,
          " bytes, got ", ws_.size());
    auto addr = reinterpret_cast<std::uintptr_t>(ws_.data() + used_);
    addr = (addr + 63) / 64 * 64;
    used_ += need;
    return reinterpret_cast<T*>(addr);
  }

 private:
  workspace ws_;
  std::size_t used_ = 0;
};

}  // namespace detail
}  // namespace sinter
