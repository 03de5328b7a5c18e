// CUDA element-wise kernels (see common/kernels/elementwise.h); the scalar formulas are the
// shared ones of common/kernels/elementwise_math.h, so CPU and CUDA compute the same thing.
//
// Every kernel is a grid-stride loop on the default stream. The host side first simplifies an
// N-d walk (drops size-1 dims, merges dims that are contiguous for every operand), picks 32-bit
// index arithmetic when all offsets fit, and instantiates one kernel per op so the op switch
// folds away. Sums accumulate in double and are deterministic (no atomics): long reductions are
// split into partial sums that a second kernel adds in a fixed order. An accumulating strided
// copy whose destination elements are reached more than once is built from those sums too.
#include <algorithm>
#include <cstdint>

#include "common/kernels/elementwise.h"
#include "common/kernels/elementwise_math.h"
#include "cuda/cuda_check.h"
#include "cuda/reduce.cuh"

namespace sgi::cuda {

namespace {

// ---- N-d walks ----

// A walk in index type I (int32_t when every index and offset fits, else int64_t).
template <typename I>
struct Walk {
  int ndim = 0;
  I shape[kMaxDims] = {};
  I sa[kMaxDims] = {};
  I sb[kMaxDims] = {};
};

// Offsets of linear index i into operands a and b (the innermost dim varies fastest).
template <typename I>
__device__ __forceinline__ void walk_offsets(const Walk<I>& w, I i, I* oa, I* ob) {
  if (w.ndim == 1) { *oa = i * w.sa[0]; *ob = i * w.sb[0]; return; }
  I a = 0, b = 0;
  for (int d = w.ndim - 1; d >= 0; --d) {
    const I n = w.shape[d];
    const I q = i / n;
    const I k = i - q * n;
    i = q;
    a += k * w.sa[d];
    b += k * w.sb[d];
  }
  *oa = a;
  *ob = b;
}

template <typename I>
__device__ __forceinline__ I walk_offset_a(const Walk<I>& w, I i) {
  if (w.ndim == 1) return i * w.sa[0];
  I a = 0;
  for (int d = w.ndim - 1; d >= 0; --d) {
    const I n = w.shape[d];
    const I q = i / n;
    a += (i - q * n) * w.sa[d];
    i = q;
  }
  return a;
}

// Drops size-1 dims and merges an outer dim into the next inner one when both operands step
// through them contiguously (stride_outer == stride_inner * size_inner). Needs numel > 0.
StridedShape simplify(const StridedShape& s) {
  StridedShape r;
  r.ndim = 0;
  for (int d = 0; d < s.ndim; ++d) {
    if (s.shape[d] == 1) continue;
    if (r.ndim > 0) {
      const int l = r.ndim - 1;
      if (r.stride_a[l] == s.stride_a[d] * s.shape[d] && r.stride_b[l] == s.stride_b[d] * s.shape[d]) {
        r.shape[l] *= s.shape[d];
        r.stride_a[l] = s.stride_a[d];
        r.stride_b[l] = s.stride_b[d];
        continue;
      }
    }
    r.shape[r.ndim] = s.shape[d];
    r.stride_a[r.ndim] = s.stride_a[d];
    r.stride_b[r.ndim] = s.stride_b[d];
    r.ndim++;
  }
  if (r.ndim == 0) {  // a single element
    r.ndim = 1;
    r.shape[0] = 1;
    r.stride_a[0] = 0;
    r.stride_b[0] = 0;
  }
  return r;
}

constexpr int64_t kMax32 = 0x7fffffffLL;

// True when the element count and every reachable offset fit in int32.
bool fits32(const StridedShape& s) {
  int64_t n = 1, ma = 0, mb = 0;
  for (int d = 0; d < s.ndim; ++d) {
    n *= s.shape[d];
    if (s.shape[d] > 0) { ma += (s.shape[d] - 1) * s.stride_a[d]; mb += (s.shape[d] - 1) * s.stride_b[d]; }
  }
  return n <= kMax32 && ma <= kMax32 && mb <= kMax32;
}

template <typename I>
Walk<I> to_walk(const StridedShape& s) {
  Walk<I> w;
  w.ndim = s.ndim;
  for (int d = 0; d < s.ndim; ++d) {
    w.shape[d] = I(s.shape[d]);
    w.sa[d] = I(s.stride_a[d]);
    w.sb[d] = I(s.stride_b[d]);
  }
  return w;
}

__device__ __forceinline__ int64_t thread_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

// ---- binary ----

template <BinaryOp OP>
__global__ void binary_contiguous_kernel(int64_t n, const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ out) {
  for (int64_t i = thread_index(); i < n; i += grid_stride()) out[i] = binary_apply(OP, a[i], b[i]);
}

template <BinaryOp OP, typename I>
__global__ void binary_strided_kernel(Walk<I> w, int64_t n, const float* __restrict__ a, const float* __restrict__ b,
                                      float* __restrict__ out) {
  for (int64_t i = thread_index(); i < n; i += grid_stride()) {
    I oa, ob;
    walk_offsets(w, I(i), &oa, &ob);
    out[i] = binary_apply(OP, a[oa], b[ob]);
  }
}

template <BinaryOp OP>
void binary_launch(const StridedShape& s, int64_t n, const float* a, const float* b, float* out) {
  if (s.ndim == 1 && s.stride_a[0] == 1 && s.stride_b[0] == 1) {
    SGI_LAUNCH(blocks_for(n), kThreads, binary_contiguous_kernel<OP>)(n, a, b, out);
  } else if (fits32(s)) {
    SGI_LAUNCH(blocks_for(n), kThreads, binary_strided_kernel<OP, int32_t>)(to_walk<int32_t>(s), n, a, b, out);
  } else {
    SGI_LAUNCH(blocks_for(n), kThreads, binary_strided_kernel<OP, int64_t>)(to_walk<int64_t>(s), n, a, b, out);
  }
  SGI_CUDA_LAUNCH_CHECK();
}

// ---- unary ----

template <UnaryOp OP>
__global__ void unary_forward_kernel(int64_t n, const float* __restrict__ x, float alpha, float* __restrict__ y) {
  for (int64_t i = thread_index(); i < n; i += grid_stride()) y[i] = unary_apply(OP, x[i], alpha);
}

template <UnaryOp OP>
__global__ void unary_backward_kernel(int64_t n, const float* __restrict__ x, const float* __restrict__ y,
                                      const float* __restrict__ gy, float alpha, float* __restrict__ gx) {
  for (int64_t i = thread_index(); i < n; i += grid_stride())
    gx[i] = gy[i] * unary_derivative(OP, x ? x[i] : 0.f, y ? y[i] : 0.f, alpha);
}

// ---- strided copy ----

enum class CopyMode { Assign, Add };

template <CopyMode MODE, typename I>
__global__ void strided_copy_kernel(Walk<I> w, int64_t n, const float* __restrict__ src, float* __restrict__ dst) {
  for (int64_t i = thread_index(); i < n; i += grid_stride()) {
    I os, od;
    walk_offsets(w, I(i), &os, &od);
    if (MODE == CopyMode::Assign) dst[od] = src[os];
    else dst[od] += src[os];
  }
}

template <CopyMode MODE>
void strided_copy_launch(const StridedShape& s, int64_t n, const float* src, float* dst) {
  if (fits32(s)) SGI_LAUNCH(blocks_for(n), kThreads, strided_copy_kernel<MODE, int32_t>)(to_walk<int32_t>(s), n, src, dst);
  else SGI_LAUNCH(blocks_for(n), kThreads, strided_copy_kernel<MODE, int64_t>)(to_walk<int64_t>(s), n, src, dst);
  SGI_CUDA_LAUNCH_CHECK();
}

// Splits the dims of s (size > 1) by how they reach the destination: `disjoint` gets a greedy
// set of dims on which distinct indices reach distinct destination offsets (sorted by stride,
// each stride exceeds the span of the smaller ones taken; the larger dim first on equal
// strides), `broadcast` the dims of destination stride 0, `overlap` the rest. Flags per dim.
void split_dst_dims(const StridedShape& s, bool* disjoint, bool* broadcast, bool* overlap) {
  int idx[kMaxDims];
  int m = 0;
  for (int d = 0; d < s.ndim; ++d) {
    disjoint[d] = broadcast[d] = overlap[d] = false;
    if (s.shape[d] <= 1) continue;
    if (s.stride_b[d] == 0) broadcast[d] = true;
    else idx[m++] = d;
  }
  // insertion sort (at most kMaxDims dims)
  auto before = [&](int x, int y) { return s.stride_b[x] != s.stride_b[y] ? s.stride_b[x] < s.stride_b[y] : s.shape[x] > s.shape[y]; };
  for (int k = 1; k < m; ++k)
    for (int j = k; j > 0 && before(idx[j], idx[j - 1]); --j) std::swap(idx[j], idx[j - 1]);
  int64_t span = 0;
  for (int k = 0; k < m; ++k) {
    const int d = idx[k];
    if (s.stride_b[d] > span) {
      disjoint[d] = true;
      span += (s.shape[d] - 1) * s.stride_b[d];
    } else {
      overlap[d] = true;
    }
  }
}

// True when distinct walk indices reach distinct destination offsets: then an accumulating
// copy is one pass in which every thread owns its destination elements.
bool dst_injective(const StridedShape& s) {
  bool disjoint[kMaxDims], broadcast[kMaxDims], overlap[kMaxDims];
  split_dst_dims(s, disjoint, broadcast, overlap);
  for (int d = 0; d < s.ndim; ++d)
    if (broadcast[d] || overlap[d]) return false;
  return true;
}

// ---- fill ----

__global__ void fill_kernel(int64_t n, float value, float* __restrict__ out) {
  for (int64_t i = thread_index(); i < n; i += grid_stride()) out[i] = value;
}

// ---- sum reduction ----

// A scratch device buffer for partial sums, grown on demand. It comes from the caching allocator
// (cuda_runtime.cu), so a device that is full of cached blocks frees them for it, and the smaller
// old buffer goes back to the cache: whatever takes it next is queued after the kernels that used it.
double* scratch(size_t count) {
  static float* buf = nullptr;
  static size_t cap = 0;  // doubles
  if (count > cap) {
    release(buf);
    buf = nullptr;
    cap = 0;
    const size_t want = std::max<size_t>(count, 1 << 16);
    buf = alloc(want * 2);
    cap = want;
  }
  return reinterpret_cast<double*>(buf);
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

// Sum of v over the block; the result is valid in thread 0. blockDim.x is a multiple of 32.
__device__ double block_sum(double v) {
  __shared__ double warps[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // warps[] may still be read by a previous call
  if (lane == 0) warps[warp] = v;
  __syncthreads();
  const int nwarps = blockDim.x >> 5;
  v = threadIdx.x < nwarps ? warps[threadIdx.x] : 0.0;
  if (warp == 0) v = warp_sum(v);
  return v;
}

// The reduced dims are innermost (contiguous runs): one block per output element (and per
// split of its reduction range); threads stride through the range.
template <typename I>
__global__ void reduce_rows_kernel(Walk<I> kept, Walk<I> red, int64_t n_out, int64_t n_red, int64_t chunk,
                                   const float* __restrict__ x, float* __restrict__ out, double* __restrict__ partial) {
  const int64_t begin = int64_t(blockIdx.y) * chunk;
  const int64_t end = begin + chunk < n_red ? begin + chunk : n_red;
  for (int64_t o = blockIdx.x; o < n_out; o += gridDim.x) {
    const I base = walk_offset_a(kept, I(o));
    double sum = 0.0;
    for (int64_t r = begin + threadIdx.x; r < end; r += blockDim.x) sum += x[base + walk_offset_a(red, I(r))];
    sum = block_sum(sum);
    if (threadIdx.x == 0) {
      if (partial) partial[int64_t(blockIdx.y) * n_out + o] = sum;
      else out[o] = float(sum);
    }
  }
}

// The innermost dim is kept: one thread per output element (adjacent threads read adjacent
// elements), blockIdx.y splits the reduction range.
template <typename I>
__global__ void reduce_cols_kernel(Walk<I> kept, Walk<I> red, int64_t n_out, int64_t n_red, int64_t chunk,
                                   const float* __restrict__ x, float* __restrict__ out, double* __restrict__ partial) {
  const int64_t begin = int64_t(blockIdx.y) * chunk;
  const int64_t end = begin + chunk < n_red ? begin + chunk : n_red;
  for (int64_t o = thread_index(); o < n_out; o += grid_stride()) {
    const I base = walk_offset_a(kept, I(o));
    double sum = 0.0;
    for (int64_t r = begin; r < end; ++r) sum += x[base + walk_offset_a(red, I(r))];
    if (partial) partial[int64_t(blockIdx.y) * n_out + o] = sum;
    else out[o] = float(sum);
  }
}

__global__ void reduce_finish_kernel(int64_t n_out, int splits, const double* __restrict__ partial, float* __restrict__ out) {
  for (int64_t o = thread_index(); o < n_out; o += grid_stride()) {
    double sum = 0.0;
    for (int s = 0; s < splits; ++s) sum += partial[int64_t(s) * n_out + o];
    out[o] = float(sum);
  }
}

template <typename I>
void reduce_launch(const StridedShape& kept, const StridedShape& red, bool rows, int64_t n_out, int64_t n_red,
                   const float* x, float* out) {
  int64_t splits;
  dim3 grid;
  dim3 block(kThreads);
  if (rows) {
    // Aim for ~1024 blocks in all, each summing at least 4 elements per thread.
    splits = std::min<int64_t>((1024 + n_out - 1) / n_out, (n_red + kThreads * 4 - 1) / (kThreads * 4));
    grid.x = unsigned(std::min<int64_t>(n_out, 1 << 20));
  } else {
    // Aim for ~64K threads in all, each summing at least 32 elements.
    splits = std::min<int64_t>((65536 + n_out - 1) / n_out, (n_red + 31) / 32);
    grid.x = unsigned(blocks_for(n_out));
  }
  splits = std::max<int64_t>(1, std::min<int64_t>(splits, 65535));
  const int64_t chunk = (n_red + splits - 1) / splits;
  splits = (n_red + chunk - 1) / chunk;
  grid.y = unsigned(splits);
  double* partial = splits > 1 ? scratch(size_t(splits * n_out)) : nullptr;
  const Walk<I> wk = to_walk<I>(kept), wr = to_walk<I>(red);
  if (rows) SGI_LAUNCH(grid, block, reduce_rows_kernel<I>)(wk, wr, n_out, n_red, chunk, x, out, partial);
  else SGI_LAUNCH(grid, block, reduce_cols_kernel<I>)(wk, wr, n_out, n_red, chunk, x, out, partial);
  SGI_CUDA_LAUNCH_CHECK();
  if (partial) {
    SGI_LAUNCH(blocks_for(n_out), kThreads, reduce_finish_kernel)(n_out, int(splits), partial, out);
    SGI_CUDA_LAUNCH_CHECK();
  }
}

// The dims of s flagged in `keep`, in order (stride_a, stride_b kept); a single element when none.
StridedShape select_dims(const StridedShape& s, const bool* keep) {
  StridedShape r;
  r.ndim = 0;
  for (int d = 0; d < s.ndim; ++d) {
    if (!keep[d]) continue;
    r.shape[r.ndim] = s.shape[d];
    r.stride_a[r.ndim] = s.stride_a[d];
    r.stride_b[r.ndim] = s.stride_b[d];
    r.ndim++;
  }
  if (r.ndim == 0) {
    r.ndim = 1;
    r.shape[0] = 1;
    r.stride_a[0] = r.stride_b[0] = 0;
  }
  return r;
}

// dst[idx . stride_b] += src[idx . stride_a] over s when several indices reach the same
// destination element, without atomics (whose float sums depend on the order threads run in):
//   - dims of destination stride 0 are summed first, per destination element, by the
//     deterministic sum reduction above into a temporary, which one injective pass adds to dst;
//   - of the other dims, a set that reaches distinct elements goes to the threads of one
//     launch; the remaining (overlapping) dims are walked here on the host, one launch per
//     index, in order (one launch per index is slow for many of them, but @sgi/core makes no
//     such copies today); the stream orders each launch after the previous one.
template <typename I>
void strided_accumulate_ordered(const StridedShape& s, const float* src, float* dst) {
  bool disjoint[kMaxDims], broadcast[kMaxDims], overlap[kMaxDims];
  split_dst_dims(s, disjoint, broadcast, overlap);
  StridedShape keep = select_dims(s, disjoint), red = select_dims(s, broadcast), outer = select_dims(s, overlap);
  const int64_t n_keep = keep.numel(), n_red = red.numel(), n_outer = outer.numel();
  bool any_red = false;
  for (int d = 0; d < s.ndim; ++d) any_red |= broadcast[d];
  // the temporary holds the sums over the broadcast dims, in the order of the kept walk
  Scratch sums(any_red ? size_t(n_keep) : 0);
  StridedShape add = keep;  // sums (contiguous over keep) -> dst
  if (any_red) {
    int64_t stride = 1;
    for (int d = add.ndim - 1; d >= 0; --d) {
      add.stride_a[d] = stride;
      stride *= add.shape[d];
    }
  }
  // the sum kernels walk operand a only: kept and reduced dims with their source strides
  const bool rows = s.ndim > 0 && broadcast[s.ndim - 1];  // the innermost dim is summed
  for (int64_t o = 0; o < n_outer; ++o) {
    int64_t src_off = 0, dst_off = 0, rest = o;
    for (int d = outer.ndim - 1; d >= 0; --d) {
      const int64_t k = rest % outer.shape[d];
      rest /= outer.shape[d];
      src_off += k * outer.stride_a[d];
      dst_off += k * outer.stride_b[d];
    }
    if (any_red) {
      reduce_launch<I>(keep, red, rows, n_keep, n_red, src + src_off, sums.get());
      strided_copy_launch<CopyMode::Add>(add, n_keep, sums.get(), dst + dst_off);
    } else {
      strided_copy_launch<CopyMode::Add>(keep, n_keep, src + src_off, dst + dst_off);
    }
  }
}

}  // namespace

#define SGI_BINARY_CASE(OP) \
  case BinaryOp::OP: binary_launch<BinaryOp::OP>(w, n, a, b, out); break;

void binary_forward(BinaryOp op, const StridedShape& s, const float* a, const float* b, float* out) {
  const int64_t n = s.numel();
  if (n == 0) return;
  const StridedShape w = simplify(s);
  switch (op) {
    SGI_BINARY_CASE(Add)
    SGI_BINARY_CASE(Sub)
    SGI_BINARY_CASE(Mul)
    SGI_BINARY_CASE(Div)
    SGI_BINARY_CASE(Maximum)
    SGI_BINARY_CASE(Minimum)
  }
}
#undef SGI_BINARY_CASE

#define SGI_UNARY_CASES(LAUNCH)                                                                         \
  LAUNCH(Neg) LAUNCH(Exp) LAUNCH(Log) LAUNCH(Sqrt) LAUNCH(Rsqrt) LAUNCH(Abs) LAUNCH(Relu) LAUNCH(Sigmoid) \
  LAUNCH(Tanh) LAUNCH(LeakyRelu) LAUNCH(Scale) LAUNCH(AddScalar) LAUNCH(PowScalar) LAUNCH(Square) LAUNCH(Reciprocal)

void unary_forward(UnaryOp op, int64_t n, const float* x, float alpha, float* y) {
  if (n <= 0) return;
#define SGI_UNARY_CASE(OP) \
  case UnaryOp::OP: SGI_LAUNCH(blocks_for(n), kThreads, unary_forward_kernel<UnaryOp::OP>)(n, x, alpha, y); break;
  switch (op) { SGI_UNARY_CASES(SGI_UNARY_CASE) }
#undef SGI_UNARY_CASE
  SGI_CUDA_LAUNCH_CHECK();
}

void unary_backward(UnaryOp op, int64_t n, const float* x, const float* y, const float* gy, float alpha, float* gx) {
  if (n <= 0) return;
#define SGI_UNARY_CASE(OP) \
  case UnaryOp::OP: SGI_LAUNCH(blocks_for(n), kThreads, unary_backward_kernel<UnaryOp::OP>)(n, x, y, gy, alpha, gx); break;
  switch (op) { SGI_UNARY_CASES(SGI_UNARY_CASE) }
#undef SGI_UNARY_CASE
  SGI_CUDA_LAUNCH_CHECK();
}
#undef SGI_UNARY_CASES

void strided_copy(const StridedShape& s, const float* src, int64_t src_offset, float* dst, int64_t dst_offset, bool accumulate) {
  const int64_t n = s.numel();
  if (n == 0) return;
  const StridedShape w = simplify(s);
  src += src_offset;
  dst += dst_offset;
  if (!accumulate) {
    if (w.ndim == 1 && w.stride_a[0] == 1 && w.stride_b[0] == 1) {
      SGI_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(n) * sizeof(float), cudaMemcpyDeviceToDevice, 0));
      return;
    }
    strided_copy_launch<CopyMode::Assign>(w, n, src, dst);
  } else if (dst_injective(w)) {
    strided_copy_launch<CopyMode::Add>(w, n, src, dst);
  } else if (fits32(w)) {
    strided_accumulate_ordered<int32_t>(w, src, dst);
  } else {
    strided_accumulate_ordered<int64_t>(w, src, dst);
  }
}

void sum_reduce(int ndim, const int64_t* shape, const uint8_t* reduce, const float* x, float* out) {
  int64_t n_out = 1, n_red = 1;
  for (int d = 0; d < ndim; ++d) (reduce[d] ? n_red : n_out) *= shape[d];
  if (n_out == 0) return;
  if (n_red == 0) { fill(n_out, 0.f, out); return; }
  // x is contiguous: group runs of adjacent kept / reduced dims (dropping size-1 dims) into
  // one dim each; the kept walk then enumerates the outputs in order.
  int64_t strides[kMaxDims];
  int64_t acc = 1;
  for (int d = ndim - 1; d >= 0; --d) { strides[d] = acc; acc *= shape[d]; }
  StridedShape kept, red;
  kept.ndim = red.ndim = 0;
  int last = -1;  // 0 = kept, 1 = reduced: the kind of the previous non-trivial dim
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    const int kind = reduce[d] ? 1 : 0;
    StridedShape& t = kind ? red : kept;
    if (kind == last) {
      t.shape[t.ndim - 1] *= shape[d];
      t.stride_a[t.ndim - 1] = strides[d];
    } else {
      t.shape[t.ndim] = shape[d];
      t.stride_a[t.ndim] = strides[d];
      t.ndim++;
    }
    last = kind;
  }
  if (red.ndim == 0) {  // nothing to add up: out is x
    SGI_CUDA_CHECK(cudaMemcpyAsync(out, x, size_t(n_out) * sizeof(float), cudaMemcpyDeviceToDevice, 0));
    return;
  }
  if (kept.ndim == 0) { kept.ndim = 1; kept.shape[0] = 1; kept.stride_a[0] = 0; }
  const bool rows = last == 1;  // the innermost non-trivial dim is reduced
  const bool small = n_out * n_red <= kMax32;
  if (small) reduce_launch<int32_t>(kept, red, rows, n_out, n_red, x, out);
  else reduce_launch<int64_t>(kept, red, rows, n_out, n_red, x, out);
}

void fill(int64_t n, float value, float* out) {
  if (n <= 0) return;
  SGI_LAUNCH(blocks_for(n), kThreads, fill_kernel)(n, value, out);
  SGI_CUDA_LAUNCH_CHECK();
}

}  // namespace sgi::cuda
