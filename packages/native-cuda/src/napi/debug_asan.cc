// debugAsan(kind): a deliberate memory error, for the test that AddressSanitizer really is active
// in the sanitizer build of the emulator (build-emu-asan; core/test/cuda_asan.test.ts runs it in a
// child process and expects "AddressSanitizer: heap-buffer-overflow"):
//   'host'   reads one float past the end of a heap array;
//   'device' launches a kernel on the emulated device whose extra thread writes one float past
//            the end of a cudaMalloc'd buffer (the report comes from inside a fiber);
//   'undefined' overflows a signed int (UBSan, when the build has -fsanitize=undefined too).
// Compiled into AddressSanitizer builds only, and registered as a setting (SGI_NAPI_SETTING, a
// non-enumerable export), so that nothing walking the addon's kernels ever calls it.
#if defined(__SANITIZE_ADDRESS__)
#define SGI_NAPI_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SGI_NAPI_ASAN 1
#endif
#endif

#ifdef SGI_NAPI_ASAN
#include <string>
#include "napi/registry.h"
#ifdef SGI_CUDA_EMU
#include "cuda/cuda_check.h"
#endif

namespace sgi {
namespace {

#ifdef SGI_CUDA_EMU
__global__ void debug_asan_kernel(float* out) { out[threadIdx.x] = 1.f; }
#endif

// The element one past the end, read through a volatile pointer so that no optimisation drops it.
float read_past_end(size_t n) {
  float* p = new float[n];
  for (size_t i = 0; i < n; ++i) p[i] = float(i);
  volatile float* q = p;
  const float x = q[n];
  delete[] p;
  return x;
}

int add_overflowing(int a) {
  volatile int b = a;
  return b + 1;
}

}  // namespace

SGI_NAPI_SETTING(debugAsan) {
  Args args(info, "debugAsan");
  if (info.Length() < 1 || !info[0].IsString()) args.fail("argument 'kind' must be 'host', 'device' or 'undefined'");
  const std::string kind = info[0].As<Napi::String>().Utf8Value();
  // 40 bytes: the overflow lands inside the allocation's rounding, not a neighbour; a size the
  // compiler cannot see, so that UBSan's object-size check does not report the access first
  static volatile size_t ten = 10;
  const size_t n = ten;
  if (kind == "host") return Napi::Number::New(info.Env(), read_past_end(n));
  if (kind == "device") {
#ifdef SGI_CUDA_EMU
    float* d = nullptr;
    SGI_CUDA_CHECK(cudaMalloc(&d, n * sizeof(float)));
    SGI_LAUNCH(1, unsigned(n + 1), debug_asan_kernel)(d);  // thread n writes d[n]
    SGI_CUDA_CHECK(cudaFree(d));
    return info.Env().Undefined();
#else
    args.fail("'device' needs the CUDA emulator build (SGI_CUDA_EMU=ON)");
#endif
  }
  if (kind == "undefined") return Napi::Number::New(info.Env(), add_overflowing(0x7fffffff));
  args.fail("argument 'kind' must be 'host', 'device' or 'undefined'");
}

}  // namespace sgi
#endif
