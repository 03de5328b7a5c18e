// The scalar formulas of the element-wise ops, shared by the CPU and CUDA kernels.
#pragma once
#include <cmath>
#include "common/kernels/elementwise.h"

#ifdef __CUDACC__
#define SGI_HD __host__ __device__ __forceinline__
#else
#define SGI_HD inline __attribute__((always_inline))
#endif

namespace sgi {

SGI_HD float binary_apply(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Maximum: return fmaxf(a, b);
    case BinaryOp::Minimum: return fminf(a, b);
  }
  return 0.f;
}

SGI_HD float unary_apply(UnaryOp op, float x, float alpha) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return expf(x);
    case UnaryOp::Log: return logf(x);
    case UnaryOp::Sqrt: return sqrtf(x);
    case UnaryOp::Rsqrt: return 1.f / sqrtf(x);
    case UnaryOp::Abs: return fabsf(x);
    case UnaryOp::Relu: return fmaxf(x, 0.f);
    case UnaryOp::Sigmoid: return 1.f / (1.f + expf(-x));
    case UnaryOp::Tanh: return tanhf(x);
    case UnaryOp::LeakyRelu: return fmaxf(x, 0.f) + alpha * fminf(x, 0.f);  // branch-free
    case UnaryOp::Scale: return alpha * x;
    case UnaryOp::AddScalar: return x + alpha;
    case UnaryOp::PowScalar: return powf(x, alpha);
    case UnaryOp::Square: return x * x;
    case UnaryOp::Reciprocal: return 1.f / x;
  }
  return 0.f;
}

// d f(x) / dx, with y = f(x) available.
SGI_HD float unary_derivative(UnaryOp op, float x, float y, float alpha) {
  switch (op) {
    case UnaryOp::Neg: return -1.f;
    case UnaryOp::Exp: return y;
    case UnaryOp::Log: return 1.f / x;
    case UnaryOp::Sqrt: return 0.5f / y;
    case UnaryOp::Rsqrt: return -0.5f * y * y * y;
    case UnaryOp::Abs: return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f);
    case UnaryOp::Relu: return float(x > 0.f);
    case UnaryOp::Sigmoid: return y * (1.f - y);
    case UnaryOp::Tanh: return 1.f - y * y;
    case UnaryOp::LeakyRelu: return alpha + (1.f - alpha) * float(x >= 0.f);
    case UnaryOp::Scale: return alpha;
    case UnaryOp::AddScalar: return 1.f;
    case UnaryOp::PowScalar: return alpha * powf(x, alpha - 1.f);
    case UnaryOp::Square: return 2.f * x;
    case UnaryOp::Reciprocal: return -y * y;
  }
  return 0.f;
}

// Offsets of the linear index i of an N-d walk into operands a and b.
SGI_HD void strided_offsets(const StridedShape& s, int64_t i, int64_t* oa, int64_t* ob) {
  int64_t a = 0, b = 0;
  for (int d = s.ndim - 1; d >= 0; --d) {
    int64_t k = i % s.shape[d];
    i /= s.shape[d];
    a += k * s.stride_a[d];
    b += k * s.stride_b[d];
  }
  *oa = a;
  *ob = b;
}

}  // namespace sgi
