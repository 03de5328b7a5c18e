// AVX-512 GEMM micro-kernel: a 14 x 32 tile of C in 28 zmm accumulators; per k, two aligned
// loads of the packed B row and 14 broadcasts of the packed A column (compiled with -mavx512f).
#include <immintrin.h>
#include "cpu/gemm_internal.h"
#include "cpu/simd_transpose.h"

namespace sgi::cpu::gemm_detail {

namespace {
constexpr int MR = 14, NR = 32;

#define SGI_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)

void tile_14x32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta) {
#define SGI_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
  SGI_ROWS(SGI_DECL)
#undef SGI_DECL
#define SGI_PF(r) _mm_prefetch(reinterpret_cast<const char*>(c + (r) * ldc), _MM_HINT_T0); \
                  _mm_prefetch(reinterpret_cast<const char*>(c + (r) * ldc + 16), _MM_HINT_T0);
  if (beta != 0.f) { SGI_ROWS(SGI_PF) }
#undef SGI_PF
#define SGI_FMA(r)                                   \
  {                                                  \
    const __m512 ar = _mm512_set1_ps(a[r]);          \
    c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);      \
    c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);      \
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
    SGI_ROWS(SGI_FMA)
    a += MR;
    b += NR;
  }
#undef SGI_FMA
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.f) {
#define SGI_STORE(r)                                                   \
  _mm512_storeu_ps(c + (r) * ldc, _mm512_mul_ps(va, c##r##0));         \
  _mm512_storeu_ps(c + (r) * ldc + 16, _mm512_mul_ps(va, c##r##1));
    SGI_ROWS(SGI_STORE)
#undef SGI_STORE
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#define SGI_UPDATE(r)                                                                                          \
  _mm512_storeu_ps(c + (r) * ldc, _mm512_fmadd_ps(va, c##r##0, _mm512_mul_ps(vb, _mm512_loadu_ps(c + (r) * ldc)))); \
  _mm512_storeu_ps(c + (r) * ldc + 16, _mm512_fmadd_ps(va, c##r##1, _mm512_mul_ps(vb, _mm512_loadu_ps(c + (r) * ldc + 16))));
    SGI_ROWS(SGI_UPDATE)
#undef SGI_UPDATE
  }
}
#undef SGI_ROWS

// A panel: 16 depths at a time, 14 rows (+2 zero rows) transposed in registers, 14-lane stores.
void pack_a_14(const float* A, int64_t lda, int rows, int64_t kc, float* dst) {
  for (int64_t k = 0; k < kc; k += 16) {
    const int kn = kc - k < 16 ? int(kc - k) : 16;
    const __mmask16 lm = __mmask16((1u << kn) - 1);
    __m512 r[16];
    for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(lm, A + i * lda + k) : _mm512_setzero_ps();
    transpose16(r);
    for (int j = 0; j < kn; ++j) _mm512_mask_storeu_ps(dst + (k + j) * MR, __mmask16(0x3FFF), r[j]);
  }
}

// B^T panel: two halves of 16 rows of B, 16 depths at a time.
void pack_bt_32(const float* B, int64_t ldb, int cols, int64_t kc, float* dst) {
  for (int64_t k = 0; k < kc; k += 16) {
    const int kn = kc - k < 16 ? int(kc - k) : 16;
    const __mmask16 lm = __mmask16((1u << kn) - 1);
    for (int h = 0; h < 2; ++h) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = h * 16 + i < cols ? _mm512_maskz_loadu_ps(lm, B + (h * 16 + i) * ldb + k) : _mm512_setzero_ps();
      transpose16(r);
      for (int j = 0; j < kn; ++j) _mm512_storeu_ps(dst + (k + j) * NR + h * 16, r[j]);
    }
  }
}

// mc: A block 14*24 x kc in L2; kc 256: the B panel (32 KB) stays in L1 across the A panels.

// Dot products for matrix-vector work (MicroKernel::dots): R rows of B at a time, each B load
// feeding all M rows of a, 16 floats per step with masked tails.
template <int M, int R>
void dots_avx512_t(int64_t K, const float* a, int64_t la, const float* B, int64_t ldb, float* out) {
  __m512 acc[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) acc[i][r] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 b[R];
    for (int r = 0; r < R; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(B + r * ldb + k + 512), _MM_HINT_T0);
      b[r] = _mm512_loadu_ps(B + r * ldb + k);
    }
    for (int i = 0; i < M; ++i) {
      const __m512 ai = _mm512_loadu_ps(a + i * la + k);
      for (int r = 0; r < R; ++r) acc[i][r] = _mm512_fmadd_ps(ai, b[r], acc[i][r]);
    }
  }
  if (k < K) {
    const __mmask16 m = __mmask16((1u << (K - k)) - 1);
    __m512 b[R];
    for (int r = 0; r < R; ++r) b[r] = _mm512_maskz_loadu_ps(m, B + r * ldb + k);
    for (int i = 0; i < M; ++i) {
      const __m512 ai = _mm512_maskz_loadu_ps(m, a + i * la + k);
      for (int r = 0; r < R; ++r) acc[i][r] = _mm512_fmadd_ps(ai, b[r], acc[i][r]);
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) out[i * 4 + r] += _mm512_reduce_add_ps(acc[i][r]);
}

template <int M>
void dots_avx512_m(int64_t K, const float* a, int64_t la, const float* B, int64_t ldb, int rows, float* out) {
  switch (rows) {
    case 4: dots_avx512_t<M, 4>(K, a, la, B, ldb, out); break;
    case 3: dots_avx512_t<M, 3>(K, a, la, B, ldb, out); break;
    case 2: dots_avx512_t<M, 2>(K, a, la, B, ldb, out); break;
    default: dots_avx512_t<M, 1>(K, a, la, B, ldb, out); break;
  }
}

void dots_avx512(int M, int64_t K, const float* a, int64_t la, const float* B, int64_t ldb, int rows, float* out) {
  for (int i = 0; i < 16; ++i) out[i] = 0.f;
  switch (M) {
    case 4: dots_avx512_m<4>(K, a, la, B, ldb, rows, out); break;
    case 3: dots_avx512_m<3>(K, a, la, B, ldb, rows, out); break;
    case 2: dots_avx512_m<2>(K, a, la, B, ldb, rows, out); break;
    default: dots_avx512_m<1>(K, a, la, B, ldb, rows, out); break;
  }
}

const MicroKernel kAvx512 = {"avx512-14x32", MR, NR, MR * 24, 256, 32 * 96, tile_14x32, pack_a_14, pack_bt_32, dots_avx512};
}  // namespace

const MicroKernel* micro_kernel_avx512() { return &kAvx512; }

// The FMA peak of one core with this ISA (see fma_peak_gflops): 12 independent accumulators (two
// FMA pipes x latency 4, plus slack) updated `iters` times from registers only, no memory traffic.
// Returns the flops done; the sum goes to `sink`. The accumulators start at different values: equal
// ones would be merged by the compiler into one chain (12x fewer FMAs than counted).
double fma_peak_avx512(int64_t iters, float* sink) {
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  __m512 c0 = _mm512_set1_ps(0.f), c1 = _mm512_set1_ps(1.f), c2 = _mm512_set1_ps(2.f), c3 = _mm512_set1_ps(3.f), c4 = _mm512_set1_ps(4.f), c5 = _mm512_set1_ps(5.f);
  __m512 c6 = _mm512_set1_ps(6.f), c7 = _mm512_set1_ps(7.f), c8 = _mm512_set1_ps(8.f), c9 = _mm512_set1_ps(9.f), c10 = _mm512_set1_ps(10.f), c11 = _mm512_set1_ps(11.f);
  for (int64_t i = 0; i < iters; ++i) {
    c0 = _mm512_fmadd_ps(c0, a, b); c1 = _mm512_fmadd_ps(c1, a, b); c2 = _mm512_fmadd_ps(c2, a, b); c3 = _mm512_fmadd_ps(c3, a, b);
    c4 = _mm512_fmadd_ps(c4, a, b); c5 = _mm512_fmadd_ps(c5, a, b); c6 = _mm512_fmadd_ps(c6, a, b); c7 = _mm512_fmadd_ps(c7, a, b);
    c8 = _mm512_fmadd_ps(c8, a, b); c9 = _mm512_fmadd_ps(c9, a, b); c10 = _mm512_fmadd_ps(c10, a, b); c11 = _mm512_fmadd_ps(c11, a, b);
  }
  alignas(64) float out[16];
  const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)), _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)), _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11))));
  _mm512_store_ps(out, s);
  float t = 0.f;
  for (float v : out) t += v;
  *sink += t;
  return double(iters) * 12 * 16 * 2;
}


}  // namespace sgi::cpu::gemm_detail
