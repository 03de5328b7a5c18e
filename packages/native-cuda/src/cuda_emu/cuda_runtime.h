// The CUDA emulator (build option SGI_CUDA_EMU=ON): this header stands in for the toolkit's
// <cuda_runtime.h>, so the backend's own .cu files compile as plain C++ and run on the CPU.
//
// What it provides is exactly what src/cuda uses, with CUDA's semantics:
//   - kernels launched through SGI_LAUNCH (cuda_check.h) run every block of the grid, in an
//     order shuffled per launch, on the OpenMP threads (SGI_CUDA_EMU_THREADS of them when set);
//     the threads of one block run as fibers on one OS thread, so __syncthreads() is a real
//     barrier and __shfl_*_sync a real warp exchange;
//   - threadIdx / blockIdx / blockDim / gridDim read the running fiber's indices;
//   - __shared__ variables are per OS thread, and one OS thread runs one block at a time;
//   - atomicAdd is atomic across OS threads;
//   - launch limits (block size, grid size) are checked and reported as CUDA reports them;
//   - device memory is host memory, counted, with an optional limit (SGI_CUDA_EMU_MEMORY bytes)
//     so that out-of-memory paths can be tested.
// cuBLAS and cuDNN are emulated by separate libraries (./vendor), which the run-time loaders of
// src/cuda open when SGI_CUBLAS_PATH / SGI_CUDNN_PATH name their folder.
// Emulated: a barrier that not every live thread of the block (or warp) can reach is reported
// as a launch failure naming the kernel instead of hanging.
// Built with AddressSanitizer (SGI_SANITIZE=address: build-emu-asan, the vitest project
// cuda-emu-asan), every fiber switch is announced to ASan with the stack it goes to, and cudaMalloc
// returns exactly the bytes asked for, so a kernel's access past a device buffer is reported as a
// heap-buffer-overflow (from inside its fiber).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

// ---- qualifiers ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define CUDART_VERSION 13000

// ---- vector types ----
struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// ---- errors ----
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorLaunchFailure = 719,
};
using cudaError = cudaError_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost = 0, cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3, cudaMemcpyDefault = 4 };
using cudaStream_t = struct CUstream_st*;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor, multiProcessorCount, maxThreadsPerBlock;
  int maxThreadsDim[3], maxGridSize[3];
};

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaMalloc(void** p, size_t bytes);
template <typename T>
inline cudaError_t cudaMalloc(T** p, size_t bytes) { return cudaMalloc(reinterpret_cast<void**>(p), bytes); }
cudaError_t cudaFree(void* p);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);

// ---- device functions ----
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
using std::isfinite;
using std::isinf;
using std::isnan;

namespace sgi::emu {

// The indices of the fiber that is running (set by the scheduler before it switches to a fiber).
struct ThreadIndex { uint3 thread, block; dim3 block_dim, grid_dim; };
extern thread_local const ThreadIndex* current;

void syncthreads();
// Whether [p, p + bytes) lies inside one emulated device allocation (handed to the emulated
// cuBLAS and cuDNN, src/cuda_emu/vendor, so that they check every operand they touch).
bool is_device_memory(const void* p, size_t bytes);
// One warp-wide exchange: every live thread of the warp publishes `bits` and receives the value
// published by lane `src_lane` (its own when src_lane is out of range).
uint64_t warp_exchange(uint64_t bits, int src_lane);
int lane_id();

template <typename T>
inline T shfl(T v, int src_lane) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "__shfl of a type wider than 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = warp_exchange(bits, src_lane);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// Runs kernel(args...) on every thread of every block: what `kernel<<<grid, block>>>(args...)` does.
void run_grid(dim3 grid, dim3 block, const char* name, void (*body)(void*), void* closure);

template <typename F>
class Launcher {
 public:
  Launcher(dim3 grid, dim3 block, const char* name, F f) : grid_(grid), block_(block), name_(name), f_(f) {}
  template <typename... A>
  void operator()(A... args) const {
    auto bound = [&] { f_(args...); };
    run_grid(grid_, block_, name_, [](void* c) { (*static_cast<decltype(bound)*>(c))(); }, &bound);
  }

 private:
  dim3 grid_, block_;
  const char* name_;
  F f_;
};

template <typename F>
Launcher<F> make_launcher(dim3 grid, dim3 block, const char* name, F f) { return Launcher<F>(grid, block, name, f); }

}  // namespace sgi::emu

#define threadIdx (::sgi::emu::current->thread)
#define blockIdx (::sgi::emu::current->block)
#define blockDim (::sgi::emu::current->block_dim)
#define gridDim (::sgi::emu::current->grid_dim)
#define warpSize 32

inline void __syncthreads() { ::sgi::emu::syncthreads(); }
template <typename T>
inline T __shfl_sync(unsigned, T v, int src, int width = 32) {
  const int lane = ::sgi::emu::lane_id();
  return ::sgi::emu::shfl(v, (lane / width) * width + (src % width));
}
template <typename T>
inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = ::sgi::emu::lane_id();
  const int src = lane + int(delta);
  return ::sgi::emu::shfl(v, src / width == lane / width ? src : -1);
}
template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  const int lane = ::sgi::emu::lane_id();
  const int src = lane ^ mask;
  return ::sgi::emu::shfl(v, src / width == lane / width ? src : -1);
}

// atomicAdd: a compare-and-swap loop on the value's bits (blocks run on several OS threads).
template <typename T>
inline T atomicAdd(T* address, T value) {
  static_assert(std::is_arithmetic<T>::value, "atomicAdd of a non-arithmetic type");
  if constexpr (std::is_integral<T>::value) {
    return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
  } else {
    T old;
    __atomic_load(address, &old, __ATOMIC_RELAXED);
    for (;;) {
      T next = old + value;
      if (__atomic_compare_exchange(address, &old, &next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return old;
    }
  }
}
