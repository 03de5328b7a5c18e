// CUDA SGEMM (see common/kernels/gemm.h). With cuBLAS loaded at run time (cuda/cublas.h) gemm and
// gemm_batched go to cublasSgemm_v2 / cublasSgemmStridedBatched (the row-major product mapped to
// column-major by swapping the operands), when every size fits cuBLAS's int arguments. Otherwise,
// and after any cuBLAS error (one warning, then cuBLAS is off for the process; the failed call is
// redone here, so no result is lost), the built-in kernel runs: 64x64 tiles of C per 256-thread
// block, 16-deep shared-memory slices of A and B, 4x4 outputs per thread (strided by 16 so
// shared-memory reads are conflict-free). Transposes are handled in the tile loads, which are
// coalesced along the contiguous dimension of each operand. Batches run on blockIdx.z.
#include <cstdint>
#include <exception>
#include "common/kernels/gemm.h"
#include "cuda/cublas.h"
#include "cuda/cuda_check.h"

namespace sgi::cuda {

namespace {
constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4, kGemmThreads = 256;

template <bool TA, bool TB>
__global__ void __launch_bounds__(kGemmThreads) sgemm_kernel(int64_t M, int64_t N, int64_t K, float alpha, const float* __restrict__ A,
                                                             int64_t lda, int64_t sa, const float* __restrict__ B, int64_t ldb, int64_t sb,
                                                             float beta, float* __restrict__ C, int64_t ldc, int64_t sc) {
  __shared__ float As[BK][BM + 4];
  __shared__ float Bs[BK][BN + 4];
  A += blockIdx.z * sa;
  B += blockIdx.z * sb;
  C += blockIdx.z * sc;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  for (int64_t k0 = 0; k0 < K; k0 += BK) {
#pragma unroll
    for (int e = 0; e < (BM * BK) / kGemmThreads; ++e) {
      const int i = tid + e * kGemmThreads;
      int m, k;
      if (TA) { m = i % BM; k = i / BM; } else { k = i % BK; m = i / BK; }
      const int64_t gm = m0 + m, gk = k0 + k;
      As[k][m] = (gm < M && gk < K) ? (TA ? A[gk * lda + gm] : A[gm * lda + gk]) : 0.f;
    }
#pragma unroll
    for (int e = 0; e < (BN * BK) / kGemmThreads; ++e) {
      const int i = tid + e * kGemmThreads;
      int n, k;
      if (TB) { k = i % BK; n = i / BK; } else { n = i % BN; k = i / BN; }
      const int64_t gn = n0 + n, gk = k0 + k;
      Bs[k][n] = (gn < N && gk < K) ? (TB ? B[gn * ldb + gk] : B[gk * ldb + gn]) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = As[k][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = Bs[k][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t gm = m0 + ty + 16 * i;
    if (gm >= M) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t gn = n0 + tx + 16 * j;
      if (gn >= N) continue;
      float* c = C + gm * ldc + gn;
      *c = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *c;
    }
  }
}

__global__ void add_bias_rows_kernel(int64_t M, int64_t N, const float* __restrict__ bias, float* __restrict__ C) {
  const int64_t n = M * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) C[i] += bias[i % N];
}

// One thread per column, rows summed in order (deterministic).
__global__ void sum_rows_kernel(int64_t M, int64_t N, const float* __restrict__ g, float* __restrict__ gb) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < N; j += int64_t(blockDim.x) * gridDim.x) {
    float s = 0.f;
    for (int64_t i = 0; i < M; ++i) s += g[i * N + j];
    gb[j] = s;
  }
}

// cuBLAS when it is usable and takes these sizes; false when the built-in kernel must run.
bool run_cublas(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, int64_t sa,
                const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc, int64_t count) {
  if (!cublas_enabled() || !cublas_fits(ta, tb, M, N, K, lda, ldb, ldc, sc, count)) return false;
  try {
    cublas_gemm(ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, count);
    return true;
  } catch (const std::exception& e) {
    cudaGetLastError();  // a CUDA error cuBLAS left behind is not the next kernel's
    cublas_disable(e.what());
    return false;
  }
}

void launch(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, int64_t sa, const float* B,
            int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc, int64_t count) {
  if (M <= 0 || N <= 0 || count <= 0) return;
  if (run_cublas(ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, count)) return;
  for (int64_t z0 = 0; z0 < count; z0 += 65535) {
    const int64_t zc = count - z0 < 65535 ? count - z0 : 65535;
    dim3 grid(unsigned((N + BN - 1) / BN), unsigned((M + BM - 1) / BM), unsigned(zc));
    const float* a = A + z0 * sa;
    const float* b = B + z0 * sb;
    float* c = C + z0 * sc;
    if (!ta && !tb) SGI_LAUNCH(grid, kGemmThreads, sgemm_kernel<false, false>)(M, N, K, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc);
    else if (!ta && tb) SGI_LAUNCH(grid, kGemmThreads, sgemm_kernel<false, true>)(M, N, K, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc);
    else if (ta && !tb) SGI_LAUNCH(grid, kGemmThreads, sgemm_kernel<true, false>)(M, N, K, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc);
    else SGI_LAUNCH(grid, kGemmThreads, sgemm_kernel<true, true>)(M, N, K, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc);
    SGI_CUDA_LAUNCH_CHECK();
  }
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  launch(trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
                  int64_t stride_c, int64_t count) {
  launch(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, count);
}

void add_bias_rows(int64_t M, int64_t N, const float* bias, float* C) {
  if (M <= 0 || N <= 0) return;
  SGI_LAUNCH(blocks_for(M * N), kThreads, add_bias_rows_kernel)(M, N, bias, C);
  SGI_CUDA_LAUNCH_CHECK();
}

void sum_rows(int64_t M, int64_t N, const float* g, float* gb) {
  if (N <= 0) return;
  SGI_LAUNCH(blocks_for(N), kThreads, sum_rows_kernel)(M, N, g, gb);
  SGI_CUDA_LAUNCH_CHECK();
}

}  // namespace sgi::cuda
