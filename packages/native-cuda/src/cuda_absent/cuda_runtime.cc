// The CUDA interface in a build without the CUDA backend: reports why, allocates nothing. The
// options are kept (native.setCudaOptions answers the same everywhere) but have nothing to act on.
#include <cstdlib>
#include <mutex>
#include <string>
#include "common/device.h"

namespace sgi::cuda {
CudaStatus status() {
  CudaStatus s;
  s.compiled = false;
  s.available = false;
  s.reason = "built without CUDA (nvcc not found or SGI_CUDA=OFF)";
  s.cudnn_reason = s.reason;
  s.cublas_reason = s.reason;
  return s;
}
void set_options(const CudaOptions& o) { store_options(o); }
CudaLibrariesInfo libraries_info() { return CudaLibrariesInfo{}; }
static void no_cuda() { throw_no_cuda("cuda"); }
float* alloc(size_t) { no_cuda(); }
void release(float*) {}
size_t cached_bytes() { return 0; }
void empty_cache() {}
void copy_to_device(float*, const float*, size_t) { no_cuda(); }
void copy_to_host(float*, const float*, size_t) { no_cuda(); }
void copy_device(float*, const float*, size_t) { no_cuda(); }
void synchronize() {}
void debug_bad_launch() { no_cuda(); }
void set_device(int) { no_cuda(); }
bool stream_idle() { return true; }
}  // namespace sgi::cuda
