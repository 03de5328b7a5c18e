// Loads cuBLAS at run time (dlopen) and runs its SGEMMs (see cuda/cublas.h). The build needs no
// cuBLAS header: the few functions used are declared here with an opaque handle (void*) and enums
// as int with the values NVIDIA documents, and resolved with dlsym (the _v2 names are the symbols
// that cublas_v2.h maps cublasCreate, cublasSgemm, ... to).
//
// At load (status(), once): open the library (cuda/vendor_library.h), resolve the functions, create
// the handle on the default stream, set the math and atomics modes from options(), and run a probe:
// every transpose case, padded leading dimensions, alpha/beta and a strided batch with a shared
// operand, on small matrices of multiples of 1/8 (exact in FP32 and TF32), compared with the host.
// A library that fails any of that is not used, and the reason says which step failed.
#include "cuda/cublas.h"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/device.h"
#include "cuda/vendor_library.h"

namespace sgi::cuda {

namespace {

// ---- Our own declarations of the cuBLAS C API subset (no cublas_v2.h needed) ----
using cublasStatus = int;
using cublasHandle = void*;

constexpr int kStatusSuccess = 0;       // CUBLAS_STATUS_SUCCESS
constexpr int kOpN = 0, kOpT = 1;       // CUBLAS_OP_N, CUBLAS_OP_T
constexpr int kDefaultMath = 0;         // CUBLAS_DEFAULT_MATH (FP32 SGEMM)
constexpr int kTf32TensorOpMath = 3;    // CUBLAS_TF32_TENSOR_OP_MATH
constexpr int kAtomicsNotAllowed = 0;   // CUBLAS_ATOMICS_NOT_ALLOWED
constexpr int kAtomicsAllowed = 1;      // CUBLAS_ATOMICS_ALLOWED

struct Api {
  cublasStatus (*Create)(cublasHandle*);
  cublasStatus (*Destroy)(cublasHandle);                   // optional
  cublasStatus (*SetStream)(cublasHandle, cudaStream_t);
  cublasStatus (*SetMathMode)(cublasHandle, int);
  cublasStatus (*SetAtomicsMode)(cublasHandle, int);       // optional
  cublasStatus (*GetVersion)(cublasHandle, int*);          // optional
  const char* (*GetStatusName)(cublasStatus);              // optional (cuBLAS >= 11.4)
  const char* (*GetStatusString)(cublasStatus);            // optional
  cublasStatus (*Sgemm)(cublasHandle, int transa, int transb, int m, int n, int k, const float* alpha, const float* A,
                        int lda, const float* B, int ldb, const float* beta, float* C, int ldc);
  cublasStatus (*SgemmStridedBatched)(cublasHandle, int transa, int transb, int m, int n, int k, const float* alpha,
                                      const float* A, int lda, long long stride_a, const float* B, int ldb,
                                      long long stride_b, const float* beta, float* C, int ldc, long long stride_c,
                                      int batch_count);
};

Api g_api{};
void* g_lib = nullptr;
std::string g_lib_name;
cublasHandle g_handle = nullptr;
int g_version = 0;
int g_math_mode = -1, g_atomics_mode = -1;

std::mutex g_mutex;                    // the handle and its settings
std::atomic<bool> g_enabled{false};
std::string g_runtime_reason;          // under g_mutex
std::atomic<uint64_t> g_calls{0};

template <typename Fn>
bool resolve(Fn& slot, const char* name, std::string* missing) {
  slot = reinterpret_cast<Fn>(dlsym(g_lib, name));
  if (!slot && missing) *missing += (missing->empty() ? "" : ", ") + std::string(name);
  return slot != nullptr;
}

std::string status_text(cublasStatus s) {
  const char* name = g_api.GetStatusName ? g_api.GetStatusName(s) : nullptr;
  if (!name) {
    switch (s) {
      case 0: name = "CUBLAS_STATUS_SUCCESS"; break;
      case 1: name = "CUBLAS_STATUS_NOT_INITIALIZED"; break;
      case 3: name = "CUBLAS_STATUS_ALLOC_FAILED"; break;
      case 7: name = "CUBLAS_STATUS_INVALID_VALUE"; break;
      case 8: name = "CUBLAS_STATUS_ARCH_MISMATCH"; break;
      case 11: name = "CUBLAS_STATUS_MAPPING_ERROR"; break;
      case 13: name = "CUBLAS_STATUS_EXECUTION_FAILED"; break;
      case 14: name = "CUBLAS_STATUS_INTERNAL_ERROR"; break;
      case 15: name = "CUBLAS_STATUS_NOT_SUPPORTED"; break;
      case 16: name = "CUBLAS_STATUS_LICENSE_ERROR"; break;
      default: name = "unknown cuBLAS status";
    }
  }
  const char* text = g_api.GetStatusString ? g_api.GetStatusString(s) : nullptr;
  std::string out = name;
  if (text && *text && std::strcmp(text, name) != 0) out += std::string(" (") + text + ")";
  return out + " (status " + std::to_string(s) + ")";
}

void check(cublasStatus s, const char* what) {
  if (s != kStatusSuccess) throw std::runtime_error(std::string("cuBLAS ") + what + " failed: " + status_text(s));
}

// Sets the handle's modes from options(); the caller holds g_mutex.
void apply_options_locked() {
  if (!g_handle) return;
  const CudaOptions o = options();
  const int math = o.tf32 ? kTf32TensorOpMath : kDefaultMath;
  check(g_api.SetMathMode(g_handle, math), "cublasSetMathMode");
  g_math_mode = math;
  if (g_api.SetAtomicsMode) {
    const int atomics = o.deterministic ? kAtomicsNotAllowed : kAtomicsAllowed;
    check(g_api.SetAtomicsMode(g_handle, atomics), "cublasSetAtomicsMode");
    g_atomics_mode = atomics;
  }
}

// The GEMM itself; the caller holds g_mutex and has checked cublas_fits().
void gemm_locked(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, int64_t sa,
                 const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc, int64_t count) {
  if (!g_handle) throw std::runtime_error("cuBLAS is not loaded");
  // row-major C = op(A) op(B)  <=>  column-major C^T = op(B)^T op(A)^T: B is cuBLAS's first operand
  const int op_first = tb ? kOpT : kOpN, op_second = ta ? kOpT : kOpN;
  if (count == 1) {
    check(g_api.Sgemm(g_handle, op_first, op_second, int(N), int(M), int(K), &alpha, B, int(ldb), A, int(lda), &beta, C, int(ldc)),
          "cublasSgemm_v2");
  } else {
    check(g_api.SgemmStridedBatched(g_handle, op_first, op_second, int(N), int(M), int(K), &alpha, B, int(ldb), (long long)sb, A,
                                    int(lda), (long long)sa, &beta, C, int(ldc), (long long)sc, int(count)),
          "cublasSgemmStridedBatched");
  }
  g_calls.fetch_add(1, std::memory_order_relaxed);
}

// ---- The load-time probe ----
struct ProbeCase {
  bool ta, tb;
  int64_t M, N, K, lda, ldb, ldc, sa, sb, sc, count;
  float alpha, beta;
};

// Elements a matrix of `rows` x `cols` (row-major, leading dimension ld) spans, `count` times.
size_t span(int64_t rows, int64_t cols, int64_t ld, int64_t stride, int64_t count) {
  return size_t((count - 1) * stride + (rows - 1) * ld + cols);
}

// Runs one case through gemm_locked (the mapping every GEMM uses) and compares all of C, its
// padding included, with the host. Returns "" or what differs.
std::string probe_case(const ProbeCase& c) {
  const int64_t ra = c.ta ? c.K : c.M, ca = c.ta ? c.M : c.K, rb = c.tb ? c.N : c.K, cb = c.tb ? c.K : c.N;
  const std::vector<float> a = vendor::probe_values(span(ra, ca, c.lda, c.sa, c.count), 11);
  const std::vector<float> b = vendor::probe_values(span(rb, cb, c.ldb, c.sb, c.count), 23);
  // with beta 0, C must not be read: it starts as NaN (its padding must stay NaN)
  std::vector<float> c0 = vendor::probe_values(span(c.M, c.N, c.ldc, c.sc, c.count), 37);
  if (c.beta == 0.f) c0.assign(c0.size(), std::nanf(""));
  std::vector<float> expected = c0;
  for (int64_t z = 0; z < c.count; ++z)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          const float av = c.ta ? a[size_t(z * c.sa + k * c.lda + i)] : a[size_t(z * c.sa + i * c.lda + k)];
          const float bv = c.tb ? b[size_t(z * c.sb + j * c.ldb + k)] : b[size_t(z * c.sb + k * c.ldb + j)];
          s += double(av) * bv;
        }
        float& e = expected[size_t(z * c.sc + i * c.ldc + j)];
        e = float(c.alpha * s + (c.beta == 0.f ? 0.0 : double(c.beta) * e));
      }
  vendor::ProbeBuffers dev;
  const float* da = dev.upload(a);
  const float* db = dev.upload(b);
  float* dc = dev.upload(c0);
  gemm_locked(c.ta, c.tb, c.M, c.N, c.K, c.alpha, da, c.lda, c.sa, db, c.ldb, c.sb, c.beta, dc, c.ldc, c.sc, c.count);
  const std::vector<float> got = dev.download(dc, c0.size());
  for (size_t i = 0; i < got.size(); ++i)
    if (std::isnan(expected[i]) ? !std::isnan(got[i]) : !(std::fabs(got[i] - expected[i]) <= 1e-6f * std::max(1.f, std::fabs(expected[i]))))
      return "element " + std::to_string(i) + " of C is " + std::to_string(got[i]) + ", expected " + std::to_string(expected[i]);
  return "";
}

std::string describe(const ProbeCase& c) {
  return std::string(c.count > 1 ? "strided batched " : "") + "C = " + std::to_string(c.alpha).substr(0, 4) + " " +
         (c.ta ? "A^T" : "A") + " " + (c.tb ? "B^T" : "B") + " + " + std::to_string(c.beta).substr(0, 4) + " C (M " +
         std::to_string(c.M) + ", N " + std::to_string(c.N) + ", K " + std::to_string(c.K) + ", lda " + std::to_string(c.lda) +
         ", ldb " + std::to_string(c.ldb) + ", ldc " + std::to_string(c.ldc) + (c.count > 1 ? ", " + std::to_string(c.count) + " matrices" : "") + ")";
}

// "" when every case matches.
std::string probe() {
  static const ProbeCase cases[] = {
      // ta, tb, M, N, K, lda, ldb, ldc, sa, sb, sc, count, alpha, beta
      {false, false, 3, 5, 4, 5, 7, 6, 0, 0, 0, 1, 1.f, 0.f},
      {true, false, 3, 5, 4, 4, 5, 5, 0, 0, 0, 1, 0.5f, 0.5f},
      {false, true, 3, 5, 4, 4, 6, 7, 0, 0, 0, 1, 2.f, 1.f},
      {true, true, 3, 5, 4, 3, 4, 5, 0, 0, 0, 1, 1.f, -1.f},
      {false, true, 3, 5, 4, 4, 4, 5, 0, 20, 15, 3, 1.f, 0.f},  // A shared by the batch (stride 0)
      {true, false, 2, 3, 6, 2, 3, 4, 12, 18, 8, 2, 1.f, 0.25f},
  };
  for (const ProbeCase& c : cases) {
    std::string bad;
    try {
      bad = probe_case(c);
    } catch (const std::exception& e) {
      return describe(c) + ": " + e.what();
    }
    if (!bad.empty()) return describe(c) + " gave wrong results: " + bad;
  }
  return "";
}

void destroy_handle() {
  if (g_handle && g_api.Destroy) g_api.Destroy(g_handle);
  g_handle = nullptr;
}

}  // namespace

bool cublas_init(std::string* reason, std::string* library) {
  const std::string fallback = ": GEMMs use the built-in CUDA SGEMM";
  if (vendor::env_off("SGI_CUBLAS")) {
    *reason = "cuBLAS disabled by SGI_CUBLAS=0" + fallback;
    return false;
  }
  std::string tried;
  vendor::Candidates c{"SGI_CUBLAS_PATH",
                       {"libcublas.so.13", "libcublas.so.12", "libcublas.so"},
                       {"libcublas.so.13", "libcublas.so.12", "libcublas.so"},
                       {"nvidia/cublas/lib", "nvidia/cu13/lib"},
                       {"libcublas.so.13", "libcublas.so.12"},
                       "libsgi_emu_cublas.so"};
  g_lib = vendor::open_library(c, &g_lib_name, &tried);
  if (!g_lib) {
    *reason = "cuBLAS was not found (tried " + tried + "; SGI_CUBLAS_PATH names its folder)" + fallback;
    return false;
  }
  *library = g_lib_name;
  std::string missing;
  bool ok = true;
  ok &= resolve(g_api.Create, "cublasCreate_v2", &missing);
  ok &= resolve(g_api.SetStream, "cublasSetStream_v2", &missing);
  ok &= resolve(g_api.SetMathMode, "cublasSetMathMode", &missing);
  ok &= resolve(g_api.Sgemm, "cublasSgemm_v2", &missing);
  ok &= resolve(g_api.SgemmStridedBatched, "cublasSgemmStridedBatched", &missing);
  resolve(g_api.Destroy, "cublasDestroy_v2", nullptr);
  resolve(g_api.SetAtomicsMode, "cublasSetAtomicsMode", nullptr);
  resolve(g_api.GetVersion, "cublasGetVersion_v2", nullptr);
  resolve(g_api.GetStatusName, "cublasGetStatusName", nullptr);
  resolve(g_api.GetStatusString, "cublasGetStatusString", nullptr);
  if (!ok) {
    *reason = g_lib_name + " lacks " + missing + fallback;
    g_api = Api{};
    return false;
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  cublasHandle h = nullptr;
  const cublasStatus created = g_api.Create(&h);
  if (created != kStatusSuccess || !h) {
    *reason = g_lib_name + ": cublasCreate_v2 failed: " + status_text(created) + fallback;
    return false;
  }
  g_handle = h;
  if (g_api.GetVersion) g_api.GetVersion(g_handle, &g_version);
  try {
    check(g_api.SetStream(g_handle, nullptr), "cublasSetStream_v2");  // the default stream, like our kernels
    apply_options_locked();
  } catch (const std::exception& e) {
    *reason = g_lib_name + ": " + e.what() + fallback;
    destroy_handle();
    return false;
  }
  const std::string bad = probe();
  if (!bad.empty()) {
    *reason = "cuBLAS (" + g_lib_name + ") failed its load-time probe: " + bad + fallback;
    destroy_handle();
    return false;
  }
  g_calls = 0;  // count the GEMMs of the process, not the probe's
  g_enabled = true;
  return true;
}

bool cublas_enabled() { return g_enabled.load(std::memory_order_acquire); }

bool cublas_fits(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc, int64_t stride_c,
                 int64_t count) {
  const int64_t lim = INT_MAX;
  for (int64_t v : {M, N, K, lda, ldb, ldc, count})
    if (v < 1 || v > lim) return false;
  if (lda < (ta ? M : K) || ldb < (tb ? K : N) || ldc < N) return false;
  if (count > 1 && stride_c < M * ldc) return false;  // outputs of a batch must not overlap
  return true;
}

void cublas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, int64_t sa,
                 const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc, int64_t count) {
  std::lock_guard<std::mutex> lock(g_mutex);
  gemm_locked(ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, count);
}

void cublas_disable(const std::string& why) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_enabled.exchange(false)) return;  // already disabled (and warned)
  g_runtime_reason = "cuBLAS was disabled after a failed call (" + why + "): GEMMs use the built-in CUDA SGEMM";
  std::fprintf(stderr, "sgi: warning: %s; every GEMM runs on the built-in CUDA SGEMM from now on (this warning is printed once)\n",
               why.c_str());
}

std::string cublas_runtime_reason() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_runtime_reason;
}

void cublas_apply_options() {
  std::string failed;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_handle || !g_enabled) return;
    try {
      apply_options_locked();
    } catch (const std::exception& e) {
      failed = e.what();
    }
  }
  if (!failed.empty()) cublas_disable(failed);
}

void cublas_fill_info(CudaLibrariesInfo* info) {
  std::lock_guard<std::mutex> lock(g_mutex);
  info->cublas_version = g_version;
  info->cublas_math_mode = g_math_mode;
  info->cublas_atomics_mode = g_atomics_mode;
  info->cublas_gemm_calls = g_calls.load();
}

}  // namespace sgi::cuda
