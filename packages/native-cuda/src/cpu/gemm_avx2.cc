// AVX2 + FMA GEMM micro-kernel: a 6 x 16 tile of C in 12 ymm accumulators (compiled with
// -mavx2 -mfma).
#include <immintrin.h>
#include "cpu/gemm_internal.h"

namespace sgi::cpu::gemm_detail {

namespace {
constexpr int MR = 6, NR = 16;

#define SGI_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

void tile_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta) {
#define SGI_DECL(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
  SGI_ROWS(SGI_DECL)
#undef SGI_DECL
#define SGI_FMA(r)                                   \
  {                                                  \
    const __m256 ar = _mm256_broadcast_ss(a + (r));  \
    c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0);      \
    c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1);      \
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
    SGI_ROWS(SGI_FMA)
    a += MR;
    b += NR;
  }
#undef SGI_FMA
  const __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.f) {
#define SGI_STORE(r)                                                   \
  _mm256_storeu_ps(c + (r) * ldc, _mm256_mul_ps(va, c##r##0));         \
  _mm256_storeu_ps(c + (r) * ldc + 8, _mm256_mul_ps(va, c##r##1));
    SGI_ROWS(SGI_STORE)
#undef SGI_STORE
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
#define SGI_UPDATE(r)                                                                                          \
  _mm256_storeu_ps(c + (r) * ldc, _mm256_fmadd_ps(va, c##r##0, _mm256_mul_ps(vb, _mm256_loadu_ps(c + (r) * ldc)))); \
  _mm256_storeu_ps(c + (r) * ldc + 8, _mm256_fmadd_ps(va, c##r##1, _mm256_mul_ps(vb, _mm256_loadu_ps(c + (r) * ldc + 8))));
    SGI_ROWS(SGI_UPDATE)
#undef SGI_UPDATE
  }
}
#undef SGI_ROWS

const MicroKernel kAvx2 = {"avx2-6x16", MR, NR, MR * 24, 256, 16 * 192, tile_6x16};
}  // namespace

const MicroKernel* micro_kernel_avx2() { return &kAvx2; }

}  // namespace sgi::cpu::gemm_detail
