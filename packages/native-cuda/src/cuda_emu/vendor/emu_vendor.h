// Shared by the emulated cuBLAS and cuDNN (emu_cublas.cc, emu_cudnn.cc): the libraries that the
// CUDA emulator build makes (build-emu/Release/libsgi_emu_cublas.so, libsgi_emu_cudnn.so) so that
// the run-time loaders (src/cuda/cublas_loader.cc, cudnn_loader.cc), the GEMM and convolution
// paths that use them, their probes and their fallbacks run in the tests without a GPU.
//
// They export the C symbols of the real libraries that our loaders resolve (nothing more) and
// compute with plain loops on the emulator's device memory, which is host memory. They do not link
// the emulator: the loader hands them, through sgiEmuVendorAttach, the emulator's check that a
// pointer range is emulated device memory, and every operand is checked with it (a host pointer, or
// a leading dimension or stride that reaches past an allocation, is a bad-parameter error with a
// message on stderr).
//
// SGI_EMU_VENDOR_FAIL (a comma-separated list, read at every call, so a test can set it after the
// library was loaded) makes them fail:
//   cublas-create          cublasCreate_v2 returns CUBLAS_STATUS_NOT_INITIALIZED
//   cublas                 every SGEMM returns CUBLAS_STATUS_EXECUTION_FAILED (C untouched)
//   cublas-wrong           every SGEMM returns success with one element of C off by one
//   cudnn-create           cudnnCreate returns CUDNN_STATUS_NOT_INITIALIZED
//   cudnn-forward, cudnn-backward-data, cudnn-backward-filter
//                          that convolution pass returns CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED
//                          (cudnnGetLastErrorString names the sub-library that "could not be loaded")
//   cudnn-forward-wrong, cudnn-backward-data-wrong, cudnn-backward-filter-wrong
//                          that pass returns success with one output element off by one
#pragma once
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#define SGI_EMU_EXPORT extern "C" __attribute__((visibility("default")))

namespace sgi::emu_vendor {

using DeviceCheck = int (*)(const void*, size_t);
inline DeviceCheck& device_check() {
  static DeviceCheck check = nullptr;
  return check;
}

// Whether `token` is in SGI_EMU_VENDOR_FAIL.
inline bool failing(const char* token) {
  const char* v = std::getenv("SGI_EMU_VENDOR_FAIL");
  if (!v || !*v) return false;
  const std::string list = std::string(",") + v + ",";
  return list.find(std::string(",") + token + ",") != std::string::npos;
}

// True when [p, p + bytes) is emulated device memory; otherwise says so on stderr. Without the
// emulator's check (not attached) nothing can be checked.
inline bool on_device(const char* library, const char* fn, const char* what, const void* p, size_t bytes) {
  if (bytes == 0) return true;
  DeviceCheck check = device_check();
  if (!check || check(p, bytes)) return true;
  std::fprintf(stderr, "%s: %s: %s (%zu bytes at %p) is not emulated device memory\n", library, fn, what, bytes, p);
  return false;
}

// x rounded to TF32 (10 explicit mantissa bits, round to nearest even), as tensor cores read FP32.
inline float tf32(float x) {
  unsigned u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) {  // finite
    const unsigned lsb = (u >> 13) & 1u;
    u = (u + 0xfffu + lsb) & ~0x1fffu;
  }
  std::memcpy(&x, &u, 4);
  return x;
}

}  // namespace sgi::emu_vendor
