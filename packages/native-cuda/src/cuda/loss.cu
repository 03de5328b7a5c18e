// CUDA losses. Reductions are two-pass and deterministic: grid-stride block sums go to a scratch
// buffer of partials, which a second kernel adds in a fixed order (mse: sum_splits_kernel of
// cuda/reduce.cuh; cosine: a one-block kernel that sums each row's partials, turns them into
// norms and takes the mean of 1 - cos). No atomics, so a loss is the same bits on every run.
// Backward kernels are element-wise and read the upstream scalar gradient from device memory.
#include "common/kernels/loss.h"
#include "cuda/cuda_check.h"
#include "cuda/reduce.cuh"

namespace sgi::cuda {

namespace {
// Blocks for a reduction of n elements: at most 1024, each thread doing a few elements at least.
unsigned reduce_blocks(long long n) {
  long long b = (n + kReduceThreads * 8 - 1) / (kReduceThreads * 8);
  return unsigned(b < 1 ? 1 : (b > 1024 ? 1024 : b));
}

// partial[block] = sum of (a - b)^2 over the block's part
__global__ void mse_forward_kernel(long long n, const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ partial) {
  __shared__ float shared[32];
  float acc = 0.f;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const float d = a[i] - b[i];
    acc += d * d;
  }
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void mse_backward_kernel(long long n, const float* __restrict__ a, const float* __restrict__ b,
                                    const float* __restrict__ g, float two_over_n, float* __restrict__ ga, float* __restrict__ gb) {
  const float k = g[0] * two_over_n;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const float d = k * (a[i] - b[i]);
    if (ga) ga[i] = d;
    if (gb) gb[i] = -d;
  }
}

// grid (splits, rows): partial[(r * splits + split) * 3 + 0..2] = (a.b, a.a, b.b) over the
// block's part of row r
__global__ void cosine_sums_kernel(long long d, const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ partial) {
  __shared__ float shared[32];
  const long long r = blockIdx.y;
  const float* pa = a + r * d;
  const float* pb = b + r * d;
  float ab = 0.f, aa = 0.f, bb = 0.f;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < d; i += (long long)gridDim.x * blockDim.x) {
    const float x = pa[i], y = pb[i];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  ab = block_sum(ab, shared);
  aa = block_sum(aa, shared);
  bb = block_sum(bb, shared);
  if (threadIdx.x == 0) {
    float* p = partial + (r * gridDim.x + blockIdx.x) * 3;
    p[0] = ab;
    p[1] = aa;
    p[2] = bb;
  }
}

// one block: each row's partials summed in split order, stats[r] = (a.b, |a|, |b|), out = mean(1 - cos)
__global__ void cosine_finish_kernel(long long rows, int splits, const float* __restrict__ partial, float* __restrict__ stats,
                                     float* __restrict__ out) {
  __shared__ float shared[32];
  float acc = 0.f;
  for (long long r = threadIdx.x; r < rows; r += blockDim.x) {
    float ab = 0.f, aa = 0.f, bb = 0.f;
    for (const float* p = partial + r * splits * 3, *end = p + splits * 3; p < end; p += 3) {
      ab += p[0];
      aa += p[1];
      bb += p[2];
    }
    const float na = sqrtf(aa), nb = sqrtf(bb);
    stats[3 * r] = ab;
    stats[3 * r + 1] = na;
    stats[3 * r + 2] = nb;
    acc += 1.f - stats[3 * r] / (fmaxf(na, kCosineEps) * fmaxf(nb, kCosineEps));
  }
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) out[0] = acc / float(rows);
}

__global__ void cosine_backward_kernel(long long rows, long long d, const float* __restrict__ a, const float* __restrict__ b,
                                       const float* __restrict__ stats, const float* __restrict__ g, float* __restrict__ gb) {
  const float scale = g[0] / float(rows);
  const long long total = rows * d;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    const long long r = i / d;
    const float dot = stats[3 * r], na = stats[3 * r + 1], nb = stats[3 * r + 2];
    const float nac = fmaxf(na, kCosineEps), nbc = fmaxf(nb, kCosineEps);
    const float cos = dot / (nac * nbc);
    const float alpha = -scale / (nac * nbc);
    const float beta = nb > kCosineEps ? scale * cos / (nb * nb) : 0.f;
    gb[i] = alpha * a[i] + beta * b[i];
  }
}
}  // namespace

void mse_forward(int64_t n, const float* a, const float* b, float* out) {
  if (n <= 0) {
    SGI_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float)));
    return;
  }
  const unsigned blocks = reduce_blocks(n);
  Scratch partial(blocks);
  SGI_LAUNCH(blocks, kReduceThreads, mse_forward_kernel)(n, a, b, partial.get());
  SGI_CUDA_LAUNCH_CHECK();
  SGI_LAUNCH(1, 32, sum_splits_kernel<>)(1, int(blocks), partial.get(), 1.f / float(n), out);
  SGI_CUDA_LAUNCH_CHECK();
}

void mse_backward(int64_t n, const float* a, const float* b, const float* g, float* ga, float* gb) {
  if (n <= 0 || (!ga && !gb)) return;
  SGI_LAUNCH(blocks_for(n), kThreads, mse_backward_kernel)(n, a, b, g, 2.f / float(n), ga, gb);
  SGI_CUDA_LAUNCH_CHECK();
}

void cosine_loss_forward(int64_t rows, int64_t d, const float* a, const float* b, float* stats, float* out) {
  if (rows <= 0) {
    SGI_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float)));
    return;
  }
  long long splits = (d + kReduceThreads * 8 - 1) / (kReduceThreads * 8);
  if (splits < 1) splits = 1;
  if (splits > 256) splits = 256;
  Scratch partial(size_t(rows) * size_t(splits) * 3);
  for (long long r0 = 0; r0 < rows; r0 += 65535) {  // grid y is at most 65535
    const long long count = rows - r0 < 65535 ? rows - r0 : 65535;
    SGI_LAUNCH(dim3(unsigned(splits), unsigned(count)), kReduceThreads, cosine_sums_kernel)(d, a + r0 * d, b + r0 * d,
                                                                                             partial.get() + r0 * splits * 3);
    SGI_CUDA_LAUNCH_CHECK();
  }
  SGI_LAUNCH(1, kReduceThreads, cosine_finish_kernel)(rows, int(splits), partial.get(), stats, out);
  SGI_CUDA_LAUNCH_CHECK();
}

void cosine_loss_backward(int64_t rows, int64_t d, const float* a, const float* b, const float* stats, const float* g, float* gb) {
  const long long total = rows * d;
  if (total <= 0) return;
  SGI_LAUNCH(blocks_for(total), kThreads, cosine_backward_kernel)(rows, d, a, b, stats, g, gb);
  SGI_CUDA_LAUNCH_CHECK();
}

}  // namespace sgi::cuda
