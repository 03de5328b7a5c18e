// Winograd F(4x4, 3x3) transforms for the AVX-512 GEMM micro-kernel (14 x 32): compiled with
// -mavx512f, so the lane loops of winograd_impl.h become zmm code.
#define SGI_WINO_MR 14
#define SGI_WINO_NR 32
#include "cpu/winograd_impl.h"

namespace sgi::cpu::winograd {
const Kernels* kernels_avx512() { return &kWinogradKernels; }
}  // namespace sgi::cpu::winograd
