// Fused optimizer steps: one pass over a parameter tensor does gradient centralization, the
// Adam moment updates, weight decay, the adaptive (Adam / rectified RAdam) or plain momentum
// (un-rectified RAdam) step and the Lookahead slow-weight sync. Every scalar that depends only
// on the step count (bias corrections, the RAdam rectification) is computed on the host in
// double and passed in OptimStep. Implemented in cpu/optimizer.cc and cuda/optimizer.cu.
#pragma once
#include <cmath>
#include <cstdint>

#ifndef SGI_HD
#ifdef __CUDACC__
#define SGI_HD __host__ __device__ __forceinline__
#else
#define SGI_HD inline
#endif
#endif

namespace sgi {

// Keep in sync with OPTIM_MODES in packages/trainer/src/optim/optimizer.ts.
enum class OptimMode : int {
  Adaptive = 0,  // p -= step * m / (sqrt(v) / denom_div + eps)   (Adam; RAdam when N_sma > threshold)
  Momentum = 1,  // p -= step * m                                  (RAdam's un-adapted warm-up step)
};

struct OptimStep {
  OptimMode mode = OptimMode::Adaptive;
  float beta1 = 0.9f, beta2 = 0.999f;
  float one_minus_beta1 = 0.1f, one_minus_beta2 = 0.001f;  // (1 - beta) rounded from double
  float eps = 1e-8f;
  float step = 0.f;       // lr * step size (bias corrections / rectification folded in)
  float denom_div = 1.f;  // sqrt(1 - beta2^t) for Adam, 1 for RAdam
  float l2 = 0.f;         // g += l2 * p before the moments (Adam's coupled weight decay)
  float decay = 0.f;      // p -= decay * p before the step (Ranger / AdamW decoupled decay: lr * wd)
  bool sync = false;      // Lookahead: slow += alpha * (p - slow); p = slow (after the step)
  float alpha = 0.5f;
  bool centralize = false;  // g -= mean of g over its row (all dims but the first)
  int64_t rows = 1, cols = 0;  // numel = rows * cols
};

// The update of one element given the (centralization) mean of its gradient row.
// PyTorch order of operations (pSp's Ranger): g - mean; m*b1 + (1-b1)g; v*b2 + (1-b2)g*g.
SGI_HD void optim_update(const OptimStep& s, float mean, float& p, float g, float& m, float& v, float* slow) {
  g = g - mean;
  if (s.l2 != 0.f) g = g + s.l2 * p;
  float mi = m * s.beta1 + s.one_minus_beta1 * g;
  float vi = v * s.beta2 + s.one_minus_beta2 * g * g;
  m = mi;
  v = vi;
  float q = p;
  if (s.decay != 0.f) q = q - s.decay * q;
  if (s.mode == OptimMode::Adaptive) q = q - s.step * mi / (sqrtf(vi) / s.denom_div + s.eps);
  else q = q - s.step * mi;
  if (s.sync) {
    float sl = *slow;
    sl = sl + s.alpha * (q - sl);
    *slow = sl;
    q = sl;
  }
  p = q;
}

namespace cpu {
// p, m, v (and slow when s.sync) are updated in place; g is read only. slow may be null when !s.sync.
void optim_step(const OptimStep& s, float* p, const float* g, float* m, float* v, float* slow);
}  // namespace cpu

namespace cuda {
void optim_step(const OptimStep& s, float* p, const float* g, float* m, float* v, float* slow);
}  // namespace cuda

}  // namespace sgi
