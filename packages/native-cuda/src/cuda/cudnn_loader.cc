// Loads cuDNN at run time (dlopen); the build never needs cuDNN headers.
// The CUDA helper session fills in the function table used by the convolution kernels.
#include <dlfcn.h>
#include <string>

namespace sgi::cuda {
static void* g_cudnn = nullptr;
bool cudnn_load(std::string* reason) {
  const char* names[] = {"libcudnn.so.9", "libcudnn.so.8", "libcudnn.so"};
  for (const char* n : names) {
    g_cudnn = dlopen(n, RTLD_NOW | RTLD_LOCAL);
    if (g_cudnn) return true;
  }
  *reason = "cuDNN not found (libcudnn.so.9/8): convolutions use the built-in CUDA kernels";
  return false;
}
}  // namespace sgi::cuda
