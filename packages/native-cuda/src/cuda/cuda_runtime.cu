// CUDA device discovery and memory. The runtime is linked statically, so with no GPU or no
// driver every call returns an ordinary error and status() reports the reason. status() also
// loads and probes the vendor libraries, once: cuDNN (cuda/cudnn.h) and cuBLAS (cuda/cublas.h). The
// CUDA emulator build loads their emulated stand-ins (src/cuda_emu/vendor) only when SGI_CUDNN_PATH /
// SGI_CUBLAS_PATH name the folder holding them (build-emu/Release); otherwise it runs the built-in
// kernels. The process-wide options (CudaOptions: deterministic, tf32) live here too.
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>
#include "common/device.h"
#include "cuda/cublas.h"
#include "cuda/cuda_check.h"
#include "cuda/cudnn.h"

namespace sgi::cuda {

// Why no device is usable, in words: no driver at all, a driver older than this build's
// runtime, or a driver that sees no GPU.
static std::string describe_missing_device(cudaError_t err) {
  const std::string runtime = std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10);
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (driver) dlclose(driver);
  if (!driver)
    return "no CUDA device: the NVIDIA driver (libcuda.so.1) is not installed";
  if (err == cudaErrorInsufficientDriver) {
    int version = 0;
    cudaDriverGetVersion(&version);
    return "no CUDA device: the NVIDIA driver supports CUDA " + std::to_string(version / 1000) + "." +
           std::to_string(version % 1000 / 10) + " but this build needs CUDA " + runtime + " (update the driver)";
  }
  if (err == cudaSuccess || err == cudaErrorNoDevice) return "no CUDA device: the NVIDIA driver found no GPU";
  return std::string("no CUDA device: ") + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ")";
}

CudaStatus status() {
  static CudaStatus s;
  static std::once_flag once;
  std::call_once(once, [] {
    s.compiled = true;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
      s.reason = describe_missing_device(err);
      s.cudnn_reason = "cuDNN not loaded: no CUDA device";
      s.cublas_reason = "cuBLAS not loaded: no CUDA device";
      cudaGetLastError();
      return;
    }
    s.device_count = count;
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) s.device_name = prop.name;
    s.available = true;
#ifdef SGI_CUDA_EMU
    const auto named = [](const char* env) { const char* v = std::getenv(env); return v && *v; };
    if (named("SGI_CUDNN_PATH")) s.cudnn = cudnn_init(&s.cudnn_reason, &s.cudnn_library);
    else s.cudnn_reason = "cuDNN not loaded: the emulated device runs the built-in kernels (SGI_CUDNN_PATH=<build-emu/Release> loads the emulated cuDNN)";
    if (named("SGI_CUBLAS_PATH")) s.cublas = cublas_init(&s.cublas_reason, &s.cublas_library);
    else s.cublas_reason = "cuBLAS not loaded: the emulated device runs the built-in kernels (SGI_CUBLAS_PATH=<build-emu/Release> loads the emulated cuBLAS)";
#else
    s.cudnn = cudnn_init(&s.cudnn_reason, &s.cudnn_library);
    s.cublas = cublas_init(&s.cublas_reason, &s.cublas_library);
#endif
  });
  CudaStatus out = s;
  if (out.cublas && !cublas_enabled()) {  // a call failed after loading
    out.cublas = false;
    out.cublas_reason = cublas_runtime_reason();
  }
  return out;
}

// ---- Options (stored in common/cuda_options.cc) ----
void set_options(const CudaOptions& o) {
  if (!store_options(o)) return;
  cudnn_drop_choices();    // plans choose again under the new options
  cublas_apply_options();  // math and atomics modes of the handle
}

CudaLibrariesInfo libraries_info() {
  CudaLibrariesInfo info;
  cublas_fill_info(&info);
  cudnn_fill_info(&info);
  return info;
}

static void require_device() {
  CudaStatus s = status();
  if (!s.available) throw std::runtime_error("CUDA tensor requested but " + s.reason);
}

// A caching allocator for device memory. cudaFree waits for all work on the device, so a
// released block is not freed: it goes to a free list of its rounded size and the next
// allocation of that size takes it. Reuse needs no synchronisation because every kernel and copy
// runs on the one default stream: work queued after the new owner's allocation runs after the
// old owner's. The cache is given back by empty_cache() (native.emptyCache()) and, when
// cudaMalloc fails, before one retry. Sizes are rounded to 512 bytes, or to 64 KiB from 1 MiB on.
namespace {
struct DeviceCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // rounded bytes -> blocks
  std::unordered_map<void*, size_t> live;                       // block in use -> rounded bytes
  size_t cached_bytes = 0;
};
DeviceCache& device_cache() {
  static DeviceCache* c = new DeviceCache();  // never destroyed: blocks may be released during exit
  return *c;
}
size_t round_device_block(size_t bytes) {
  const size_t big = size_t(1) << 20, coarse = size_t(64) << 10;
  if (bytes == 0) return 512;
  return bytes >= big ? (bytes + coarse - 1) / coarse * coarse : (bytes + 511) / 512 * 512;
}
// Frees every cached block (the caller holds the mutex). The first cudaFree failure is
// reported after the rest were tried, so one bad block does not strand the others.
void free_cached_locked(DeviceCache& c) {
  cudaError_t first = cudaSuccess;
  for (auto& [size, list] : c.free_blocks)
    for (void* p : list) {
      const cudaError_t e = cudaFree(p);
      if (e != cudaSuccess && first == cudaSuccess) first = e;
    }
  c.free_blocks.clear();
  c.cached_bytes = 0;
  if (first != cudaSuccess) cudaGetLastError();
  SGI_CUDA_CHECK(first);
}
}  // namespace

float* alloc(size_t numel) {
  require_device();
  if (numel > (~size_t(0) - (size_t(64) << 10)) / sizeof(float))
    throw std::runtime_error("CUDA alloc: " + std::to_string(numel) + " float32 elements overflow a byte count");
  const size_t bytes = round_device_block(numel * sizeof(float));
  DeviceCache& c = device_cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  void* p = nullptr;
  auto it = c.free_blocks.find(bytes);
  if (it != c.free_blocks.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    c.cached_bytes -= bytes;
#ifdef SGI_CUDA_EMU
    // A fresh emulated block reads as NaN until written (emu_runtime.cc); a reused one must too,
    // or a kernel that reads before it writes would pass the tests on the previous owner's data.
    SGI_CUDA_CHECK(cudaMemset(p, 0xff, bytes));
#endif
  } else {
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err == cudaErrorMemoryAllocation && c.cached_bytes > 0) {
      cudaGetLastError();  // the failure must not be reported again by the next launch check
      free_cached_locked(c);
      err = cudaMalloc(&p, bytes);
    }
    if (err != cudaSuccess) cudaGetLastError();
    SGI_CUDA_CHECK(err);
  }
  c.live.emplace(p, bytes);
  return static_cast<float*>(p);
}

void release(float* p) {
  if (!p) return;
  DeviceCache& c = device_cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.live.find(p);
  if (it == c.live.end()) {
    // a bug, but release() runs in destructors (Storage), where throwing would end the process
    std::fprintf(stderr, "sgi: CUDA release of %p, which the device allocator does not hold (released twice?): ignored\n", static_cast<void*>(p));
    return;
  }
  c.free_blocks[it->second].push_back(p);
  c.cached_bytes += it->second;
  c.live.erase(it);
}

size_t cached_bytes() {
  DeviceCache& c = device_cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.cached_bytes;
}

void empty_cache() {
  if (!status().available) return;
  DeviceCache& c = device_cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  free_cached_locked(c);
}
void copy_to_device(float* dst, const float* src, size_t n) { SGI_CUDA_CHECK(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyHostToDevice)); }
void copy_to_host(float* dst, const float* src, size_t n) { SGI_CUDA_CHECK(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost)); }
void copy_device(float* dst, const float* src, size_t n) { SGI_CUDA_CHECK(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice)); }
void synchronize() { SGI_CUDA_CHECK(cudaDeviceSynchronize()); }

namespace {
__global__ void debug_kernel(float* out) { if (out) out[threadIdx.x] = 0.f; }
}  // namespace

void debug_bad_launch() {
  require_device();
  SGI_LAUNCH(1, 2048, debug_kernel)(nullptr);  // 2048 threads per block: more than any GPU allows
}

bool sync_every_launch() {
  static const bool on = [] {
    const char* v = std::getenv("SGI_CUDA_SYNC");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

LaunchCheck::LaunchCheck(const char* kernel, const char* file, int line)
    : kernel_(kernel), file_(file), line_(line), exceptions_(std::uncaught_exceptions()) {}

LaunchCheck::~LaunchCheck() noexcept(false) {
  if (std::uncaught_exceptions() > exceptions_) return;  // already unwinding: don't mask that error
  cudaError_t err = cudaGetLastError();
  const bool sync = sync_every_launch();
  if (err == cudaSuccess && sync) err = cudaDeviceSynchronize();
  if (err == cudaSuccess) return;
  cudaGetLastError();
  const char* file = std::strrchr(file_, '/') ? std::strrchr(file_, '/') + 1 : file_;
  throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ") in kernel " +
                           kernel_ + " launched at " + file + ":" + std::to_string(line_) +
                           (sync ? "" : " (an error inside a kernel may belong to an earlier launch: set SGI_CUDA_SYNC=1 to check after every launch)"));
}
#ifdef SGI_CUDA_EMU
void set_device(int) {}             // one emulated device
bool stream_idle() { return true; }  // the emulator runs every launch to completion
#else
void set_device(int index) { SGI_CUDA_CHECK(cudaSetDevice(index)); }
bool stream_idle() {
  cudaError_t e = cudaStreamQuery(0);
  if (e == cudaErrorNotReady) return false;
  SGI_CUDA_CHECK(e);
  return true;
}
#endif

}  // namespace sgi::cuda
