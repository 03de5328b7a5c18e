// CPU fused optimizer step (see common/kernels/optimizer.h). With centralization the rows
// (output channels) are split across threads: each row's gradient mean is summed in double, then
// the row is updated in one pass. Without it the elements are split directly.
#include "common/kernels/optimizer.h"
#include "common/parallel.h"

namespace sgi::cpu {

void optim_step(const OptimStep& s, float* p, const float* g, float* m, float* v, float* slow) {
  const int64_t rows = s.rows, cols = s.cols, n = rows * cols;
  if (n <= 0) return;
  if (s.centralize) {
    int64_t grain = cols >= 8192 ? 1 : 8192 / cols + 1;
    parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t o = r * cols;
        double sum = 0;
        for (int64_t j = 0; j < cols; ++j) sum += g[o + j];
        const float mean = float(sum / double(cols));
        for (int64_t j = 0; j < cols; ++j)
          optim_update(s, mean, p[o + j], g[o + j], m[o + j], v[o + j], slow ? slow + o + j : nullptr);
      }
    });
  } else {
    parallel_for(n, 16384, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) optim_update(s, 0.f, p[i], g[i], m[i], v[i], slow ? slow + i : nullptr);
    });
  }
}

}  // namespace sgi::cpu
