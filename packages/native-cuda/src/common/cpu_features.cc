#include "common/cpu_features.h"
#include <cstdlib>
#include <cstring>

namespace sgi {
const CpuFeatures& cpu_features() {
  static CpuFeatures f = [] {
    CpuFeatures r;
    __builtin_cpu_init();
    r.avx2 = __builtin_cpu_supports("avx2");
    r.fma = __builtin_cpu_supports("fma");
    r.avx512f = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    r.avx512bf16 = r.avx512f && __builtin_cpu_supports("avx512bf16");
    const char* forced = std::getenv("SGI_ISA");
    if (forced && std::strcmp(forced, "avx2") == 0) r.avx512f = r.avx512bf16 = false;
    if (forced && std::strcmp(forced, "generic") == 0) r.avx512f = r.avx512bf16 = r.avx2 = r.fma = false;
    return r;
  }();
  return f;
}
const char* cpu_isa() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f) return "avx512";
  if (f.avx2 && f.fma) return "avx2";
  return "generic";
}
}  // namespace sgi
