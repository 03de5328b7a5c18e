// The process-wide options of the CUDA backend (see CudaOptions in common/device.h), kept here so
// that every build (CUDA, emulated, without CUDA) stores them the same way; cuda/cuda_runtime.cu's
// set_options() also makes the vendor libraries choose again when they change.
#include <cstdlib>
#include <cstring>
#include <mutex>
#include "common/device.h"

namespace sgi::cuda {

namespace {
std::mutex g_options_mutex;
CudaOptions& current_options() {
  static CudaOptions o = [] {
    CudaOptions d;
    const char* tf32 = std::getenv("SGI_CUDNN_TF32");
    d.tf32 = tf32 && std::strcmp(tf32, "1") == 0;
    return d;
  }();
  return o;
}
}  // namespace

CudaOptions options() {
  std::lock_guard<std::mutex> lock(g_options_mutex);
  return current_options();
}

bool store_options(const CudaOptions& o) {
  std::lock_guard<std::mutex> lock(g_options_mutex);
  CudaOptions& cur = current_options();
  if (cur.deterministic == o.deterministic && cur.tf32 == o.tf32) return false;
  cur = o;
  return true;
}

}  // namespace sgi::cuda
