// Run-time CPU feature detection: kernels pick AVX-512, AVX2 or portable code paths here.
#pragma once
namespace sgi {
struct CpuFeatures { bool avx2 = false; bool fma = false; bool avx512f = false; };
const CpuFeatures& cpu_features();
// "avx512", "avx2" or "generic"; SGI_ISA=avx2|generic in the environment forces a lower level.
const char* cpu_isa();
}  // namespace sgi
