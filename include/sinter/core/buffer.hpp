// sinter/core/buffer.hpp - owning, 64-byte aligned float storage.
#pragma once

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "error.hpp"

namespace sinter {

/// Owning array of `size()` floats aligned to 64 bytes (one cache line, one AVX-512
/// vector), zero-initialised. Used for packed weights and workspaces.
/// Throws std::bad_alloc when the allocation fails, sinter::error on a negative size.
class aligned_buffer {
 public:
  static constexpr std::size_t alignment = 64;

  aligned_buffer() = default;
  explicit aligned_buffer(index_t size) { resize(size); }
  aligned_buffer(const aligned_buffer& o) : aligned_buffer(o.size_) {
    if (size_) std::memcpy(data(), o.data(), static_cast<std::size_t>(size_) * sizeof(float));
  }
  aligned_buffer(aligned_buffer&&) noexcept = default;
  aligned_buffer& operator=(aligned_buffer&&) noexcept = default;
  aligned_buffer& operator=(const aligned_buffer& o) { return *this = aligned_buffer(o); }

  /// Reallocates to `size` zeroed floats when the current capacity is smaller; keeps
  /// (and zeroes nothing of) the storage otherwise.
  void resize(index_t size) {
    detail::check(size >= 0, "aligned_buffer: size must be non-negative, got ", size);
    if (size <= capacity_) {
      size_ = size;
      return;
    }
    constexpr std::size_t max_floats = (static_cast<std::size_t>(-1) - alignment) / sizeof(float);
    detail::check(static_cast<std::size_t>(size) <= max_floats, "aligned_buffer: ", size,
                  " floats overflow the byte count (at most ", max_floats, ")");
    const std::size_t bytes = (static_cast<std::size_t>(size) * sizeof(float) + alignment - 1) / alignment * alignment;
    void* p = std::aligned_alloc(alignment, bytes);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    ptr_.reset(static_cast<float*>(p));
    size_ = capacity_ = size;
  }

  float* data() noexcept { return ptr_.get(); }
  const float* data() const noexcept { return ptr_.get(); }
  index_t size() const noexcept { return size_; }

 private:
  struct free_deleter {
    void operator()(float* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<float, free_deleter> ptr_;
  index_t size_ = 0, capacity_ = 0;
};

}  // namespace sinter
