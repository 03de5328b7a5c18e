// Run-time CPU feature detection: kernels pick AVX-512, AVX2 or portable code paths here.
#pragma once
namespace sgi {
// avx512bf16: the AVX-512 BF16 dot products (vdpbf16ps), used only by the optional bf16 precision.
struct CpuFeatures { bool avx2 = false; bool fma = false; bool avx512f = false; bool avx512bf16 = false; };
const CpuFeatures& cpu_features();
// "avx512", "avx2" or "generic"; SGI_ISA=avx2|generic in the environment forces a lower level.
const char* cpu_isa();
}  // namespace sgi
