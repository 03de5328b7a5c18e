// cuBLAS SGEMM, loaded at run time (cublas_loader.cc): the build needs no cuBLAS header or
// library, and a machine without cuBLAS runs the built-in SGEMM of cuda/gemm.cu.
//
// cuda/gemm.cu's row-major GEMMs go to cuBLAS (column-major) by swapping the operands: the
// row-major C [M x N] is the column-major C^T [N x M], and C^T = op(B)^T op(A)^T, so cuBLAS is asked
// for m = N, n = M with B as its first operand and A as its second (same leading dimensions, same
// transpose flags). FP32 math by default; TF32 tensor-core math (CUBLAS_TF32_TENSOR_OP_MATH) only
// with the tf32 option (common/device.h CudaOptions). cuBLAS GEMMs give the same bits run after run
// on one GPU model as long as one stream is used, which is the case here (everything runs on the
// default stream); the deterministic option also forbids atomics (cublasSetAtomicsMode).
//
// Every call runs on the default stream and throws std::runtime_error on a cuBLAS error; gemm.cu
// then disables cuBLAS for the process (one warning) and runs the built-in kernel.
// Environment: SGI_CUBLAS=0 disables cuBLAS; SGI_CUBLAS_PATH names a folder to load it from.
#pragma once
#include <cstdint>
#include <string>
#include "common/device.h"

namespace sgi::cuda {

// Loads libcublas (13, 12, unversioned; SGI_CUBLAS_PATH and the NVIDIA Python wheels' folders
// first), creates the handle and runs a probe of every transpose case against the host. Called
// once by status(); false with `reason` when cuBLAS cannot be used. `library` gets the file loaded.
bool cublas_init(std::string* reason, std::string* library);

// True while cuBLAS is usable: initialised, and no call has failed since.
bool cublas_enabled();

// Whether cuBLAS can take this row-major GEMM: every size, leading dimension and the batch count
// fit in int (cuBLAS's legacy API), sizes are positive and the leading dimensions are valid.
bool cublas_fits(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc,
                 int64_t stride_c, int64_t count);

// Row-major C = alpha op(A) op(B) + beta C (common/kernels/gemm.h), `count` times with the given
// strides (count 1: cublasSgemm_v2, else cublasSgemmStridedBatched). Call only when cublas_fits().
void cublas_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
                 int64_t stride_c, int64_t count);

// After a failed call: disables cuBLAS for the rest of the process and prints one warning.
void cublas_disable(const std::string& why);

// Why cuBLAS was disabled after loading ("" while it is enabled).
std::string cublas_runtime_reason();

// Sets the math and atomics modes of the handle from options() (set_options calls it).
void cublas_apply_options();

// Version, modes and call count, for native.cudaLibraries().
void cublas_fill_info(CudaLibrariesInfo* info);

}  // namespace sgi::cuda
