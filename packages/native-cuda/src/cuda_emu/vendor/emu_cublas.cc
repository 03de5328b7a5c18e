// The emulated cuBLAS (libsgi_emu_cublas.so; see emu_vendor.h): the subset of cuBLAS's C API that
// src/cuda/cublas_loader.cc resolves, with the semantics NVIDIA documents for it:
//   - column-major matrices: op(A) is m x k, op(B) is k x n, C is m x n; A is lda x (k or m)
//     (transa N or T), B is ldb x (n or k), C is ldc x n; C = alpha op(A) op(B) + beta C, and with
//     beta == 0 C is not read; m, n or k negative, lda < max(1, rows of A as stored), ldb likewise,
//     ldc < max(1, m), an unknown transpose or a negative batch count is CUBLAS_STATUS_INVALID_VALUE;
//     m == 0 or n == 0 returns at once; k == 0 scales C by beta;
//   - strided batched: matrix i of A, B, C starts at i * stride (a stride may be 0 for A and B);
//   - a handle with a stream, a math mode (CUBLAS_TF32_TENSOR_OP_MATH rounds the products' inputs
//     to TF32, like tensor cores; every other mode computes in FP32) and an atomics mode (kept;
//     SGEMM does not depend on it), host pointer mode (alpha and beta are host pointers).
// Products are accumulated in float with fmaf, k in order (deterministic).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <new>

#include "emu_vendor.h"

namespace {

using sgi::emu_vendor::failing;
using sgi::emu_vendor::on_device;
using sgi::emu_vendor::tf32;

constexpr int kSuccess = 0, kNotInitialized = 1, kInvalidValue = 7, kExecutionFailed = 13;
constexpr int kOpN = 0, kOpT = 1, kOpC = 2;
constexpr int kTf32TensorOpMath = 3;
constexpr unsigned kMagic = 0x5e6b1a5u;

struct Handle {
  unsigned magic = kMagic;
  void* stream = nullptr;
  int math_mode = 0;
  int atomics_mode = 0;
};

bool valid(const Handle* h) { return h && h->magic == kMagic; }

// Elements a column-major rows x cols matrix with leading dimension ld spans.
size_t extent(int64_t rows, int64_t cols, int64_t ld) { return rows <= 0 || cols <= 0 ? 0 : size_t((cols - 1) * ld + rows); }

int sgemm(const char* fn, Handle* h, int transa, int transb, int m, int n, int k, const float* alpha, const float* A, int lda,
          long long sa, const float* B, int ldb, long long sb, const float* beta, float* C, int ldc, long long sc, int count) {
  if (!valid(h)) return kNotInitialized;
  const auto op_ok = [](int t) { return t == kOpN || t == kOpT || t == kOpC; };
  if (!op_ok(transa) || !op_ok(transb) || m < 0 || n < 0 || k < 0 || count < 0) return kInvalidValue;
  const bool ta = transa != kOpN, tb = transb != kOpN;  // real data: C is T
  const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
  if (lda < std::max<int64_t>(1, a_rows) || ldb < std::max<int64_t>(1, b_rows) || ldc < std::max(1, m)) return kInvalidValue;
  if (m == 0 || n == 0 || count == 0) return kSuccess;
  if (!alpha || !beta) return kInvalidValue;
  if (failing("cublas")) return kExecutionFailed;
  const float al = *alpha, be = *beta;
  const bool use_ab = al != 0.f && k > 0;
  const size_t ea = extent(a_rows, a_cols, lda), eb = extent(b_rows, b_cols, ldb), ec = extent(m, n, ldc);
  if ((use_ab && (!on_device("sgi emulated cuBLAS", fn, "A", A, (size_t((count - 1) * sa) + ea) * sizeof(float)) ||
                  !on_device("sgi emulated cuBLAS", fn, "B", B, (size_t((count - 1) * sb) + eb) * sizeof(float)))) ||
      !on_device("sgi emulated cuBLAS", fn, "C", C, (size_t((count - 1) * sc) + ec) * sizeof(float)))
    return kInvalidValue;
  const bool round = h->math_mode == kTf32TensorOpMath;
  for (int z = 0; z < count; ++z) {
    const float* a = A + z * sa;
    const float* b = B + z * sb;
    float* c = C + z * sc;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        float acc = 0.f;
        if (use_ab)
          for (int p = 0; p < k; ++p) {
            float av = ta ? a[i * int64_t(lda) + p] : a[p * int64_t(lda) + i];
            float bv = tb ? b[p * int64_t(ldb) + j] : b[j * int64_t(ldb) + p];
            if (round) { av = tf32(av); bv = tf32(bv); }
            acc = std::fmaf(av, bv, acc);
          }
        float& out = c[j * int64_t(ldc) + i];
        out = be == 0.f ? al * acc : al * acc + be * out;
      }
  }
  if (failing("cublas-wrong")) C[0] += 1.f;
  return kSuccess;
}

}  // namespace

SGI_EMU_EXPORT int sgiEmuVendorAttach(int (*check)(const void*, size_t)) {
  sgi::emu_vendor::device_check() = check;
  return 1;
}

SGI_EMU_EXPORT int cublasCreate_v2(void** handle) {
  if (!handle) return kInvalidValue;
  *handle = nullptr;
  if (failing("cublas-create")) return kNotInitialized;
  *handle = new (std::nothrow) Handle();
  return *handle ? kSuccess : 3;  // CUBLAS_STATUS_ALLOC_FAILED
}

SGI_EMU_EXPORT int cublasDestroy_v2(void* handle) {
  Handle* h = static_cast<Handle*>(handle);
  if (!valid(h)) return kNotInitialized;
  h->magic = 0;
  delete h;
  return kSuccess;
}

SGI_EMU_EXPORT int cublasSetStream_v2(void* handle, void* stream) {
  Handle* h = static_cast<Handle*>(handle);
  if (!valid(h)) return kNotInitialized;
  h->stream = stream;
  return kSuccess;
}

SGI_EMU_EXPORT int cublasSetMathMode(void* handle, int mode) {
  Handle* h = static_cast<Handle*>(handle);
  if (!valid(h)) return kNotInitialized;
  const int base = mode & ~16;  // CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION may be or-ed in
  if (base < 0 || base > 3) return kInvalidValue;
  h->math_mode = base;
  return kSuccess;
}

SGI_EMU_EXPORT int cublasSetAtomicsMode(void* handle, int mode) {
  Handle* h = static_cast<Handle*>(handle);
  if (!valid(h)) return kNotInitialized;
  if (mode != 0 && mode != 1) return kInvalidValue;
  h->atomics_mode = mode;
  return kSuccess;
}

SGI_EMU_EXPORT int cublasGetVersion_v2(void* handle, int* version) {
  if (!valid(static_cast<Handle*>(handle)) || !version) return kNotInitialized;
  *version = 130000;  // reports itself as cuBLAS 13.0
  return kSuccess;
}

SGI_EMU_EXPORT const char* cublasGetStatusName(int status) {
  switch (status) {
    case 0: return "CUBLAS_STATUS_SUCCESS";
    case 1: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case 3: return "CUBLAS_STATUS_ALLOC_FAILED";
    case 7: return "CUBLAS_STATUS_INVALID_VALUE";
    case 13: return "CUBLAS_STATUS_EXECUTION_FAILED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

SGI_EMU_EXPORT const char* cublasGetStatusString(int status) {
  switch (status) {
    case 0: return "success";
    case 1: return "the library was not initialized";
    case 3: return "the resource allocation failed";
    case 7: return "an invalid numeric value was used as an argument";
    case 13: return "the GPU program failed to execute (emulated failure, SGI_EMU_VENDOR_FAIL)";
  }
  return "unknown status";
}

SGI_EMU_EXPORT int cublasSgemm_v2(void* handle, int transa, int transb, int m, int n, int k, const float* alpha, const float* A,
                                  int lda, const float* B, int ldb, const float* beta, float* C, int ldc) {
  return sgemm("cublasSgemm_v2", static_cast<Handle*>(handle), transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

SGI_EMU_EXPORT int cublasSgemmStridedBatched(void* handle, int transa, int transb, int m, int n, int k, const float* alpha,
                                             const float* A, int lda, long long stride_a, const float* B, int ldb,
                                             long long stride_b, const float* beta, float* C, int ldc, long long stride_c,
                                             int batch_count) {
  return sgemm("cublasSgemmStridedBatched", static_cast<Handle*>(handle), transa, transb, m, n, k, alpha, A, lda, stride_a, B, ldb,
               stride_b, beta, C, ldc, stride_c, batch_count);
}
