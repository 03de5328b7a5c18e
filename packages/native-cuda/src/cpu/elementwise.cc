// CPU element-wise kernels. Loops run over the innermost dimension with its two strides so the
// compiler vectorises the contiguous cases; the outer dimensions are split across threads.
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <algorithm>
#include <utility>
#include <vector>
#include "common/kernels/elementwise.h"
#include "common/kernels/elementwise_math.h"
#include "common/parallel.h"

namespace sgi::cpu {

namespace {
// Calls row(a_offset, b_offset, out_row_index) for every row of the innermost dimension, the rows
// split across threads unless `serial`.
template <typename Row>
void for_each_row(const StridedShape& s, Row&& row, bool serial = false) {
  int64_t inner = s.ndim ? s.shape[s.ndim - 1] : 1;
  int64_t rows = inner ? s.numel() / inner : 0;
  StridedShape outer = s;
  outer.ndim = s.ndim ? s.ndim - 1 : 0;
  const int64_t grain = serial ? rows : inner >= 4096 ? 1 : (4096 / (inner ? inner : 1)) + 1;
  parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t oa, ob;
      strided_offsets(outer, r, &oa, &ob);
      row(oa, ob, r);
    }
  });
}
// Whether two rows of s (every dim but the innermost) may reach the same element through the
// b strides: a broadcast (stride 0) or overlapping windows. With the outer dims sorted by |stride|,
// the rows are disjoint when each stride is at least the span of everything inside it.
bool rows_overlap_in_b(const StridedShape& s) {
  if (s.ndim <= 1) return false;
  const int64_t inner = s.shape[s.ndim - 1];
  int64_t span = inner > 0 ? (inner - 1) * std::abs(s.stride_b[s.ndim - 1]) + 1 : 1;
  std::pair<int64_t, int64_t> dims[kMaxDims];  // (|stride|, size)
  int n = 0;
  for (int d = 0; d < s.ndim - 1; ++d)
    if (s.shape[d] > 1) dims[n++] = {std::abs(s.stride_b[d]), s.shape[d]};
  for (int i = 1; i < n; ++i)  // insertion sort of at most 7 dims (std::sort trips -Warray-bounds)
    for (int j = i; j > 0 && dims[j].first < dims[j - 1].first; --j) std::swap(dims[j], dims[j - 1]);
  for (int i = 0; i < n; ++i) {
    if (dims[i].first < span) return true;
    span += dims[i].first * (dims[i].second - 1);
  }
  return false;
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
  // Rows that accumulate into shared destination elements run on one thread: split across threads
  // they raced on those elements and lost additions.
  const bool serial = accumulate && rows_overlap_in_b(s);
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
  }, serial);
}

namespace {
// Merges neighbouring dims with the same reduce flag (they are contiguous together) and drops
// size-1 dims, so most reductions become 2 or 3 dims.
int coalesce(int ndim, const int64_t* shape, const uint8_t* reduce, int64_t* cs, uint8_t* cr) {
  int n = 0;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    if (n > 0 && cr[n - 1] == reduce[d]) cs[n - 1] *= shape[d];
    else { cs[n] = shape[d]; cr[n] = reduce[d]; ++n; }
  }
  return n;
}

// Sums over the dims flagged in `reduce` of a contiguous x whose innermost dim is kept:
// out[o, k] = sum_r x[offset(o, r) + k], rows accumulated in double (vectorised over k).
void reduce_rows(int n, const int64_t* cs, const uint8_t* cr, const float* x, float* out) {
  int64_t inner = cs[n - 1];
  int64_t strides[kMaxDims];
  int64_t acc = 1;
  for (int d = n - 1; d >= 0; --d) { strides[d] = acc; acc *= cs[d]; }
  StridedShape kept, red;
  for (int d = 0; d < n - 1; ++d) {
    StridedShape& t = cr[d] ? red : kept;
    t.shape[t.ndim] = cs[d];
    t.stride_a[t.ndim] = strides[d];
    t.ndim++;
  }
  int64_t n_out = kept.numel(), n_red = red.numel();
  auto rows = [&](int64_t o, int64_t rbegin, int64_t rend, double* sum) {
    int64_t base, unused;
    strided_offsets(kept, o, &base, &unused);
    for (int64_t k = 0; k < inner; ++k) sum[k] = 0.0;
    for (int64_t r = rbegin; r < rend; ++r) {
      int64_t off;
      strided_offsets(red, r, &off, &unused);
      const float* row = x + base + off;
      for (int64_t k = 0; k < inner; ++k) sum[k] += row[k];
    }
  };
  if (n_out >= num_threads() || n_red * inner < 65536) {
    parallel_for(n_out, 1, [&](int64_t begin, int64_t end) {
      std::vector<double> sum(static_cast<size_t>(inner));
      for (int64_t o = begin; o < end; ++o) {
        rows(o, 0, n_red, sum.data());
        for (int64_t k = 0; k < inner; ++k) out[o * inner + k] = float(sum[k]);
      }
    });
    return;
  }
  // few output rows: split the reduced rows across threads, then add the partial rows
  int threads = num_threads();
  std::vector<double> partial(size_t(threads) * size_t(n_out * inner), 0.0);
  parallel_for(n_red, 16, [&](int64_t begin, int64_t end) {
    double* mine = partial.data() + size_t(omp_get_thread_num()) * size_t(n_out * inner);
    std::vector<double> sum(static_cast<size_t>(inner));
    for (int64_t o = 0; o < n_out; ++o) {
      rows(o, begin, end, sum.data());
      for (int64_t k = 0; k < inner; ++k) mine[o * inner + k] += sum[k];
    }
  });
  for (int64_t i = 0; i < n_out * inner; ++i) {
    double v = 0.0;
    for (int t = 0; t < threads; ++t) v += partial[size_t(t) * size_t(n_out * inner) + size_t(i)];
    out[i] = float(v);
  }
}
}  // namespace

void sum_reduce(int ndim, const int64_t* shape, const uint8_t* reduce, const float* x, float* out) {
  int64_t cs[kMaxDims];
  uint8_t cr[kMaxDims];
  int n = coalesce(ndim, shape, reduce, cs, cr);
  int64_t total = 1;
  for (int d = 0; d < n; ++d) total *= cs[d];
  if (total == 0) {  // an empty reduction: the sums are zeros
    int64_t kept = 1;
    for (int d = 0; d < ndim; ++d) if (!reduce[d]) kept *= shape[d];
    std::fill(out, out + kept, 0.f);
    return;
  }
  if (n == 0) {  // a single element
    out[0] = x[0];
    return;
  }
  bool any_reduced = false;
  for (int d = 0; d < n; ++d) any_reduced |= cr[d] != 0;
  if (!any_reduced) {
    std::memcpy(out, x, size_t(total) * sizeof(float));
    return;
  }
  if (!cr[n - 1]) {
    reduce_rows(n, cs, cr, x, out);
    return;
  }
  // innermost dim reduced: sum its contiguous runs first, then reduce what is left
  int64_t inner = cs[n - 1], runs = total / inner;
  std::vector<float> partial(static_cast<size_t>(runs));
  float* dst = n == 1 ? out : partial.data();
  if (runs >= num_threads() || inner < 65536) {
    parallel_for(runs, std::max<int64_t>(1, 16384 / inner), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* p = x + r * inner;
        double sum = 0.0;
        for (int64_t k = 0; k < inner; ++k) sum += p[k];
        dst[r] = float(sum);
      }
    });
  } else {
    for (int64_t r = 0; r < runs; ++r) {
      const float* p = x + r * inner;
      std::vector<double> part(size_t(num_threads()), 0.0);
      parallel_for(inner, 65536, [&](int64_t begin, int64_t end) {
        double sum = 0.0;
        for (int64_t k = begin; k < end; ++k) sum += p[k];
        part[size_t(omp_get_thread_num())] = sum;
      });
      double sum = 0.0;
      for (double v : part) sum += v;
      dst[r] = float(sum);
    }
  }
  if (n == 1) return;
  sum_reduce(n - 1, cs, cr, partial.data(), out);
}

void fill(int64_t n, float value, float* out) {
  parallel_for(n, 65536, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = value;
  });
}

}  // namespace sgi::cpu
