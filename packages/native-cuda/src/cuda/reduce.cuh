// Block reductions shared by the CUDA kernels (activation, loss, normalization), and the pieces
// of their deterministic two-pass form: each block writes its partial sum to a scratch buffer,
// then sum_splits_kernel adds the partials of each output in a fixed order. (Float atomicAdd of
// block sums would make the result depend on the order in which blocks finish.)
#pragma once
#include <cuda_runtime.h>
#include <cstddef>
#include "common/device.h"

namespace sgi::cuda {

// Threads per block of the reduction kernels.
constexpr int kReduceThreads = 256;

// Sum of v over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
__device__ inline float block_sum(float v, float* shared /* >= 32 */) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // shared may still be read from a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < warps ? shared[threadIdx.x] : 0.f;
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if (threadIdx.x == 0) shared[0] = v;
  __syncthreads();
  return shared[0];
}

// out[i] = scale * (partial[i * splits] + ... + partial[i * splits + splits - 1]), added in
// that order: one thread per output (splits is small, at most a few hundred). A template in an
// unnamed namespace so each .cu file that launches it has its own copy (and those that do not,
// none).
namespace {
template <typename Unused = void>
__global__ void sum_splits_kernel(long long count, int splits, const float* __restrict__ partial, float scale, float* __restrict__ out) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x) {
    const float* p = partial + i * splits;
    float s = 0.f;
    for (int k = 0; k < splits; ++k) s += p[k];
    out[i] = scale * s;
  }
}
}  // namespace

// A device buffer for partial sums, from the caching allocator and handed back to it at the end
// of the scope. The kernels that use it are queued on the default stream before the release, and
// whatever takes the block next is queued after them, so no synchronisation is needed.
class Scratch {
 public:
  explicit Scratch(size_t numel) : p_(numel ? alloc(numel) : nullptr) {}
  ~Scratch() { release(p_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* get() const { return p_; }

 private:
  float* p_;
};

}  // namespace sgi::cuda
