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

inline float hsum256(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// Dot products for matrix-vector work (MicroKernel::dots): R rows of B at a time, each B load
// feeding all M rows of a, 8 floats per step with scalar tails.
template <int M, int R>
void dots_avx2_t(int64_t K, const float* a, int64_t la, const float* B, int64_t ldb, float* out) {
  __m256 acc[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) acc[i][r] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 b[R];
    for (int r = 0; r < R; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(B + r * ldb + k + 512), _MM_HINT_T0);
      b[r] = _mm256_loadu_ps(B + r * ldb + k);
    }
    for (int i = 0; i < M; ++i) {
      const __m256 ai = _mm256_loadu_ps(a + i * la + k);
      for (int r = 0; r < R; ++r) acc[i][r] = _mm256_fmadd_ps(ai, b[r], acc[i][r]);
    }
  }
  for (; k < K; ++k)
    for (int i = 0; i < M; ++i)
      for (int r = 0; r < R; ++r) out[i * 4 + r] += a[i * la + k] * B[r * ldb + k];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) out[i * 4 + r] += hsum256(acc[i][r]);
}

template <int M>
void dots_avx2_m(int64_t K, const float* a, int64_t la, const float* B, int64_t ldb, int rows, float* out) {
  switch (rows) {
    case 4: dots_avx2_t<M, 4>(K, a, la, B, ldb, out); break;
    case 3: dots_avx2_t<M, 3>(K, a, la, B, ldb, out); break;
    case 2: dots_avx2_t<M, 2>(K, a, la, B, ldb, out); break;
    default: dots_avx2_t<M, 1>(K, a, la, B, ldb, out); break;
  }
}

void dots_avx2(int M, int64_t K, const float* a, int64_t la, const float* B, int64_t ldb, int rows, float* out) {
  for (int i = 0; i < 16; ++i) out[i] = 0.f;
  switch (M) {
    case 4: dots_avx2_m<4>(K, a, la, B, ldb, rows, out); break;
    case 3: dots_avx2_m<3>(K, a, la, B, ldb, rows, out); break;
    case 2: dots_avx2_m<2>(K, a, la, B, ldb, rows, out); break;
    default: dots_avx2_m<1>(K, a, la, B, ldb, rows, out); break;
  }
}
const MicroKernel kAvx2 = {"avx2-6x16", MR, NR, MR * 24, 256, 16 * 192, tile_6x16, pack_a_6, pack_bt_16, dots_avx2};
}  // namespace

const MicroKernel* micro_kernel_avx2() { return &kAvx2; }

// The FMA peak of one core with this ISA (see fma_peak_gflops): 12 independent accumulators (two
// FMA pipes x latency 4, plus slack) updated `iters` times from registers only, no memory traffic.
// Returns the flops done; the sum goes to `sink`. The accumulators start at different values: equal
// ones would be merged by the compiler into one chain (12x fewer FMAs than counted).
double fma_peak_avx2(int64_t iters, float* sink) {
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  __m256 c0 = _mm256_set1_ps(0.f), c1 = _mm256_set1_ps(1.f), c2 = _mm256_set1_ps(2.f), c3 = _mm256_set1_ps(3.f), c4 = _mm256_set1_ps(4.f), c5 = _mm256_set1_ps(5.f);
  __m256 c6 = _mm256_set1_ps(6.f), c7 = _mm256_set1_ps(7.f), c8 = _mm256_set1_ps(8.f), c9 = _mm256_set1_ps(9.f), c10 = _mm256_set1_ps(10.f), c11 = _mm256_set1_ps(11.f);
  for (int64_t i = 0; i < iters; ++i) {
    c0 = _mm256_fmadd_ps(c0, a, b); c1 = _mm256_fmadd_ps(c1, a, b); c2 = _mm256_fmadd_ps(c2, a, b); c3 = _mm256_fmadd_ps(c3, a, b);
    c4 = _mm256_fmadd_ps(c4, a, b); c5 = _mm256_fmadd_ps(c5, a, b); c6 = _mm256_fmadd_ps(c6, a, b); c7 = _mm256_fmadd_ps(c7, a, b);
    c8 = _mm256_fmadd_ps(c8, a, b); c9 = _mm256_fmadd_ps(c9, a, b); c10 = _mm256_fmadd_ps(c10, a, b); c11 = _mm256_fmadd_ps(c11, a, b);
  }
  alignas(64) float out[8];
  const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)), _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)), _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11))));
  _mm256_store_ps(out, s);
  float t = 0.f;
  for (float v : out) t += v;
  *sink += t;
  return double(iters) * 12 * 8 * 2;
}


}  // namespace sgi::cpu::gemm_detail
