// AVX2 + FMA GEMM micro-kernel: a 6 x 16 tile of C in 12 ymm accumulators (compiled with
// -mavx2 -mfma).
#include <immintrin.h>
#include "cpu/gemm_internal.h"
#include "cpu/simd_transpose.h"

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

inline __m256i lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// A panel: 8 depths at a time, 6 rows (+2 zero rows) transposed in registers, 6-lane stores.
void pack_a_6(const float* A, int64_t lda, int rows, int64_t kc, float* dst) {
  const __m256i sm = lane_mask(MR);
  for (int64_t k = 0; k < kc; k += 8) {
    const int kn = kc - k < 8 ? int(kc - k) : 8;
    const __m256i lm = lane_mask(kn);
    __m256 r[8];
    for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_maskload_ps(A + i * lda + k, lm) : _mm256_setzero_ps();
    transpose8(r);
    for (int j = 0; j < kn; ++j) _mm256_maskstore_ps(dst + (k + j) * MR, sm, r[j]);
  }
}

// B^T panel: two halves of 8 rows of B, 8 depths at a time.
void pack_bt_16(const float* B, int64_t ldb, int cols, int64_t kc, float* dst) {
  for (int64_t k = 0; k < kc; k += 8) {
    const int kn = kc - k < 8 ? int(kc - k) : 8;
    const __m256i lm = lane_mask(kn);
    for (int h = 0; h < 2; ++h) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i)
        r[i] = h * 8 + i < cols ? _mm256_maskload_ps(B + (h * 8 + i) * ldb + k, lm) : _mm256_setzero_ps();
      transpose8(r);
      for (int j = 0; j < kn; ++j) _mm256_storeu_ps(dst + (k + j) * NR + h * 8, r[j]);
    }
  }
}


// The vector type of gemm_vector_impl.h (matrix-vector dots, FMA-peak probe) for this ISA.
struct Vec {
  using T = __m256;
  static constexpr int W = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T set1(float v) { return _mm256_set1_ps(v); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static T load_tail(const float* p, int n) {
    alignas(32) float t[8] = {};
    for (int i = 0; i < n; ++i) t[i] = p[i];
    return _mm256_load_ps(t);
  }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static float sum(T v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
  }
};
}  // namespace
#include "cpu/gemm_vector_impl.h"
namespace {

const MicroKernel kAvx2 = {"avx2-6x16", MR, NR, MR * 24, 256, 16 * 192, tile_6x16, pack_a_6, pack_bt_16, vector_dots};
}  // namespace

const MicroKernel* micro_kernel_avx2() { return &kAvx2; }

double fma_peak_avx2(int64_t iters, float* sink) { return vector_fma_peak(iters, sink); }



}  // namespace sgi::cpu::gemm_detail
