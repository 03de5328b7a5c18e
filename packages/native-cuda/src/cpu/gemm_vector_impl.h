// Matrix-vector dot products (MicroKernel::dots) and the FMA-peak probe (fma_peak_gflops), written
// once over a vector type and compiled per ISA: the TU that includes this (gemm_avx512.cc,
// gemm_avx2.cc) first defines `struct Vec` with
//   using T; static constexpr int W (floats per vector);
//   T zero(); T set1(float); T load(const float*) (unaligned); T fma(T a, T b, T c) (a * b + c);
//   T add(T, T); float sum(T); T load_tail(const float* p, int n) (n < W floats, the rest 0).
// Everything here has internal linkage, so the differently compiled copies never mix. Include it
// after <immintrin.h> and <cstdint>, inside the TU's namespace.

namespace {

// R rows of B at a time, each B load feeding all M rows of a.
template <int M, int R>
void dots_rows(int64_t K, const float* a, int64_t la, const float* B, int64_t ldb, float* out) {
  typename Vec::T acc[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) acc[i][r] = Vec::zero();
  int64_t k = 0;
  for (; k + Vec::W <= K; k += Vec::W) {
    typename Vec::T b[R];
    for (int r = 0; r < R; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(B + r * ldb + k + 512), _MM_HINT_T0);
      b[r] = Vec::load(B + r * ldb + k);
    }
    for (int i = 0; i < M; ++i) {
      const typename Vec::T ai = Vec::load(a + i * la + k);
      for (int r = 0; r < R; ++r) acc[i][r] = Vec::fma(ai, b[r], acc[i][r]);
    }
  }
  if (k < K) {
    const int n = int(K - k);
    typename Vec::T b[R];
    for (int r = 0; r < R; ++r) b[r] = Vec::load_tail(B + r * ldb + k, n);
    for (int i = 0; i < M; ++i) {
      const typename Vec::T ai = Vec::load_tail(a + i * la + k, n);
      for (int r = 0; r < R; ++r) acc[i][r] = Vec::fma(ai, b[r], acc[i][r]);
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) out[i * 4 + r] = Vec::sum(acc[i][r]);
}

template <int M>
void dots_m(int64_t K, const float* a, int64_t la, const float* B, int64_t ldb, int rows, float* out) {
  switch (rows) {
    case 4: dots_rows<M, 4>(K, a, la, B, ldb, out); break;
    case 3: dots_rows<M, 3>(K, a, la, B, ldb, out); break;
    case 2: dots_rows<M, 2>(K, a, la, B, ldb, out); break;
    default: dots_rows<M, 1>(K, a, la, B, ldb, out); break;
  }
}

// MicroKernel::dots: the M <= 4 rows of a against `rows` <= 4 consecutive rows of B, into out[i*4 + r].
void vector_dots(int M, int64_t K, const float* a, int64_t la, const float* B, int64_t ldb, int rows, float* out) {
  switch (M) {
    case 4: dots_m<4>(K, a, la, B, ldb, rows, out); break;
    case 3: dots_m<3>(K, a, la, B, ldb, rows, out); break;
    case 2: dots_m<2>(K, a, la, B, ldb, rows, out); break;
    default: dots_m<1>(K, a, la, B, ldb, rows, out); break;
  }
}

// The FMA peak of one core (see fma_peak_gflops): 12 independent accumulators (two FMA pipes x
// latency 4, plus slack) updated `iters` times from registers only, no memory traffic. Returns the
// flops done; the sum goes to `sink`. The accumulators start at different values: equal ones would
// be merged by the compiler into one chain (12x fewer FMAs than counted).
double vector_fma_peak(int64_t iters, float* sink) {
  const typename Vec::T a = Vec::set1(0.999999f), b = Vec::set1(1e-7f);
  typename Vec::T c0 = Vec::set1(0.f), c1 = Vec::set1(1.f), c2 = Vec::set1(2.f), c3 = Vec::set1(3.f), c4 = Vec::set1(4.f), c5 = Vec::set1(5.f);
  typename Vec::T c6 = Vec::set1(6.f), c7 = Vec::set1(7.f), c8 = Vec::set1(8.f), c9 = Vec::set1(9.f), c10 = Vec::set1(10.f), c11 = Vec::set1(11.f);
  for (int64_t i = 0; i < iters; ++i) {
    c0 = Vec::fma(c0, a, b); c1 = Vec::fma(c1, a, b); c2 = Vec::fma(c2, a, b); c3 = Vec::fma(c3, a, b);
    c4 = Vec::fma(c4, a, b); c5 = Vec::fma(c5, a, b); c6 = Vec::fma(c6, a, b); c7 = Vec::fma(c7, a, b);
    c8 = Vec::fma(c8, a, b); c9 = Vec::fma(c9, a, b); c10 = Vec::fma(c10, a, b); c11 = Vec::fma(c11, a, b);
  }
  const typename Vec::T s = Vec::add(Vec::add(Vec::add(Vec::add(c0, c1), Vec::add(c2, c3)), Vec::add(Vec::add(c4, c5), Vec::add(c6, c7))),
                                     Vec::add(Vec::add(c8, c9), Vec::add(c10, c11)));
  *sink += Vec::sum(s);
  return double(iters) * 12 * Vec::W * 2;
}

}  // namespace
