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

// Every kernel launch goes through this one macro, so the CUDA build and the emulator
// (SGI_CUDA_EMU, src/cuda_emu) share the launch sites:
//   SGI_LAUNCH(grid, block, kernel)(args...);     is     kernel<<<grid, block>>>(args...);
// followed by a check of the launch that names the kernel and the site (LaunchCheck).
#ifdef SGI_CUDA_EMU
#define SGI_LAUNCH(grid, block, ...)                                                              \
  ::sgi::cuda::LaunchCheck(#__VA_ARGS__, __FILE__, __LINE__),                                     \
      ::sgi::emu::make_launcher((grid), (block), #__VA_ARGS__, [](auto... sgi_args) { __VA_ARGS__(sgi_args...); })
#else
#define SGI_LAUNCH(grid, block, ...) \
  ::sgi::cuda::LaunchCheck(#__VA_ARGS__, __FILE__, __LINE__), __VA_ARGS__<<<(grid), (block)>>>
#endif

namespace sgi::cuda {

// Checks the launch that ends the full expression it starts (SGI_LAUNCH): a bad configuration
// throws, naming the kernel and its launch site. With SGI_CUDA_SYNC=1 it also waits for the
// kernel, so an error inside a kernel is reported at its own launch instead of at a later copy.
class LaunchCheck {
 public:
  LaunchCheck(const char* kernel, const char* file, int line);
  ~LaunchCheck() noexcept(false);
  LaunchCheck(const LaunchCheck&) = delete;
  LaunchCheck& operator=(const LaunchCheck&) = delete;

 private:
  const char* kernel_;
  const char* file_;
  int line_;
  int exceptions_;
};

// SGI_CUDA_SYNC=1: synchronise and check after every launch (read once).
bool sync_every_launch();

constexpr int kThreads = 256;
inline int blocks_for(long long n, int threads = kThreads) {
  long long b = (n + threads - 1) / threads;
  return int(b > 65535LL * 32 ? 65535LL * 32 : (b < 1 ? 1 : b));
}
}  // namespace sgi::cuda
