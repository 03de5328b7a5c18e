// Internals of the CPU GEMM shared by cpu/gemm*.cc and cpu/conv2d*.cc (not part of the kernel
// interface): the micro-kernel table of each ISA, the packing interfaces and the blocked driver.
//
// Packed layouts (BLIS style):
//   A block (rows i0..i0+mc, depth k0..k0+kc) -> panels of MR rows, panel p at dst + p*MR*kc,
//     element (r, k) at [k*MR + r]; rows past mc are zero.
//   B block (depth k0..k0+kc, cols j0..j0+nc) -> panels of NR columns, panel q at dst + q*NR*kc,
//     element (k, c) at [k*NR + c]; columns past nc are zero.
// Convolutions supply packers that read the image directly (implicit im2col), so the driver never
// needs the full im2col matrix.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace sgi::cpu::gemm_detail {

class PackA {
 public:
  virtual ~PackA() = default;
  virtual void pack(int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr, float* dst) const = 0;
};
class PackB {
 public:
  virtual ~PackB() = default;
  virtual void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) const = 0;
};

struct MicroKernel {
  const char* name;
  int mr, nr;
  int mc, kc, nc;  // cache blocking: A block mc x kc (L2), B block kc x nc, B panel kc x nr (L1)
  // Full MR x NR tile: C[r*ldc + c] = alpha * sum_k a[k*MR + r] * b[k*NR + c] + beta * C[r*ldc + c]
  // (beta == 0: C is not read). a and b are packed panels; b is 64-byte aligned.
  void (*tile)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta);
  // Optional vectorised packing of plain row-major panels (null: the portable loops):
  // A panel: rows [0, rows) of A (row stride lda), depth [0, kc) -> dst[k*MR + r] (rows past `rows` zero);
  // B^T panel: rows [0, cols) of B stored N x K (row stride ldb) -> dst[k*NR + c] (cols past `cols` zero).
  void (*pack_a)(const float* A, int64_t lda, int rows, int64_t kc, float* dst);
  void (*pack_bt)(const float* B, int64_t ldb, int cols, int64_t kc, float* dst);
  // Optional, for matrix-vector work (M <= 4 rows of A, B stored N x K): the dot products of the
  // M rows of a (row stride la) with `rows` <= 4 consecutive rows of B (row stride ldb), length K,
  // into out[i*4 + r]. Memory bound: B is streamed once, each load used by all M rows.
  void (*dots)(int M, int64_t K, const float* a, int64_t la, const float* B, int64_t ldb, int rows, float* out);
  // Optional bf16 path (precision bf16, AVX-512 BF16): the same tile from bf16 pairs, each 32-bit
  // element holding the values at depths 2k (low half) and 2k+1 (high half), rounded to nearest
  // even: a [kc2][MR], b [kc2][NR]; products are summed in float32.
  void (*tile_bf16)(int64_t kc2, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, float alpha, float beta);
  // Float32 panel [kc][width] (width MR or NR) -> pairs [ceil(kc/2)][width] (an odd last depth pairs with 0).
  void (*to_pairs)(const float* panel, int64_t kc, int width, uint32_t* dst);
};

// The precision of the CPU GEMMs (process-wide, default float32). Bf16 rounds both operands of
// every product to bfloat16 (8-bit mantissa) and accumulates in float32: about twice the
// multiply-add rate where the CPU has AVX-512 BF16, for inference that tolerates ~1e-2 relative error.
enum class Precision : int { Float32 = 0, BFloat16 = 1 };
void gemm_set_precision(Precision p);
Precision gemm_precision();
// True when GEMMs on this kernel run in bf16 now (bf16 requested and the kernel has the path).
bool use_bf16(const MicroKernel& uk);
// The bf16 pieces for the AVX-512 kernel (cpu/gemm_avx512bf16.cc).
void tile_14x32_bf16(int64_t kc2, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, float alpha, float beta);
void to_pairs_avx512bf16(const float* panel, int64_t kc, int width, uint32_t* dst);
const MicroKernel* micro_kernel_avx512();  // cpu/gemm_avx512.cc
const MicroKernel* micro_kernel_avx2();    // cpu/gemm_avx2.cc
double fma_peak_avx512(int64_t iters, float* sink);  // cpu/gemm_avx512.cc
double fma_peak_avx2(int64_t iters, float* sink);    // cpu/gemm_avx2.cc
const MicroKernel& micro_kernel_generic();
// The kernel for the CPU found at run time (SGI_ISA may force a lower one).
const MicroKernel& micro_kernel();

// C[M x N] (row stride ldc) = alpha * opA * opB + beta * C with the given packers. Uses every
// thread unless `serial` or already inside a parallel region.
void gemm_packed(const MicroKernel& uk, int64_t M, int64_t N, int64_t K, float alpha, const PackA& a, const PackB& b,
                 float beta, float* C, int64_t ldc, bool serial = false);

// Plain row-major matrices (op = identity or transpose) as packers.
class MatrixPackA final : public PackA {
 public:
  MatrixPackA(const float* A, int64_t lda, bool trans) : A_(A), lda_(lda), trans_(trans) {}
  void pack(int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr, float* dst) const override;
 private:
  const float* A_;
  int64_t lda_;
  bool trans_;
};
class MatrixPackB final : public PackB {
 public:
  MatrixPackB(const float* B, int64_t ldb, bool trans) : B_(B), ldb_(ldb), trans_(trans) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) const override;
 private:
  const float* B_;
  int64_t ldb_;
  bool trans_;
};

// A grow-only 64-byte-aligned float buffer (one per thread via thread_local: no allocation in
// steady state).
struct Workspace {
  float* ptr = nullptr;
  size_t size = 0;
  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() { std::free(ptr); }
  float* get(size_t n) {
    if (n > size) {
      std::free(ptr);
      size_t bytes = ((n * sizeof(float) + 4095) / 4096) * 4096;
      ptr = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!ptr) { size = 0; throw std::bad_alloc(); }
      size = bytes / sizeof(float);
    }
    return ptr;
  }
};

}  // namespace sgi::cpu::gemm_detail
