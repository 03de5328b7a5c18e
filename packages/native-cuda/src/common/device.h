// Devices and the CUDA runtime interface shared by every backend.
// cuda_runtime.cu implements it when the CUDA backend is compiled; cuda_absent/ otherwise.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>

namespace sgi {

enum class Device { CPU = 0, CUDA = 1 };

inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

struct CudaStatus {
  bool compiled = false;   // the CUDA backend is in this binary
  bool available = false;  // a usable device was found at run time
  int device_count = 0;
  std::string device_name;
  std::string reason;      // why it is not available
  bool cudnn = false;      // cuDNN was loaded at run time
  std::string cudnn_reason;
};

namespace cuda {
CudaStatus status();                 // queried once, cached
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
