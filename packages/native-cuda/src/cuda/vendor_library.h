// Finding and opening the NVIDIA libraries that are loaded at run time (cuDNN: cudnn_loader.cc,
// cuBLAS: cublas_loader.cc), shared by their loaders.
//
// Search order: the folder an environment variable names (SGI_CUDNN_PATH, SGI_CUBLAS_PATH), the
// dynamic loader's search path (LD_LIBRARY_PATH, ldconfig), then the folders where the NVIDIA
// Python wheels put the libraries (site-packages or dist-packages of any python3).
//
// The CUDA emulator build (SGI_CUDA_EMU) never opens a real NVIDIA library (it would drive a real
// GPU with the emulator's host pointers): it opens only the emulated libraries that the emulator
// build makes (src/cuda_emu/vendor: libsgi_emu_cublas.so, libsgi_emu_cudnn.so), and only from the
// folder the environment variable names. An emulated library exports sgiEmuVendorAttach, through
// which it receives the emulator's check that a pointer range is emulated device memory; the real
// build refuses a library that exports it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sgi::cuda::vendor {

bool env_is(const char* name, const char* value);
// "0", "off", "OFF" or "false"
bool env_off(const char* name);

struct Candidates {
  const char* dir_env;                 // the folder variable, e.g. "SGI_CUBLAS_PATH"
  std::vector<const char*> in_dir;     // file names tried in that folder, e.g. "libcublas.so.13"
  std::vector<const char*> sonames;    // names tried on the loader's search path
  std::vector<const char*> wheel_dirs; // folders relative to a python3 site-packages, e.g. "nvidia/cublas/lib"
  std::vector<const char*> wheel_names;// file names tried in those folders
  const char* emulated;                // the emulated library's file name (emulator build only)
};

// Opens the first candidate that loads (RTLD_NOW | RTLD_LOCAL). Returns the dlopen handle and sets
// `name` to the file opened, or returns null and sets `tried` to what was tried (and why the
// emulator refused a file).
void* open_library(const Candidates& c, std::string* name, std::string* tried);

// Device memory of a load-time probe (status() is still running, so the caching allocator, which
// asks status() for the device, cannot be used): plain cudaMalloc, freed with the object.
class ProbeBuffers {
 public:
  ProbeBuffers() = default;
  ProbeBuffers(const ProbeBuffers&) = delete;
  ProbeBuffers& operator=(const ProbeBuffers&) = delete;
  ~ProbeBuffers();
  void* alloc(size_t bytes);                        // throws std::runtime_error
  float* upload(const std::vector<float>& host);    // a device copy of host
  std::vector<float> download(const float* device, size_t n);

 private:
  std::vector<void*> blocks_;
};

// n values in -1 .. 1 in steps of 1/8, from a seed: their products and short sums are exact in
// FP32 and TF32, so a probe can compare results with the host exactly.
std::vector<float> probe_values(size_t n, uint32_t seed);

}  // namespace sgi::cuda::vendor
