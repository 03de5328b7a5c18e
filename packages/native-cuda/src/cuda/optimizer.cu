// CUDA fused optimizer step (see common/kernels/optimizer.h). With centralization one block
// handles one row (output channel) at a time: it sums the row's gradient in double (shared-memory
// tree reduction), then updates the row. Without it a grid-stride loop updates every element.
#include "common/kernels/optimizer.h"
#include "cuda/cuda_check.h"

namespace sgi::cuda {

namespace {

__global__ void optim_rows_kernel(OptimStep s, float* p, const float* g, float* m, float* v, float* slow) {
  __shared__ double partial[kThreads];
  __shared__ float row_mean;
  const int64_t cols = s.cols;
  for (int64_t r = blockIdx.x; r < s.rows; r += gridDim.x) {
    const int64_t o = r * cols;
    double sum = 0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) sum += g[o + j];
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
      if (int(threadIdx.x) < w) partial[threadIdx.x] += partial[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) row_mean = float(partial[0] / double(cols));
    __syncthreads();
    const float mean = row_mean;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
      optim_update(s, mean, p[o + j], g[o + j], m[o + j], v[o + j], slow ? slow + o + j : nullptr);
    __syncthreads();  // partial / row_mean are reused by the next row
  }
}

__global__ void optim_flat_kernel(OptimStep s, int64_t n, float* p, const float* g, float* m, float* v, float* slow) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    optim_update(s, 0.f, p[i], g[i], m[i], v[i], slow ? slow + i : nullptr);
}

}  // namespace

void optim_step(const OptimStep& s, float* p, const float* g, float* m, float* v, float* slow) {
  const int64_t n = s.rows * s.cols;
  if (n <= 0) return;
  if (s.centralize) {
    long long blocks = s.rows < 65535LL * 32 ? s.rows : 65535LL * 32;
    SGI_LAUNCH(unsigned(blocks), kThreads, optim_rows_kernel)(s, p, g, m, v, slow);
  } else {
    SGI_LAUNCH(blocks_for(n), kThreads, optim_flat_kernel)(s, n, p, g, m, v, slow);
  }
  SGI_CUDA_LAUNCH_CHECK();
}

}  // namespace sgi::cuda
