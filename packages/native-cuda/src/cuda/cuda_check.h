// Error checking and launch helpers shared by the CUDA kernels.
#pragma once
#include <cuda_runtime.h>
#include <stdexcept>
#include <string>

#define SGI_CUDA_CHECK(expr)                                                                      \
  do {                                                                                            \
    cudaError_t sgi_err_ = (expr);                                                                \
    if (sgi_err_ != cudaSuccess)                                                                  \
      throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorString(sgi_err_) + " at " + \
                               __FILE__ + ":" + std::to_string(__LINE__));                        \
  } while (0)

#define SGI_CUDA_LAUNCH_CHECK() SGI_CUDA_CHECK(cudaGetLastError())

namespace sgi::cuda {
constexpr int kThreads = 256;
inline int blocks_for(long long n, int threads = kThreads) {
  long long b = (n + threads - 1) / threads;
  return int(b > 65535LL * 32 ? 65535LL * 32 : (b < 1 ? 1 : b));
}
}  // namespace sgi::cuda
