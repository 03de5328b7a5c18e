// CPU GEMM (see common/kernels/gemm.h and cpu/gemm_internal.h): a BLIS-style blocked driver
// over packed A/B panels; the micro-kernel is chosen at run time (gemm_avx512.cc, gemm_avx2.cc,
// or the portable one here). Threads split C into column (or row) ranges, each thread packing
// its own panels into thread-local buffers, so there is no synchronisation inside a GEMM.
#include <algorithm>
#include <atomic>
#include <cstring>
#include "common/cpu_features.h"
#include "common/kernels/gemm.h"
#include "common/parallel.h"
#include "cpu/gemm_internal.h"

namespace sgi::cpu {
namespace gemm_detail {

namespace {
constexpr int kGenericMR = 4, kGenericNR = 8;
constexpr int kMaxTile = 16 * 32;  // largest MR*NR of any kernel

// Portable 4x8 micro-kernel (SSE2 at -O3: eight 4-wide accumulators).
void tile_generic(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta) {
  float acc[kGenericMR][kGenericNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < kGenericMR; ++r) {
      const float ar = a[r];
      for (int j = 0; j < kGenericNR; ++j) acc[r][j] += ar * b[j];
    }
    a += kGenericMR;
    b += kGenericNR;
  }
  for (int r = 0; r < kGenericMR; ++r) {
    float* cr = c + r * ldc;
    if (beta == 0.f) for (int j = 0; j < kGenericNR; ++j) cr[j] = alpha * acc[r][j];
    else for (int j = 0; j < kGenericNR; ++j) cr[j] = alpha * acc[r][j] + beta * cr[j];
  }
}

const MicroKernel kGeneric = {"generic-4x8", kGenericMR, kGenericNR, 128, 256, 2048, tile_generic, nullptr, nullptr, nullptr};

thread_local Workspace tl_pack_a, tl_pack_b, tl_pairs_a, tl_pairs_b;
std::atomic<int> g_precision{int(Precision::Float32)};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// C (m x n) = alpha * tile + beta * C for a partial tile computed into tmp (row stride nr).
void merge_tile(const float* tmp, int nr, float* c, int64_t ldc, int m, int n, float alpha, float beta) {
  for (int r = 0; r < m; ++r) {
    float* cr = c + r * ldc;
    const float* tr = tmp + r * nr;
    if (beta == 0.f) for (int j = 0; j < n; ++j) cr[j] = alpha * tr[j];
    else for (int j = 0; j < n; ++j) cr[j] = alpha * tr[j] + beta * cr[j];
  }
}

void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* cr = C + i * ldc;
    if (beta == 0.f) std::memset(cr, 0, size_t(N) * sizeof(float));
    else for (int64_t j = 0; j < N; ++j) cr[j] *= beta;
  }
}

// One thread's share: rows [m0, m1) x cols [n0, n1) of C over the depth range [k0, k1).
void run_block(const MicroKernel& uk, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t k0, int64_t k1, float alpha,
               const PackA& pa, const PackB& pb, float beta, float* C, int64_t ldc) {
  const int MR = uk.mr, NR = uk.nr;
  const int64_t K = k1 - k0;
  // Even K blocks (a last block of a few k wastes the tile's load/store overhead).
  const int64_t kblocks = ceil_div(K, uk.kc);
  const int64_t KC = ceil_div(K, kblocks);
  const int64_t MC = std::max<int64_t>(MR, (uk.mc / MR) * MR);
  const int64_t NC = std::max<int64_t>(NR, (uk.nc / NR) * NR);
  float* bufA = tl_pack_a.get(size_t(MC) * size_t(KC));
  const size_t b_size = size_t(std::min<int64_t>(NC, ceil_div(n1 - n0, NR) * NR)) * size_t(KC);
  float* bufB = tl_pack_b.get(b_size);
  // bf16: the packed panels are converted to pairs (half the depth) for the bf16 tile
  const bool bf16 = use_bf16(uk);
  uint32_t* pairsA = bf16 ? reinterpret_cast<uint32_t*>(tl_pairs_a.get(size_t(MC) * size_t(KC / 2 + 1))) : nullptr;
  uint32_t* pairsB = bf16 ? reinterpret_cast<uint32_t*>(tl_pairs_b.get(b_size / size_t(KC) * size_t(KC / 2 + 1))) : nullptr;
  alignas(64) float tmp[kMaxTile];
  for (int64_t jc = n0; jc < n1; jc += NC) {
    const int64_t nc = std::min(NC, n1 - jc);
    for (int64_t pc = k0; pc < k1; pc += KC) {
      const int64_t kc = std::min(KC, k1 - pc);
      const int64_t kc2 = (kc + 1) / 2;
      pb.pack(pc, kc, jc, nc, NR, bufB);
      if (bf16)
        for (int64_t jr = 0; jr < nc; jr += NR) uk.to_pairs(bufB + jr * kc, kc, NR, pairsB + jr * kc2);
      const float beta_k = pc == k0 ? beta : 1.f;
      for (int64_t ic = m0; ic < m1; ic += MC) {
        const int64_t mc = std::min(MC, m1 - ic);
        pa.pack(ic, mc, pc, kc, MR, bufA);
        if (bf16)
          for (int64_t ir = 0; ir < mc; ir += MR) uk.to_pairs(bufA + ir * kc, kc, MR, pairsA + ir * kc2);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int n = int(std::min<int64_t>(NR, nc - jr));
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int m = int(std::min<int64_t>(MR, mc - ir));
            float* c = C + (ic + ir) * ldc + jc + jr;
            const bool full = m == MR && n == NR;
            float* dst = full ? c : tmp;
            const int64_t ld = full ? ldc : NR;
            if (bf16) uk.tile_bf16(kc2, pairsA + ir * kc2, pairsB + jr * kc2, dst, ld, full ? alpha : 1.f, full ? beta_k : 0.f);
            else uk.tile(kc, bufA + ir * kc, bufB + jr * kc, dst, ld, full ? alpha : 1.f, full ? beta_k : 0.f);
            if (!full) merge_tile(tmp, NR, c, ldc, m, n, alpha, beta_k);
          }
        }
      }
    }
  }
}
}  // namespace

const MicroKernel& micro_kernel_generic() { return kGeneric; }

void gemm_set_precision(Precision p) { g_precision.store(int(p)); }
Precision gemm_precision() { return Precision(g_precision.load()); }
namespace {
// The kernel has a bf16 tile and the CPU can run it.
bool bf16_capable(const MicroKernel& uk) { return uk.tile_bf16 && cpu_features().avx512bf16; }
}  // namespace
bool use_bf16(const MicroKernel& uk) { return gemm_precision() == Precision::BFloat16 && bf16_capable(uk); }

const MicroKernel& micro_kernel() {
  static const MicroKernel* k = [] {
    const char* isa = cpu_isa();
    const MicroKernel* r = nullptr;
    if (std::strcmp(isa, "avx512") == 0) r = micro_kernel_avx512();
    if (!r && (std::strcmp(isa, "avx512") == 0 || std::strcmp(isa, "avx2") == 0)) r = micro_kernel_avx2();
    return r ? r : &kGeneric;
  }();
  return *k;
}

void MatrixPackA::pack(int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr, float* dst) const {
  const MicroKernel& uk = micro_kernel();
  if (!trans_ && uk.pack_a && uk.mr == mr) {
    for (int64_t p = 0; p < mc; p += mr)
      uk.pack_a(A_ + (i0 + p) * lda_ + k0, lda_, int(std::min<int64_t>(mr, mc - p)), kc, dst + p * kc);
    return;
  }
  for (int64_t p = 0; p < mc; p += mr) {
    const int rows = int(std::min<int64_t>(mr, mc - p));
    float* d = dst + p * kc;
    if (trans_) {
      // A stored K x M: row k holds the mr values of this panel contiguously.
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = A_ + (k0 + k) * lda_ + i0 + p;
        float* dk = d + k * mr;
        int r = 0;
        for (; r < rows; ++r) dk[r] = s[r];
        for (; r < mr; ++r) dk[r] = 0.f;
      }
    } else {
      for (int r = 0; r < rows; ++r) {
        const float* s = A_ + (i0 + p + r) * lda_ + k0;
        for (int64_t k = 0; k < kc; ++k) d[k * mr + r] = s[k];
      }
      for (int r = rows; r < mr; ++r)
        for (int64_t k = 0; k < kc; ++k) d[k * mr + r] = 0.f;
    }
  }
}

namespace {
// Full panels of a non-transposed B with a compile-time width (inlined vector copies).
template <int NR>
void pack_rows(const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t full_panels, float* dst) {
  for (int64_t q = 0; q < full_panels; ++q) {
    float* d = dst + q * NR * kc;
    const float* s = B + k0 * ldb + j0 + q * NR;
    for (int64_t k = 0; k < kc; ++k) std::memcpy(d + k * NR, s + k * ldb, NR * sizeof(float));
  }
}
}  // namespace

void MatrixPackB::pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) const {
  const MicroKernel& uk = micro_kernel();
  if (trans_ && uk.pack_bt && uk.nr == nr) {
    for (int64_t q = 0; q < nc; q += nr)
      uk.pack_bt(B_ + (j0 + q) * ldb_ + k0, ldb_, int(std::min<int64_t>(nr, nc - q)), kc, dst + q * kc);
    return;
  }
  int64_t first = 0;
  if (!trans_) {
    const int64_t full = nc / nr;
    if (nr == 32) { pack_rows<32>(B_, ldb_, k0, kc, j0, full, dst); first = full * nr; }
    else if (nr == 16) { pack_rows<16>(B_, ldb_, k0, kc, j0, full, dst); first = full * nr; }
    else if (nr == 8) { pack_rows<8>(B_, ldb_, k0, kc, j0, full, dst); first = full * nr; }
  }
  for (int64_t q = first; q < nc; q += nr) {
    const int cols = int(std::min<int64_t>(nr, nc - q));
    float* d = dst + q * kc;
    if (!trans_) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = B_ + (k0 + k) * ldb_ + j0 + q;
        float* dk = d + k * nr;
        if (cols == nr) { std::memcpy(dk, s, size_t(nr) * sizeof(float)); continue; }
        int c = 0;
        for (; c < cols; ++c) dk[c] = s[c];
        for (; c < nr; ++c) dk[c] = 0.f;
      }
    } else {
      // B stored N x K: gather column c of the panel from row j0+q+c, in blocks of 8 k for locality.
      for (int64_t kb = 0; kb < kc; kb += 8) {
        const int64_t ke = std::min<int64_t>(kc, kb + 8);
        for (int c = 0; c < cols; ++c) {
          const float* s = B_ + (j0 + q + c) * ldb_ + k0;
          for (int64_t k = kb; k < ke; ++k) d[k * nr + c] = s[k];
        }
        for (int c = cols; c < nr; ++c)
          for (int64_t k = kb; k < ke; ++k) d[k * nr + c] = 0.f;
      }
    }
  }
}

void gemm_packed(const MicroKernel& uk, int64_t M, int64_t N, int64_t K, float alpha, const PackA& a, const PackB& b,
                 float beta, float* C, int64_t ldc, bool serial) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.f) {
    parallel_for(M, std::max<int64_t>(1, 65536 / N), [&](int64_t b0, int64_t b1) { scale_c(b1 - b0, N, beta, C + b0 * ldc, ldc); });
    return;
  }
  const int threads = (serial || omp_in_parallel()) ? 1 : num_threads();
  const double work = double(M) * double(N) * double(K);
  if (threads <= 1 || work < 2.5e5) {
    run_block(uk, 0, M, 0, N, 0, K, alpha, a, b, beta, C, ldc);
    return;
  }
  // Split the columns (each thread packs all of A), the rows (each packs all of B) or the depth
  // (each sums a partial C, added up at the end), whichever costs least: padded tile work of the
  // largest share plus the redundant packing (plus the reduction for a depth split).
  const int64_t pn = ceil_div(N, uk.nr), pm = ceil_div(M, uk.mr);
  const double T = threads;
  const double pack_cost = 6.0;  // one packed element ~ this many multiply-adds
  const double tiles_m = double(pm * uk.mr), tiles_n = double(pn * uk.nr);
  const double cost_n = double(ceil_div(pn, threads) * uk.nr) * tiles_m * double(K) + pack_cost * (double(M) * K + double(N) * K / T);
  const double cost_m = double(ceil_div(pm, threads) * uk.mr) * tiles_n * double(K) + pack_cost * (double(N) * K + double(M) * K / T);
  const double cost_k = tiles_m * tiles_n * double(ceil_div(K, threads)) + pack_cost * (double(M) + double(N)) * K / T +
                        4.0 * pack_cost * double(M) * double(N) * T;
  if (cost_k < cost_n && cost_k < cost_m && K >= 2 * threads) {
    // Thread 0 accumulates into C; the others into private partial sums, added at the end.
    thread_local Workspace partial_ws;
    float* partial = partial_ws.get(size_t(threads - 1) * size_t(M) * size_t(N));
    int used = 1;
#pragma omp parallel num_threads(threads)
    {
      const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
      used = int(nt);
      const int64_t kb = K * t / nt, ke = K * (t + 1) / nt;
      if (t == 0) run_block(uk, 0, M, 0, N, kb, ke, alpha, a, b, beta, C, ldc);
      else if (kb < ke) run_block(uk, 0, M, 0, N, kb, ke, alpha, a, b, 0.f, partial + (t - 1) * M * N, N);
      else scale_c(M, N, 0.f, partial + (t - 1) * M * N, N);
    }
    parallel_for(M, std::max<int64_t>(1, 16384 / N), [&](int64_t r0, int64_t r1) {
      for (int t = 1; t < used; ++t)
        for (int64_t i = r0; i < r1; ++i) {
          const float* s = partial + (t - 1) * M * N + i * N;
          float* c = C + i * ldc;
          for (int64_t j = 0; j < N; ++j) c[j] += s[j];
        }
    });
  } else if (cost_n <= cost_m) {
    parallel_for(pn, 1, [&](int64_t b0, int64_t b1) {
      run_block(uk, 0, M, b0 * uk.nr, std::min(N, b1 * uk.nr), 0, K, alpha, a, b, beta, C, ldc);
    });
  } else {
    parallel_for(pm, 1, [&](int64_t b0, int64_t b1) {
      run_block(uk, b0 * uk.mr, std::min(M, b1 * uk.mr), 0, N, 0, K, alpha, a, b, beta, C, ldc);
    });
  }
}

}  // namespace gemm_detail

namespace {
using namespace gemm_detail;

// Few rows (M <= 4): the work is a handful of matrix-vector products and memory bound; reading B
// once beats packing it.
constexpr int64_t kSmallM = 4;

void small_m_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  // Rows of op(A), contiguous.
  thread_local Workspace ws;
  const float* a = A;
  int64_t la = lda;
  if (trans_a) {
    float* t = ws.get(size_t(M * K));
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) t[i * K + k] = A[k * lda + i];
    a = t;
    la = K;
  }
  auto finish = [&](float* c, float v) { *c = beta == 0.f ? alpha * v : alpha * v + beta * *c; };
  if (trans_b) {
    // C[i][j] = dot(a_i, B_j): B rows are contiguous.
    const MicroKernel& uk = micro_kernel();
    if (uk.dots) {
      // groups of 4 rows of B per call, the threads on disjoint groups
      parallel_for(ceil_div(N, 4), std::max<int64_t>(1, 8192 / std::max<int64_t>(K, 1)), [&](int64_t g0, int64_t g1) {
        float d[16];
        for (int64_t g = g0; g < g1; ++g) {
          const int64_t j = 4 * g;
          const int rows = int(std::min<int64_t>(4, N - j));
          uk.dots(int(M), K, a, la, B + j * ldb, ldb, rows, d);
          for (int64_t i = 0; i < M; ++i)
            for (int r = 0; r < rows; ++r) finish(C + i * ldc + j + r, d[i * 4 + r]);
        }
      });
      return;
    }
    parallel_for(N, std::max<int64_t>(1, 32768 / std::max<int64_t>(K, 1)), [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const float* bj = B + j * ldb;
        for (int64_t i = 0; i < M; ++i) {
          const float* ai = a + i * la;
          float s[8] = {};
          int64_t k = 0;
          for (; k + 8 <= K; k += 8)
            for (int l = 0; l < 8; ++l) s[l] += ai[k + l] * bj[k + l];
          float v = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
          for (; k < K; ++k) v += ai[k] * bj[k];
          finish(C + i * ldc + j, v);
        }
      }
    });
  } else {
    // C[i][jblock] = sum_k a_ik * B[k][jblock]: B rows streamed once.
    constexpr int64_t JB = 256;
    parallel_for(ceil_div(N, JB), std::max<int64_t>(1, 8192 / std::max<int64_t>(K, 1)), [&](int64_t b0, int64_t b1) {
      alignas(64) float acc[kSmallM][JB];
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t j0 = blk * JB, n = std::min(JB, N - j0);
        for (int64_t i = 0; i < M; ++i) std::memset(acc[i], 0, sizeof(float) * size_t(n));
        for (int64_t k = 0; k < K; ++k) {
          const float* bk = B + k * ldb + j0;
          for (int64_t i = 0; i < M; ++i) {
            const float aik = a[i * la + k];
            float* ai = acc[i];
            for (int64_t j = 0; j < n; ++j) ai[j] += aik * bk[j];
          }
        }
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < n; ++j) finish(C + i * ldc + j0 + j, acc[i][j]);
      }
    });
  }
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (M <= kSmallM && K > 0 && alpha != 0.f) {
    small_m_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  MatrixPackA pa(A, lda, trans_a);
  MatrixPackB pb(B, ldb, trans_b);
  gemm_packed(micro_kernel(), M, N, K, alpha, pa, pb, beta, C, ldc);
}

void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
                  int64_t stride_c, int64_t count) {
  if (count <= 0) return;
  const double work = double(M) * double(N) * double(K);
  if (count >= num_threads() && work < 4e6) {
    // Many small GEMMs: one per thread at a time.
    parallel_for(count, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i)
        gemm(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta, C + i * stride_c, ldc);
    });
  } else {
    for (int64_t i = 0; i < count; ++i)
      gemm(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta, C + i * stride_c, ldc);
  }
}

void add_bias_rows(int64_t M, int64_t N, const float* bias, float* C) {
  parallel_for(M, std::max<int64_t>(1, 65536 / std::max<int64_t>(N, 1)), [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i) {
      float* c = C + i * N;
      for (int64_t j = 0; j < N; ++j) c[j] += bias[j];
    }
  });
}

void sum_rows(int64_t M, int64_t N, const float* g, float* gb) {
  // Column blocks per thread; rows accumulated in order (deterministic).
  constexpr int64_t JB = 512;
  const int64_t blocks = (N + JB - 1) / JB;
  parallel_for(blocks, std::max<int64_t>(1, 65536 / std::max<int64_t>(M * JB, 1)), [&](int64_t b0, int64_t b1) {
    double acc[JB];
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t j0 = blk * JB, n = std::min(JB, N - j0);
      for (int64_t j = 0; j < n; ++j) acc[j] = 0.0;
      for (int64_t i = 0; i < M; ++i) {
        const float* r = g + i * N + j0;
        for (int64_t j = 0; j < n; ++j) acc[j] += r[j];
      }
      for (int64_t j = 0; j < n; ++j) gb[j0 + j] = float(acc[j]);
    }
  });
}

const char* gemm_kernel_name() { return micro_kernel().name; }

bool bf16_supported() { return bf16_capable(micro_kernel()); }
bool set_bf16(bool on) {
  if (on && !bf16_supported()) return false;
  gemm_set_precision(on ? Precision::BFloat16 : Precision::Float32);
  return true;
}
bool bf16_enabled() { return use_bf16(micro_kernel()); }

double fma_peak_gflops(double seconds) {
  const char* isa = cpu_isa();
  const bool avx512 = std::strcmp(isa, "avx512") == 0, avx2 = std::strcmp(isa, "avx2") == 0;
  if (!avx512 && !avx2) return 0.0;  // no FMA vector path: no meaningful peak
  const auto run = [&](int64_t iters, float* sink) { return avx512 ? gemm_detail::fma_peak_avx512(iters, sink) : gemm_detail::fma_peak_avx2(iters, sink); };
  // calibrate on one thread (also wakes the core up), then every thread for about `seconds`
  float sink = 0.f;
  int64_t iters = 1 << 16;
  for (;;) {
    const double t0 = omp_get_wtime();
    run(iters, &sink);
    const double dt = omp_get_wtime() - t0;
    if (dt > 0.02 || iters > (int64_t(1) << 34)) { iters = std::max<int64_t>(1, int64_t(double(iters) * seconds / std::max(dt, 1e-9))); break; }
    iters *= 4;
  }
  const int threads = num_threads();
  double flops = 0.0;
  const double t0 = omp_get_wtime();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
  {
    float s = 0.f;  // the kernels live in other files: their work cannot be optimised away
    flops += run(iters, &s);
  }
  return flops / (omp_get_wtime() - t0) / 1e9;
}

}  // namespace sgi::cpu
