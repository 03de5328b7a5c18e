// CUDA PReLU and fused bias + leaky ReLU. Forward and input-only backward are element-wise
// grid-stride kernels; a backward that needs the per-channel parameter gradient runs a grid of
// (splits, channel) blocks that write gx and their block sums (partial[channel * splits + split])
// in the same pass, then sum_splits_kernel (cuda/reduce.cuh) adds each channel's partials in a
// fixed order, so the gradient is the same bits on every run.
#include "common/kernels/activation.h"
#include "cuda/cuda_check.h"
#include "cuda/reduce.cuh"

namespace sgi::cuda {

namespace {
#define SGI_GRID_STRIDE(i, total) \
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (total); i += (long long)gridDim.x * blockDim.x)

__global__ void prelu_forward_kernel(long long total, long long c, long long s, const float* __restrict__ x,
                                     const float* __restrict__ w, float* __restrict__ y) {
  SGI_GRID_STRIDE(i, total) {
    const float v = x[i];
    y[i] = v > 0.f ? v : w[(i / s) % c] * v;
  }
}

__global__ void prelu_backward_x_kernel(long long total, long long c, long long s, const float* __restrict__ x,
                                        const float* __restrict__ w, const float* __restrict__ gy, float* __restrict__ gx) {
  SGI_GRID_STRIDE(i, total) gx[i] = x[i] > 0.f ? gy[i] : w[(i / s) % c] * gy[i];
}

__global__ void prelu_backward_channel_kernel(long long n, long long c, long long s, const float* __restrict__ x,
                                              const float* __restrict__ w, const float* __restrict__ gy,
                                              float* __restrict__ gx, float* __restrict__ partial) {
  __shared__ float shared[32];
  const long long ch = blockIdx.y, m = n * s;
  const float a = w[ch];
  float acc = 0.f;
  for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < m; k += (long long)gridDim.x * blockDim.x) {
    const long long ni = k / s, i = k - ni * s;
    const long long off = (ni * c + ch) * s + i;
    const float v = x[off], g = gy[off];
    const bool pos = v > 0.f;
    if (gx) gx[off] = pos ? g : a * g;
    acc += pos ? 0.f : g * v;
  }
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) partial[ch * gridDim.x + blockIdx.x] = acc;
}

__global__ void flrelu_forward_kernel(long long total, long long c, long long s, const float* __restrict__ x,
                                      const float* __restrict__ bias, float gain, float neg, float* __restrict__ y) {
  SGI_GRID_STRIDE(i, total) {
    const float z = x[i] + (bias ? bias[(i / s) % c] : 0.f);
    y[i] = z * (z > 0.f ? gain : neg);
  }
}

__global__ void flrelu_backward_x_kernel(long long total, long long c, long long s, const float* __restrict__ x,
                                         const float* __restrict__ bias, const float* __restrict__ gy, float gain, float neg,
                                         float* __restrict__ gx) {
  SGI_GRID_STRIDE(i, total) {
    const float z = x[i] + (bias ? bias[(i / s) % c] : 0.f);
    gx[i] = gy[i] * (z > 0.f ? gain : neg);
  }
}

__global__ void flrelu_backward_channel_kernel(long long n, long long c, long long s, const float* __restrict__ x,
                                               const float* __restrict__ bias, const float* __restrict__ gy, float gain,
                                               float neg, float* __restrict__ gx, float* __restrict__ partial) {
  __shared__ float shared[32];
  const long long ch = blockIdx.y, m = n * s;
  const float b = bias ? bias[ch] : 0.f;
  float acc = 0.f;
  for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < m; k += (long long)gridDim.x * blockDim.x) {
    const long long ni = k / s, i = k - ni * s;
    const long long off = (ni * c + ch) * s + i;
    const float g = gy[off] * (x[off] + b > 0.f ? gain : neg);
    if (gx) gx[off] = g;
    acc += g;
  }
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) partial[ch * gridDim.x + blockIdx.x] = acc;
}
// Blocks per channel for the parameter-gradient kernels: enough to fill the device when there
// are few channels, each block still doing a few thousand elements.
dim3 channel_grid(long long n, long long s, long long c) {
  long long splits = (n * s + kReduceThreads * 16 - 1) / (kReduceThreads * 16);
  if (splits < 1) splits = 1;
  if (splits > 64) splits = 64;
  if (c > 65535) throw std::runtime_error("activation backward: more than 65535 channels");
  return dim3(unsigned(splits), unsigned(c));
}

// The second pass: out[ch] = the sum of the grid's partials of channel ch, in split order.
void sum_channel_partials(dim3 grid, const float* partial, float* out) {
  SGI_LAUNCH(blocks_for(grid.y), kThreads, sum_splits_kernel<>)(grid.y, int(grid.x), partial, 1.f, out);
  SGI_CUDA_LAUNCH_CHECK();
}
}  // namespace

void prelu_forward(int64_t n, int64_t c, int64_t s, const float* x, const float* w, float* y) {
  const long long total = n * c * s;
  if (total == 0) return;
  SGI_LAUNCH(blocks_for(total), kThreads, prelu_forward_kernel)(total, c, s, x, w, y);
  SGI_CUDA_LAUNCH_CHECK();
}

void prelu_backward(int64_t n, int64_t c, int64_t s, const float* x, const float* w, const float* gy, float* gx, float* gw) {
  const long long total = n * c * s;
  if (c == 0) return;
  if (gw) {
    const dim3 grid = channel_grid(n, s, c);
    Scratch partial(size_t(grid.x) * grid.y);
    SGI_LAUNCH(grid, kReduceThreads, prelu_backward_channel_kernel)(n, c, s, x, w, gy, gx, partial.get());
    SGI_CUDA_LAUNCH_CHECK();
    sum_channel_partials(grid, partial.get(), gw);
    return;
  }
  if (gx && total > 0) SGI_LAUNCH(blocks_for(total), kThreads, prelu_backward_x_kernel)(total, c, s, x, w, gy, gx);
  else return;
  SGI_CUDA_LAUNCH_CHECK();
}

void fused_leaky_relu_forward(int64_t n, int64_t c, int64_t s, const float* x, const float* bias, float slope, float gain, float* y) {
  const long long total = n * c * s;
  if (total == 0) return;
  SGI_LAUNCH(blocks_for(total), kThreads, flrelu_forward_kernel)(total, c, s, x, bias, gain, slope * gain, y);
  SGI_CUDA_LAUNCH_CHECK();
}

void fused_leaky_relu_backward(int64_t n, int64_t c, int64_t s, const float* x, const float* bias, const float* gy,
                               float slope, float gain, float* gx, float* gbias) {
  const long long total = n * c * s;
  if (c == 0) return;
  if (gbias) {
    const dim3 grid = channel_grid(n, s, c);
    Scratch partial(size_t(grid.x) * grid.y);
    SGI_LAUNCH(grid, kReduceThreads, flrelu_backward_channel_kernel)(n, c, s, x, bias, gy, gain, slope * gain, gx, partial.get());
    SGI_CUDA_LAUNCH_CHECK();
    sum_channel_partials(grid, partial.get(), gbias);
    return;
  }
  if (gx && total > 0) SGI_LAUNCH(blocks_for(total), kThreads, flrelu_backward_x_kernel)(total, c, s, x, bias, gy, gain, slope * gain, gx);
  else return;
  SGI_CUDA_LAUNCH_CHECK();
}

}  // namespace sgi::cuda
