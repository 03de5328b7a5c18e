// Threading helpers for CPU kernels (OpenMP underneath; both cores by default).
#pragma once
#include <cstdint>
#include <omp.h>

namespace sgi {

int num_threads();
void set_num_threads(int n);

// Runs body(begin, end) over [0, n) split into contiguous chunks, one per thread, in parallel
// only when the work is big enough (grain = minimum elements per thread).
template <typename F>
inline void parallel_for(int64_t n, int64_t grain, F&& body) {
  int threads = num_threads();
  if (n <= 0) return;
  if (threads <= 1 || n < 2 * grain || omp_in_parallel()) { body(int64_t(0), n); return; }
  int64_t chunks = n / grain;
  if (chunks > threads) chunks = threads;
#pragma omp parallel num_threads(int(chunks))
  {
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) body(begin, end);
  }
}

}  // namespace sgi
