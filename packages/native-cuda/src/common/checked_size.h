// Overflow-checked size arithmetic for shapes that come from JavaScript. A product of
// dimensions that wraps around int64/size_t would let a tiny storage pass a size check and a
// kernel then walk far outside it, so every element count, byte count and strided extent the
// glue and the allocator compute goes through these helpers first.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace sgi {

// The largest element count of one storage or shape: Number.MAX_SAFE_INTEGER, the largest count
// JS can hold exactly. Times sizeof(double) it is still far below 2^63, so a byte count derived
// from a checked element count can never wrap.
constexpr int64_t kMaxNumel = (int64_t(1) << 53) - 1;

// a * b and a + b into *out; false when the exact result does not fit in int64.
inline bool mul_fits(int64_t a, int64_t b, int64_t* out) { return !__builtin_mul_overflow(a, b, out); }
inline bool add_fits(int64_t a, int64_t b, int64_t* out) { return !__builtin_add_overflow(a, b, out); }

// The product of n dimensions into *out; false when a dimension is negative or above kMaxNumel,
// or the product exceeds kMaxNumel (checked after every factor, so it cannot wrap on the way).
inline bool checked_numel(const int64_t* dims, size_t n, int64_t* out) {
  int64_t p = 1;
  bool zero = false;
  for (size_t i = 0; i < n; ++i) {
    if (dims[i] < 0 || dims[i] > kMaxNumel) return false;
    if (dims[i] == 0) zero = true;
  }
  // A zero dimension makes the count 0 whatever the (valid) others are, as in PyTorch.
  if (zero) { *out = 0; return true; }
  for (size_t i = 0; i < n; ++i) {
    if (!mul_fits(p, dims[i], &p) || p > kMaxNumel) return false;
  }
  *out = p;
  return true;
}
inline bool checked_numel(std::initializer_list<int64_t> dims, int64_t* out) {
  return checked_numel(dims.begin(), dims.size(), out);
}

// Bytes of `numel` elements of `elem` bytes; false when the count is out of range.
inline bool checked_bytes(int64_t numel, size_t elem, size_t* out) {
  int64_t b;
  if (numel < 0 || numel > kMaxNumel || !mul_fits(numel, int64_t(elem), &b)) return false;
  *out = size_t(b);
  return true;
}

}  // namespace sgi
