// Devices, the CUDA runtime interface, the CUDA options and vendor-library state shared by every backend.
// cuda_runtime.cu implements it when the CUDA backend is compiled; cuda_absent/ otherwise.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace sgi {

enum class Device { CPU = 0, CUDA = 1 };

inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

struct CudaStatus {
  bool compiled = false;   // the CUDA backend is in this binary
  bool available = false;  // a usable device was found at run time
  int device_count = 0;
  std::string device_name;
  std::string reason;      // why it is not available
  // Vendor libraries, loaded at run time (cuda/cudnn.h, cuda/cublas.h): usable once loaded, a
  // handle created and the load-time probe passed; otherwise the reason says why. cuBLAS also turns
  // false (with a new reason) when a call fails later in the process.
  bool cudnn = false;
  std::string cudnn_reason;
  std::string cudnn_library;  // the file that was loaded
  bool cublas = false;
  std::string cublas_reason;
  std::string cublas_library;
};

// Process-wide options of the CUDA backend (native.setCudaOptions). deterministic: cuDNN only runs
// algorithms it documents as deterministic, and cuBLAS may not use atomics; tf32: cuDNN and cuBLAS
// may use TF32 tensor-core math (the initial value is SGI_CUDNN_TF32=1). Changing them drops the
// algorithm choices cached for cuDNN convolution shapes.
struct CudaOptions {
  bool deterministic = true;
  bool tf32 = false;
};

// What the vendor libraries are doing, for tests and diagnostics (native.cudaLibraries()).
struct CudnnAlgoInfo {
  bool chosen = false;
  int algo = 0;
  bool deterministic = false;
  int math_type = 0;
  size_t workspace_bytes = 0;
};
struct CudnnPlanInfo {
  std::array<int, 12> shape{};  // N, C, H, W, K, kh, kw, sh, sw, ph, pw, groups
  CudnnAlgoInfo forward, backward_data, backward_filter;
};
struct CudaLibrariesInfo {
  int64_t cublas_version = 0;
  int cublas_math_mode = -1;     // as set on the handle (-1: not set)
  int cublas_atomics_mode = -1;
  uint64_t cublas_gemm_calls = 0;  // GEMMs that cuBLAS ran
  int64_t cudnn_version = 0;
  uint64_t cudnn_forward_calls = 0, cudnn_backward_data_calls = 0, cudnn_backward_filter_calls = 0;
  std::vector<CudnnPlanInfo> cudnn_plans;
};

namespace cuda {
CudaStatus status();                 // queried once, cached (vendor libraries loaded and probed then)
CudaOptions options();                   // common/cuda_options.cc
bool store_options(const CudaOptions& o);  // common/cuda_options.cc: true when they changed
void set_options(const CudaOptions& o);    // stores them; the vendor libraries choose again
CudaLibrariesInfo libraries_info();
// Device memory through a caching allocator (cuda_runtime.cu): release() keeps the block for the
// next allocation of its size instead of freeing it (cudaFree would wait for the device).
float* alloc(size_t numel);          // throws when no device or out of memory (after emptying the cache)
void release(float* p);
size_t cached_bytes();               // bytes held by the cache, not in use
void empty_cache();                  // frees the cached blocks
void copy_to_device(float* dst, const float* src, size_t numel);
void copy_to_host(float* dst, const float* src, size_t numel);
void copy_device(float* dst, const float* src, size_t numel);
void synchronize();
// Data-parallel jobs (napi/collectives.cc): one GPU per local rank, chosen before any allocation;
// whether the default stream has finished its work (polled with a deadline, never blocking).
void set_device(int index);
bool stream_idle();
// Test hook (debugThrow 'cuda_launch'): launches a kernel with an invalid block size, so the
// launch check throws as a real CUDA error would.
void debug_bad_launch();
}  // namespace cuda

// Thrown by dispatch when a CUDA tensor reaches a build without the CUDA backend.
[[noreturn]] inline void throw_no_cuda(const char* op) {
  throw std::runtime_error(std::string(op) + ": this build has no CUDA backend (rebuild with nvcc and SGI_CUDA=ON)");
}

}  // namespace sgi

// Calls cpu::fn or cuda::fn for the device of the tensors: the one place device dispatch lives.
#ifdef SGI_WITH_CUDA
#define SGI_DISPATCH(dev, fn, ...) \
  do { if ((dev) == ::sgi::Device::CUDA) ::sgi::cuda::fn(__VA_ARGS__); else ::sgi::cpu::fn(__VA_ARGS__); } while (0)
#else
#define SGI_DISPATCH(dev, fn, ...) \
  do { if ((dev) == ::sgi::Device::CUDA) ::sgi::throw_no_cuda(#fn); else ::sgi::cpu::fn(__VA_ARGS__); } while (0)
#endif
