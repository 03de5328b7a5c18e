// The frame of the AVX-512 14 x 32 GEMM tile, shared by the float32 tile (cpu/gemm_avx512.cc) and
// the bf16 one (cpu/gemm_avx512bf16.cc), which differ only in the per-depth step: 28 zmm
// accumulators c<row>0 / c<row>1, the prefetch of C when it is read, and the store
// C = alpha * acc (+ beta * C). Macros, so the accumulators stay named registers in each kernel.
// Use inside a function with parameters c, ldc, alpha, beta:
//   SGI_T14_BEGIN  ... depth loop updating c<r>0, c<r>1 (SGI_T14_ROWS(X) expands X(0) .. X(13)) ...  SGI_T14_END
#pragma once
#include <immintrin.h>

#define SGI_T14_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)

#define SGI_T14_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define SGI_T14_PF(r)                                                            \
  _mm_prefetch(reinterpret_cast<const char*>(c + (r) * ldc), _MM_HINT_T0);      \
  _mm_prefetch(reinterpret_cast<const char*>(c + (r) * ldc + 16), _MM_HINT_T0);
#define SGI_T14_BEGIN            \
  SGI_T14_ROWS(SGI_T14_DECL)     \
  if (beta != 0.f) { SGI_T14_ROWS(SGI_T14_PF) }

#define SGI_T14_STORE(r)                                                \
  _mm512_storeu_ps(c + (r) * ldc, _mm512_mul_ps(va, c##r##0));          \
  _mm512_storeu_ps(c + (r) * ldc + 16, _mm512_mul_ps(va, c##r##1));
#define SGI_T14_UPDATE(r)                                                                                            \
  _mm512_storeu_ps(c + (r) * ldc, _mm512_fmadd_ps(va, c##r##0, _mm512_mul_ps(vb, _mm512_loadu_ps(c + (r) * ldc))));  \
  _mm512_storeu_ps(c + (r) * ldc + 16, _mm512_fmadd_ps(va, c##r##1, _mm512_mul_ps(vb, _mm512_loadu_ps(c + (r) * ldc + 16))));
#define SGI_T14_END                               \
  {                                               \
    const __m512 va = _mm512_set1_ps(alpha);      \
    if (beta == 0.f) {                            \
      SGI_T14_ROWS(SGI_T14_STORE)                 \
    } else {                                      \
      const __m512 vb = _mm512_set1_ps(beta);     \
      SGI_T14_ROWS(SGI_T14_UPDATE)                \
    }                                             \
  }
