// Winograd F(4x4, 3x3) transforms for the AVX2 GEMM micro-kernel (6 x 16): compiled with -mavx2
// -mfma, so the lane loops of winograd_impl.h become ymm code.
#define SGI_WINO_MR 6
#define SGI_WINO_NR 16
#include "cpu/winograd_impl.h"

namespace sgi::cpu::winograd {
const Kernels* kernels_avx2() { return &kWinogradKernels; }
}  // namespace sgi::cpu::winograd
