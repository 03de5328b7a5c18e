// CUDA batch norm and pixel norm. Batch norm: one block per channel computes the statistics
// (block reductions, two passes for the variance) and then applies the affine map, so the
// channel's data is read while it is in L2. Pixel norm: one thread per (n, s) position walking the
// channels (coalesced over s), or one block per row for [N, C].
#include "common/kernels/normalization.h"
#include "cuda/cuda_check.h"
#include "cuda/reduce.cuh"

namespace sgi::cuda {

namespace {
__global__ void bn_forward_kernel(BatchNormParams p, const float* __restrict__ x, const float* __restrict__ weight,
                                  const float* __restrict__ bias, float* running_mean, float* running_var,
                                  float* __restrict__ y, float* save_mean, float* save_invstd) {
  __shared__ float shared[32];
  __shared__ float stat[2];
  const long long c = blockIdx.x, C = p.c, S = p.s, M = p.n * p.s;
  if (p.training) {
    float s1 = 0.f;
    for (long long k = threadIdx.x; k < M; k += blockDim.x) {
      const long long n = k / S, i = k - n * S;
      s1 += x[(n * C + c) * S + i];
    }
    const float mean = block_sum(s1, shared) / float(M);
    float s2 = 0.f;
    for (long long k = threadIdx.x; k < M; k += blockDim.x) {
      const long long n = k / S, i = k - n * S;
      const float d = x[(n * C + c) * S + i] - mean;
      s2 += d * d;
    }
    const float var = block_sum(s2, shared) / float(M);
    if (threadIdx.x == 0) {
      const float invstd = rsqrtf(var + p.eps);
      stat[0] = mean;
      stat[1] = invstd;
      save_mean[c] = mean;
      save_invstd[c] = invstd;
      if (running_mean) running_mean[c] = (1.f - p.momentum) * running_mean[c] + p.momentum * mean;
      if (running_var) {
        const float unbiased = M > 1 ? var * float(M) / float(M - 1) : var;
        running_var[c] = (1.f - p.momentum) * running_var[c] + p.momentum * unbiased;
      }
    }
  } else if (threadIdx.x == 0) {
    const float invstd = rsqrtf(running_var[c] + p.eps);
    stat[0] = running_mean[c];
    stat[1] = invstd;
    save_mean[c] = stat[0];
    save_invstd[c] = invstd;
  }
  __syncthreads();
  const float scale = (weight ? weight[c] : 1.f) * stat[1];
  const float shift = (bias ? bias[c] : 0.f) - stat[0] * scale;
  for (long long k = threadIdx.x; k < M; k += blockDim.x) {
    const long long n = k / S, i = k - n * S;
    const long long off = (n * C + c) * S + i;
    y[off] = x[off] * scale + shift;
  }
}

__global__ void bn_backward_kernel(BatchNormParams p, const float* __restrict__ x, const float* __restrict__ gy,
                                   const float* __restrict__ weight, const float* __restrict__ save_mean,
                                   const float* __restrict__ save_invstd, float* __restrict__ gx, float* gweight, float* gbias,
                                   bool need_sums) {
  __shared__ float shared[32];
  const long long c = blockIdx.x, C = p.c, S = p.s, M = p.n * p.s;
  const float mean = save_mean[c], invstd = save_invstd[c];
  float sg = 0.f, sgx = 0.f;
  if (need_sums) {
    float a = 0.f, b = 0.f;
    for (long long k = threadIdx.x; k < M; k += blockDim.x) {
      const long long n = k / S, i = k - n * S;
      const long long off = (n * C + c) * S + i;
      a += gy[off];
      b += gy[off] * (x[off] - mean);
    }
    sg = block_sum(a, shared);
    sgx = block_sum(b, shared);
  }
  const float sum_gy_xhat = sgx * invstd;
  if (threadIdx.x == 0) {
    if (gbias) gbias[c] = sg;
    if (gweight) gweight[c] = sum_gy_xhat;
  }
  if (!gx) return;
  const float k0 = (weight ? weight[c] : 1.f) * invstd;
  float c2 = 0.f, c0 = 0.f;
  if (p.training && M > 0) {
    c2 = k0 * invstd * sum_gy_xhat / float(M);
    c0 = c2 * mean - k0 * sg / float(M);
  }
  for (long long k = threadIdx.x; k < M; k += blockDim.x) {
    const long long n = k / S, i = k - n * S;
    const long long off = (n * C + c) * S + i;
    gx[off] = k0 * gy[off] - c2 * x[off] + c0;
  }
}

// [N, C] rows: one block per row
__global__ void pixel_norm_rows_forward(long long c, const float* __restrict__ x, float eps, float* __restrict__ y, float* inv) {
  __shared__ float shared[32];
  const long long r = blockIdx.x;
  const float* px = x + r * c;
  float acc = 0.f;
  for (long long i = threadIdx.x; i < c; i += blockDim.x) acc += px[i] * px[i];
  const float k = rsqrtf(block_sum(acc, shared) / float(c) + eps);
  if (threadIdx.x == 0) inv[r] = k;
  for (long long i = threadIdx.x; i < c; i += blockDim.x) y[r * c + i] = px[i] * k;
}

__global__ void pixel_norm_rows_backward(long long c, const float* __restrict__ x, const float* __restrict__ inv,
                                         const float* __restrict__ gy, float* __restrict__ gx) {
  __shared__ float shared[32];
  const long long r = blockIdx.x;
  const float* px = x + r * c;
  const float* pg = gy + r * c;
  float acc = 0.f;
  for (long long i = threadIdx.x; i < c; i += blockDim.x) acc += pg[i] * px[i];
  const float k = inv[r];
  const float k3 = k * k * k * block_sum(acc, shared) / float(c);
  for (long long i = threadIdx.x; i < c; i += blockDim.x) gx[r * c + i] = k * pg[i] - k3 * px[i];
}

// [N, C, S]: one thread per (n, s)
__global__ void pixel_norm_spatial_forward(long long n, long long c, long long s, const float* __restrict__ x, float eps,
                                           float* __restrict__ y, float* __restrict__ inv) {
  const long long total = n * s;
  for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < total; t += (long long)gridDim.x * blockDim.x) {
    const long long ni = t / s, i = t - ni * s;
    const float* px = x + ni * c * s + i;
    float acc = 0.f;
    for (long long ch = 0; ch < c; ++ch) acc += px[ch * s] * px[ch * s];
    const float k = rsqrtf(acc / float(c) + eps);
    inv[t] = k;
    float* py = y + ni * c * s + i;
    for (long long ch = 0; ch < c; ++ch) py[ch * s] = px[ch * s] * k;
  }
}

__global__ void pixel_norm_spatial_backward(long long n, long long c, long long s, const float* __restrict__ x,
                                            const float* __restrict__ inv, const float* __restrict__ gy, float* __restrict__ gx) {
  const long long total = n * s;
  for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < total; t += (long long)gridDim.x * blockDim.x) {
    const long long ni = t / s, i = t - ni * s;
    const long long base = ni * c * s + i;
    float dot = 0.f;
    for (long long ch = 0; ch < c; ++ch) dot += gy[base + ch * s] * x[base + ch * s];
    const float k = inv[t], k3 = k * k * k * dot / float(c);
    for (long long ch = 0; ch < c; ++ch) gx[base + ch * s] = k * gy[base + ch * s] - k3 * x[base + ch * s];
  }
}
}  // namespace

void batch_norm_forward(const BatchNormParams& p, const float* x, const float* weight, const float* bias,
                        float* running_mean, float* running_var, float* y, float* save_mean, float* save_invstd) {
  if (p.c <= 0) return;
  SGI_LAUNCH(unsigned(p.c), kReduceThreads, bn_forward_kernel)(p, x, weight, bias, running_mean, running_var, y, save_mean, save_invstd);
  SGI_CUDA_LAUNCH_CHECK();
}

void batch_norm_backward(const BatchNormParams& p, const float* x, const float* gy, const float* weight,
                         const float* save_mean, const float* save_invstd, float* gx, float* gweight, float* gbias) {
  if (p.c <= 0) return;
  const bool need_sums = gweight || gbias || (gx && p.training);
  SGI_LAUNCH(unsigned(p.c), kReduceThreads, bn_backward_kernel)(p, x, gy, weight, save_mean, save_invstd, gx, gweight, gbias, need_sums);
  SGI_CUDA_LAUNCH_CHECK();
}

void pixel_norm_forward(int64_t n, int64_t c, int64_t s, const float* x, float eps, float* y, float* inv) {
  if (n * c * s == 0) return;
  if (s == 1) SGI_LAUNCH(unsigned(n), kReduceThreads, pixel_norm_rows_forward)(c, x, eps, y, inv);
  else SGI_LAUNCH(blocks_for(n * s), kThreads, pixel_norm_spatial_forward)(n, c, s, x, eps, y, inv);
  SGI_CUDA_LAUNCH_CHECK();
}

void pixel_norm_backward(int64_t n, int64_t c, int64_t s, const float* x, const float* inv, const float* gy, float* gx) {
  if (n * c * s == 0) return;
  if (s == 1) SGI_LAUNCH(unsigned(n), kReduceThreads, pixel_norm_rows_backward)(c, x, inv, gy, gx);
  else SGI_LAUNCH(blocks_for(n * s), kThreads, pixel_norm_spatial_backward)(n, c, s, x, inv, gy, gx);
  SGI_CUDA_LAUNCH_CHECK();
}

}  // namespace sgi::cuda
