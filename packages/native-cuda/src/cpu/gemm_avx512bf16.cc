// The bf16 GEMM path of the AVX-512 kernel (precision bf16, cpu/gemm_internal.h): the 14 x 32 tile
// from bf16 pairs with vdpbf16ps (two products per float32 lane and instruction: twice the
// multiply-adds of vfmadd231ps), and the conversion of packed float32 panels into those pairs.
// Compiled with -mavx512bf16; called only where the CPU reports AVX-512 BF16.
#include <immintrin.h>
#include "cpu/gemm_internal.h"
#include "cpu/tile_14x32.h"

namespace sgi::cpu::gemm_detail {

namespace {
constexpr int MR = 14, NR = 32;
inline __m512bh as_bh(__m512i v) { return reinterpret_cast<__m512bh&>(v); }
}  // namespace

void tile_14x32_bf16(int64_t kc2, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, float alpha, float beta) {
  SGI_T14_BEGIN
#define SGI_DOT(r)                                                        \
  {                                                                       \
    const __m512bh ar = as_bh(_mm512_set1_epi32(int(a[r])));              \
    c##r##0 = _mm512_dpbf16_ps(c##r##0, ar, b0);                          \
    c##r##1 = _mm512_dpbf16_ps(c##r##1, ar, b1);                          \
  }
  for (int64_t k = 0; k < kc2; ++k) {
    const __m512bh b0 = as_bh(_mm512_loadu_si512(b)), b1 = as_bh(_mm512_loadu_si512(b + 16));
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
    SGI_T14_ROWS(SGI_DOT)
    a += MR;
    b += NR;
  }
#undef SGI_DOT
  SGI_T14_END
}

// Rows 2k and 2k+1 of the panel, 16 lanes at a time: both rounded to bf16 in one vcvtne2ps2bf16
// (nearest even; row 2k in the low 16 halves), then interleaved so lane i holds (row 2k, row 2k+1).
void to_pairs_avx512bf16(const float* panel, int64_t kc, int width, uint32_t* dst) {
  alignas(64) static constexpr short kInterleave[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                                       8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i order = _mm512_load_si512(kInterleave);
  for (int64_t k = 0; k < kc; k += 2) {
    const float* r0 = panel + k * width;
    const float* r1 = r0 + width;
    const bool odd = k + 1 == kc;
    for (int i = 0; i < width; i += 16) {
      const int n = width - i < 16 ? width - i : 16;
      const __mmask16 m = __mmask16((1u << n) - 1);
      const __m512 lo = _mm512_maskz_loadu_ps(m, r0 + i);
      const __m512 hi = odd ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, r1 + i);
      const __m512bh both = _mm512_cvtne2ps_pbh(hi, lo);
      const __m512i pairs = _mm512_permutexvar_epi16(order, reinterpret_cast<const __m512i&>(both));
      _mm512_mask_storeu_epi32(dst + (k / 2) * width + i, m, pairs);
    }
  }
}

}  // namespace sgi::cpu::gemm_detail
