// CPU element-wise kernels. Loops run over the innermost dimension with its two strides so the
// compiler vectorises the contiguous cases; the outer dimensions are split across threads.
#include <cstring>
#include <type_traits>
#include <vector>
#include "common/kernels/elementwise.h"
#include "common/kernels/elementwise_math.h"
#include "common/parallel.h"

namespace sgi::cpu {

namespace {
// Calls row(a_offset, b_offset, out_row_index) for every row of the innermost dimension.
template <typename Row>
void for_each_row(const StridedShape& s, Row&& row) {
  int64_t inner = s.ndim ? s.shape[s.ndim - 1] : 1;
  int64_t rows = inner ? s.numel() / inner : 0;
  StridedShape outer = s;
  outer.ndim = s.ndim ? s.ndim - 1 : 0;
  parallel_for(rows, inner >= 4096 ? 1 : (4096 / (inner ? inner : 1)) + 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t oa, ob;
      strided_offsets(outer, r, &oa, &ob);
      row(oa, ob, r);
    }
  });
}
}  // namespace

void binary_forward(BinaryOp op, const StridedShape& s, const float* a, const float* b, float* out) {
  int64_t inner = s.ndim ? s.shape[s.ndim - 1] : 1;
  int64_t sa = s.ndim ? s.stride_a[s.ndim - 1] : 0, sb = s.ndim ? s.stride_b[s.ndim - 1] : 0;
  for_each_row(s, [&](int64_t oa, int64_t ob, int64_t r) {
    const float* pa = a + oa;
    const float* pb = b + ob;
    float* po = out + r * inner;
    switch (op) {
#define SGI_BINARY_CASE(OP, EXPR)                                                        \
  case BinaryOp::OP:                                                                     \
    if (sa == 1 && sb == 1) for (int64_t i = 0; i < inner; ++i) { float x = pa[i], y = pb[i]; po[i] = EXPR; } \
    else if (sa == 1 && sb == 0) { float y = pb[0]; for (int64_t i = 0; i < inner; ++i) { float x = pa[i]; po[i] = EXPR; } } \
    else if (sa == 0 && sb == 1) { float x = pa[0]; for (int64_t i = 0; i < inner; ++i) { float y = pb[i]; po[i] = EXPR; } } \
    else for (int64_t i = 0; i < inner; ++i) { float x = pa[i * sa], y = pb[i * sb]; po[i] = EXPR; } \
    break;
      SGI_BINARY_CASE(Add, x + y)
      SGI_BINARY_CASE(Sub, x - y)
      SGI_BINARY_CASE(Mul, x * y)
      SGI_BINARY_CASE(Div, x / y)
      SGI_BINARY_CASE(Maximum, x > y ? x : y)
      SGI_BINARY_CASE(Minimum, x < y ? x : y)
#undef SGI_BINARY_CASE
    }
  });
}

namespace {
// Hoists the op switch out of the loop: each op gets its own loop over a compile-time constant
// op, so the formula inlines and the loop vectorises (a switch per element does not).
template <typename Body>
void with_unary_op(UnaryOp op, Body&& body) {
  switch (op) {
#define SGI_UNARY_CASE(OP) case UnaryOp::OP: body(std::integral_constant<UnaryOp, UnaryOp::OP>{}); break;
    SGI_UNARY_CASE(Neg) SGI_UNARY_CASE(Exp) SGI_UNARY_CASE(Log) SGI_UNARY_CASE(Sqrt) SGI_UNARY_CASE(Rsqrt)
    SGI_UNARY_CASE(Abs) SGI_UNARY_CASE(Relu) SGI_UNARY_CASE(Sigmoid) SGI_UNARY_CASE(Tanh) SGI_UNARY_CASE(LeakyRelu)
    SGI_UNARY_CASE(Scale) SGI_UNARY_CASE(AddScalar) SGI_UNARY_CASE(PowScalar) SGI_UNARY_CASE(Square) SGI_UNARY_CASE(Reciprocal)
#undef SGI_UNARY_CASE
  }
}
}  // namespace

void unary_forward(UnaryOp op, int64_t n, const float* x, float alpha, float* y) {
  with_unary_op(op, [&](auto kop) {
    parallel_for(n, 16384, [&](int64_t begin, int64_t end) {
      const float a = alpha;
      for (int64_t i = begin; i < end; ++i) y[i] = unary_apply(decltype(kop)::value, x[i], a);
    });
  });
}

void unary_backward(UnaryOp op, int64_t n, const float* x, const float* y, const float* gy, float alpha, float* gx) {
  with_unary_op(op, [&](auto kop) {
    parallel_for(n, 16384, [&](int64_t begin, int64_t end) {
      const float a = alpha;
      if (x && y) for (int64_t i = begin; i < end; ++i) gx[i] = gy[i] * unary_derivative(decltype(kop)::value, x[i], y[i], a);
      else if (x) for (int64_t i = begin; i < end; ++i) gx[i] = gy[i] * unary_derivative(decltype(kop)::value, x[i], 0.f, a);
      else for (int64_t i = begin; i < end; ++i) gx[i] = gy[i] * unary_derivative(decltype(kop)::value, 0.f, y ? y[i] : 0.f, a);
    });
  });
}

void strided_copy(const StridedShape& s, const float* src, int64_t src_offset, float* dst, int64_t dst_offset, bool accumulate) {
  int64_t inner = s.ndim ? s.shape[s.ndim - 1] : 1;
  int64_t sa = s.ndim ? s.stride_a[s.ndim - 1] : 1, sb = s.ndim ? s.stride_b[s.ndim - 1] : 1;
  for_each_row(s, [&](int64_t oa, int64_t ob, int64_t) {
    const float* ps = src + src_offset + oa;
    float* pd = dst + dst_offset + ob;
    if (accumulate) {
      for (int64_t i = 0; i < inner; ++i) pd[i * sb] += ps[i * sa];
    } else if (sa == 1 && sb == 1) {
      std::memcpy(pd, ps, size_t(inner) * sizeof(float));
    } else {
      for (int64_t i = 0; i < inner; ++i) pd[i * sb] = ps[i * sa];
    }
  });
}

void sum_reduce(int ndim, const int64_t* shape, const uint8_t* reduce, const float* x, float* out) {
  // Walk = kept dims (outer, one output each) then reduced dims (inner), both over x's strides.
  int64_t strides[kMaxDims];
  int64_t acc = 1;
  for (int d = ndim - 1; d >= 0; --d) { strides[d] = acc; acc *= shape[d]; }
  StridedShape kept, red;
  for (int d = 0; d < ndim; ++d) {
    StridedShape& t = reduce[d] ? red : kept;
    t.shape[t.ndim] = shape[d];
    t.stride_a[t.ndim] = strides[d];
    t.ndim++;
  }
  int64_t n_out = kept.numel(), n_red = red.numel();
  auto reduce_one = [&](int64_t o, int64_t rbegin, int64_t rend) {
    int64_t base, unused;
    strided_offsets(kept, o, &base, &unused);
    double sum = 0.0;
    for (int64_t r = rbegin; r < rend; ++r) {
      int64_t off;
      strided_offsets(red, r, &off, &unused);
      sum += x[base + off];
    }
    return sum;
  };
  if (n_out >= num_threads() || n_red < 65536) {
    parallel_for(n_out, std::max<int64_t>(1, 65536 / std::max<int64_t>(n_red, 1)), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) out[o] = float(reduce_one(o, 0, n_red));
    });
  } else {
    // Few outputs, long reductions: split each reduction across threads.
    std::vector<double> partial(size_t(num_threads()) * size_t(n_out), 0.0);
    parallel_for(n_red, 65536, [&](int64_t begin, int64_t end) {
      int t = omp_get_thread_num();
      for (int64_t o = 0; o < n_out; ++o) partial[size_t(t) * n_out + o] = reduce_one(o, begin, end);
    });
    for (int64_t o = 0; o < n_out; ++o) {
      double s = 0.0;
      for (int t = 0; t < num_threads(); ++t) s += partial[size_t(t) * n_out + o];
      out[o] = float(s);
    }
  }
}

void fill(int64_t n, float value, float* out) {
  parallel_for(n, 65536, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = value;
  });
}

}  // namespace sgi::cpu
