// Single-precision matrix multiplication, the engine's performance core. Implemented in
// cpu/gemm.cc (cache-blocked driver with packed panels; AVX-512 14x32, AVX2 6x16 and portable
// micro-kernels chosen at run time) and cuda/gemm.cu (cuBLAS when it is loaded at run time, else a
// tiled shared-memory SGEMM), same names.
//
// All matrices are row-major with leading dimensions in elements:
//   C[M x N] = alpha * op(A) * op(B) + beta * C
// op(A) is M x K: A itself when !trans_a (A[i*lda + k]), else A stored K x M (A[k*lda + i]).
// op(B) is K x N: B itself when !trans_b (B[k*ldb + j]), else B stored N x K (B[j*ldb + k]).
// beta == 0 overwrites C (whatever it held, NaN included). K == 0 scales C by beta.
// The CPU version uses every thread (parallel_for) unless it is called from inside a parallel
// region, where it runs serially on the calling thread. No allocation in steady state: packing
// buffers are per-thread and only grow.
#pragma once
#include <cstdint>

namespace sgi {

namespace cpu {
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// `count` independent GEMMs; A, B, C of GEMM i start at A + i*stride_a (etc.).
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
                  int64_t stride_c, int64_t count);
// C[i*N + j] += bias[j] for i < M (linear layers)
void add_bias_rows(int64_t M, int64_t N, const float* bias, float* C);
// gb[j] = sum_i g[i*N + j] (bias gradient of linear layers)
void sum_rows(int64_t M, int64_t N, const float* g, float* gb);
// Name of the micro-kernel the CPU GEMM uses now ("avx512-14x32", "avx2-6x16", "generic-4x8").
const char* gemm_kernel_name();
// The machine's float32 FMA peak in GFLOP/s, measured: every kernel thread runs independent FMAs
// on registers (the ISA the GEMM uses) for about `seconds`; the yardstick of the GEMM's efficiency.
double fma_peak_gflops(double seconds);
// The precision of the CPU's GEMMs and convolutions (process-wide): false float32 (the default),
// true bf16 products with float32 sums (AVX-512 BF16 only: set_bf16(true) returns false elsewhere
// and changes nothing). See cpu/gemm_internal.h.
bool set_bf16(bool on);
bool bf16_enabled();
bool bf16_supported();
}  // namespace cpu

namespace cuda {
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
                  int64_t stride_c, int64_t count);
void add_bias_rows(int64_t M, int64_t N, const float* bias, float* C);
void sum_rows(int64_t M, int64_t N, const float* g, float* gb);
}  // namespace cuda

}  // namespace sgi
