// AVX-512 GEMM micro-kernel: a 14 x 32 tile of C in 28 zmm accumulators; per k, two aligned
// loads of the packed B row and 14 broadcasts of the packed A column (compiled with -mavx512f).
#include <immintrin.h>
#include "cpu/gemm_internal.h"
#include "cpu/simd_transpose.h"
#include "cpu/tile_14x32.h"

namespace sgi::cpu::gemm_detail {

namespace {
constexpr int MR = 14, NR = 32;

void tile_14x32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta) {
  SGI_T14_BEGIN
#define SGI_FMA(r)                                   \
  {                                                  \
    const __m512 ar = _mm512_set1_ps(a[r]);          \
    c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);      \
    c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);      \
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
    SGI_T14_ROWS(SGI_FMA)
    a += MR;
    b += NR;
  }
#undef SGI_FMA
  SGI_T14_END
}

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

// The vector type of gemm_vector_impl.h (matrix-vector dots, FMA-peak probe) for this ISA.
struct Vec {
  using T = __m512;
  static constexpr int W = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T set1(float v) { return _mm512_set1_ps(v); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static T load_tail(const float* p, int n) { return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), p); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static float sum(T v) { return _mm512_reduce_add_ps(v); }
};
}  // namespace
#include "cpu/gemm_vector_impl.h"
namespace {

// The bf16 pieces live in cpu/gemm_avx512bf16.cc (compiled with -mavx512bf16; use_bf16 checks the CPU).
const MicroKernel kAvx512 = {"avx512-14x32", MR, NR, MR * 24, 256, 32 * 96, tile_14x32, pack_a_14, pack_bt_32, vector_dots,
                             tile_14x32_bf16, to_pairs_avx512bf16};
}  // namespace

const MicroKernel* micro_kernel_avx512() { return &kAvx512; }

double fma_peak_avx512(int64_t iters, float* sink) { return vector_fma_peak(iters, sink); }



}  // namespace sgi::cpu::gemm_detail
