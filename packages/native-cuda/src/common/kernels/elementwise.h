// Element-wise arithmetic with broadcasting, unary maps and their derivatives, strided copies
// (permute, slice, concat, expand) and sum reductions. Implemented in cpu/elementwise.cc and
// cuda/elementwise.cu with the same names.
#pragma once
#include <cstdint>

namespace sgi {

constexpr int kMaxDims = 8;

// Keep in sync with BINARY_OPS in packages/core/src/ops/elementwise.ts (tested).
enum class BinaryOp : int { Add = 0, Sub = 1, Mul = 2, Div = 3, Maximum = 4, Minimum = 5 };
// Keep in sync with UNARY_OPS in packages/core/src/ops/elementwise.ts (tested).
enum class UnaryOp : int {
  Neg = 0, Exp = 1, Log = 2, Sqrt = 3, Rsqrt = 4, Abs = 5, Relu = 6, Sigmoid = 7, Tanh = 8,
  LeakyRelu = 9,   // alpha = negative slope
  Scale = 10,      // alpha * x
  AddScalar = 11,  // x + alpha
  PowScalar = 12,  // x ^ alpha
  Square = 13, Reciprocal = 14
};

// An N-d walk: out-shape plus element strides of up to two operands (0 = broadcast).
struct StridedShape {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride_a[kMaxDims] = {};
  int64_t stride_b[kMaxDims] = {};
  int64_t numel() const { int64_t n = 1; for (int i = 0; i < ndim; ++i) n *= shape[i]; return n; }
};

namespace cpu {
// out[i] = a[i] (op) b[i] over s (out is contiguous in s.shape)
void binary_forward(BinaryOp op, const StridedShape& s, const float* a, const float* b, float* out);
void unary_forward(UnaryOp op, int64_t n, const float* x, float alpha, float* y);
// gx = gy * dy/dx, given x and y = f(x)
void unary_backward(UnaryOp op, int64_t n, const float* x, const float* y, const float* gy, float alpha, float* gx);
// dst[dst_offset + idx . stride_b] (+)= src[src_offset + idx . stride_a] over s.shape
void strided_copy(const StridedShape& s, const float* src, int64_t src_offset, float* dst, int64_t dst_offset, bool accumulate);
// out[kept] = sum over the dims with reduce[d] = 1 (out contiguous over the kept dims)
void sum_reduce(int ndim, const int64_t* shape, const uint8_t* reduce, const float* x, float* out);
void fill(int64_t n, float value, float* out);
}  // namespace cpu

namespace cuda {
void binary_forward(BinaryOp op, const StridedShape& s, const float* a, const float* b, float* out);
void unary_forward(UnaryOp op, int64_t n, const float* x, float alpha, float* y);
void unary_backward(UnaryOp op, int64_t n, const float* x, const float* y, const float* gy, float alpha, float* gx);
void strided_copy(const StridedShape& s, const float* src, int64_t src_offset, float* dst, int64_t dst_offset, bool accumulate);
void sum_reduce(int ndim, const int64_t* shape, const uint8_t* reduce, const float* x, float* out);
void fill(int64_t n, float value, float* out);
}  // namespace cuda

}  // namespace sgi
