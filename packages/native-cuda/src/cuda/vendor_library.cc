// See cuda/vendor_library.h.
#include "cuda/vendor_library.h"

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace sgi::cuda::vendor {

bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, value) == 0;
}

bool env_off(const char* name) {
  const char* v = std::getenv(name);
  return v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0 || std::strcmp(v, "OFF") == 0 ||
               std::strcmp(v, "false") == 0);
}

namespace {

void add_tried(std::string* tried, const std::string& what) {
  if (tried) *tried += (tried->empty() ? "" : ", ") + what;
}

#ifdef SGI_CUDA_EMU
// Handed to the emulated libraries: whether [p, p + bytes) lies in one emulated device allocation.
int sgi_emu_device_memory_check(const void* p, size_t bytes) { return ::sgi::emu::is_device_memory(p, bytes) ? 1 : 0; }
#endif

using AttachFn = int (*)(int (*)(const void*, size_t));

// dlopen, then the emulator's rule: the emulator build takes emulated libraries only, the real
// build refuses them.
void* open_checked(const std::string& file, std::string* tried) {
  void* h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    add_tried(tried, file);
    return nullptr;
  }
  auto attach = reinterpret_cast<AttachFn>(dlsym(h, "sgiEmuVendorAttach"));
#ifdef SGI_CUDA_EMU
  if (!attach || attach(&sgi_emu_device_memory_check) != 1) {
    dlclose(h);
    add_tried(tried, file + " (not an emulated library: the emulator cannot run a real one)");
    return nullptr;
  }
#else
  if (attach) {
    dlclose(h);
    add_tried(tried, file + " (the CUDA emulator's stand-in, not the NVIDIA library)");
    return nullptr;
  }
#endif
  return h;
}

}  // namespace

void* open_library(const Candidates& c, std::string* name, std::string* tried) {
  const char* dir = std::getenv(c.dir_env);
  std::vector<std::string> files;
#ifdef SGI_CUDA_EMU
  if (dir && *dir) files.push_back(std::string(dir) + "/" + c.emulated);
#else
  if (dir && *dir)
    for (const char* n : c.in_dir) files.push_back(std::string(dir) + "/" + n);
  for (const char* n : c.sonames) files.push_back(n);
  for (const char* prefix : {"/usr/local/lib/python3*/dist-packages/", "/usr/lib/python3*/dist-packages/",
                             "/usr/local/lib/python3*/site-packages/", "/opt/*/.venv/lib/python3*/site-packages/"})
    for (const char* sub : c.wheel_dirs)
      for (const char* n : c.wheel_names) {
        const std::string pattern = std::string(prefix) + sub + "/" + n;
        glob_t g{};
        if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
          for (size_t i = 0; i < g.gl_pathc; ++i) files.push_back(g.gl_pathv[i]);
        globfree(&g);
      }
#endif
  for (const std::string& f : files) {
    if (void* h = open_checked(f, tried)) {
      *name = f;
      return h;
    }
  }
  if (files.empty()) add_tried(tried, std::string("nothing: ") + c.dir_env + " is not set");
  return nullptr;
}

ProbeBuffers::~ProbeBuffers() {
  for (void* p : blocks_) cudaFree(p);
  cudaGetLastError();
}

void* ProbeBuffers::alloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 4);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string("cudaMalloc of ") + std::to_string(bytes) + " bytes for the probe failed: " + cudaGetErrorString(e));
  }
  blocks_.push_back(p);
  return p;
}

float* ProbeBuffers::upload(const std::vector<float>& host) {
  float* p = static_cast<float*>(alloc(host.size() * sizeof(float)));
  const cudaError_t e = cudaMemcpy(p, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string("cudaMemcpy to the probe's buffers failed: ") + cudaGetErrorString(e));
  }
  return p;
}

std::vector<float> ProbeBuffers::download(const float* device, size_t n) {
  std::vector<float> out(n);
  const cudaError_t e = cudaMemcpy(out.data(), device, n * sizeof(float), cudaMemcpyDeviceToHost);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string("cudaMemcpy of the probe's result failed (a library kernel may have failed): ") +
                             cudaGetErrorString(e));
  }
  return out;
}

std::vector<float> probe_values(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    v[i] = float(int((seed >> 24) % 17) - 8) / 8.f;
  }
  return v;
}

}  // namespace sgi::cuda::vendor
