// CPU PReLU and fused bias + leaky ReLU over [N, C, S]. Two layouts: S > 1 runs over the
// contiguous rows of one (n, c) (the per-channel value is a constant of the row); S == 1 ([N, C])
// runs over channels inside a row of n. Backward with a parameter gradient splits the work by
// channel, so each thread owns its channels' sums (no atomics, deterministic).
#include <cstdint>
#include <cstring>
#include "common/kernels/activation.h"
#include "common/parallel.h"

namespace sgi::cpu {

namespace {
constexpr int64_t kBlock = 2048;  // float partial sums never run longer than this
inline int64_t grain_for(int64_t work_per_item) {
  const int64_t g = 32768 / (work_per_item > 0 ? work_per_item : 1);
  return g > 0 ? g : 1;
}

// cond ? a : b as a bit mask. GCC does not if-convert `v > 0 ? v : w * v` (it sinks the multiply
// into the branch, and a conditional float multiply might trap), leaving a mispredicted branch per
// element; with both values computed and an integer select the loop vectorises.
inline float select(bool cond, float a, float b) {
  uint32_t ab, bb;
  std::memcpy(&ab, &a, 4);
  std::memcpy(&bb, &b, 4);
  const uint32_t m = cond ? 0xffffffffu : 0u;
  const uint32_t r = (ab & m) | (bb & ~m);
  float out;
  std::memcpy(&out, &r, 4);
  return out;
}
}  // namespace

void scale_channels_add(int64_t n, int64_t c, int64_t s, const float* x, const float* scale, const float* residual, float* y) {
  parallel_for(n * c, grain_for(s), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float a = scale[r];
      const float* px = x + r * s;
      const float* pr = residual + r * s;
      float* py = y + r * s;
#pragma omp simd
      for (int64_t i = 0; i < s; ++i) py[i] = px[i] * a + pr[i];
    }
  });
}

void prelu_forward(int64_t n, int64_t c, int64_t s, const float* x, const float* w, float* y) {
  if (s == 1) {
    parallel_for(n, grain_for(c), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float* px = x + r * c;
        float* py = y + r * c;
#pragma omp simd
        for (int64_t i = 0; i < c; ++i) { const float v = px[i]; py[i] = select(v > 0.f, v, w[i] * v); }
      }
    });
    return;
  }
  parallel_for(n * c, grain_for(s), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float a = w[r % c];
      const float* px = x + r * s;
      float* py = y + r * s;
#pragma omp simd
      for (int64_t i = 0; i < s; ++i) { const float v = px[i]; py[i] = select(v > 0.f, v, a * v); }
    }
  });
}

void prelu_backward(int64_t n, int64_t c, int64_t s, const float* x, const float* w, const float* gy, float* gx, float* gw) {
  if (s == 1) {
    parallel_for(c, grain_for(n), [&](int64_t c0, int64_t c1) {
      if (gw) for (int64_t i = c0; i < c1; ++i) gw[i] = 0.f;
      for (int64_t r = 0; r < n; ++r) {
        const float* px = x + r * c;
        const float* pg = gy + r * c;
        if (gx) {
          float* pgx = gx + r * c;
#pragma omp simd
          for (int64_t i = c0; i < c1; ++i) pgx[i] = select(px[i] > 0.f, pg[i], w[i] * pg[i]);
        }
        if (gw) {
#pragma omp simd
          for (int64_t i = c0; i < c1; ++i) gw[i] += select(px[i] > 0.f, 0.f, pg[i] * px[i]);
        }
      }
    });
    return;
  }
  if (!gw) {
    parallel_for(n * c, grain_for(s), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float a = w[r % c];
        const float* px = x + r * s;
        const float* pg = gy + r * s;
        float* pgx = gx + r * s;
#pragma omp simd
        for (int64_t i = 0; i < s; ++i) pgx[i] = select(px[i] > 0.f, pg[i], a * pg[i]);
      }
    });
    return;
  }
  parallel_for(c, grain_for(n * s), [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const float a = w[ch];
      double total = 0.0;
      for (int64_t r = 0; r < n; ++r) {
        const int64_t off = (r * c + ch) * s;
        const float* px = x + off;
        const float* pg = gy + off;
        for (int64_t b = 0; b < s; b += kBlock) {
          const int64_t e = b + kBlock < s ? b + kBlock : s;
          float acc = 0.f;
          if (gx) {
            float* pgx = gx + off;
#pragma omp simd reduction(+ : acc)
            for (int64_t i = b; i < e; ++i) {
              const float v = px[i], g = pg[i];
              const bool pos = v > 0.f;
              pgx[i] = select(pos, g, a * g);
              acc += select(pos, 0.f, g * v);
            }
          } else {
#pragma omp simd reduction(+ : acc)
            for (int64_t i = b; i < e; ++i) acc += select(px[i] > 0.f, 0.f, pg[i] * px[i]);
          }
          total += acc;
        }
      }
      gw[ch] = float(total);
    }
  });
}

void fused_leaky_relu_forward(int64_t n, int64_t c, int64_t s, const float* x, const float* bias, float slope, float gain_, float* y) {
  const float neg_ = slope * gain_;
  if (s == 1) {
    parallel_for(n, grain_for(c), [&](int64_t r0, int64_t r1) {
      const float gain = gain_, neg = neg_;  // locals: captured references would block vectorisation
      for (int64_t r = r0; r < r1; ++r) {
        const float* px = x + r * c;
        float* py = y + r * c;
        if (bias) {
#pragma omp simd
          for (int64_t i = 0; i < c; ++i) { float z = px[i] + bias[i]; py[i] = z * (z > 0.f ? gain : neg); }
        } else {
#pragma omp simd
          for (int64_t i = 0; i < c; ++i) { float z = px[i]; py[i] = z * (z > 0.f ? gain : neg); }
        }
      }
    });
    return;
  }
  parallel_for(n * c, grain_for(s), [&](int64_t r0, int64_t r1) {
    const float gain = gain_, neg = neg_;  // locals: captured references would block vectorisation
    for (int64_t r = r0; r < r1; ++r) {
      const float b = bias ? bias[r % c] : 0.f;
      const float* px = x + r * s;
      float* py = y + r * s;
#pragma omp simd
      for (int64_t i = 0; i < s; ++i) { float z = px[i] + b; py[i] = z * (z > 0.f ? gain : neg); }
    }
  });
}

void fused_leaky_relu_backward(int64_t n, int64_t c, int64_t s, const float* x, const float* bias, const float* gy,
                               float slope, float gain_, float* gx, float* gbias) {
  const float neg_ = slope * gain_;
  if (s == 1) {
    parallel_for(c, grain_for(n), [&](int64_t c0, int64_t c1) {
      const float gain = gain_, neg = neg_;  // locals: captured references would block vectorisation
      if (gbias) for (int64_t i = c0; i < c1; ++i) gbias[i] = 0.f;
      for (int64_t r = 0; r < n; ++r) {
        const float* px = x + r * c;
        const float* pg = gy + r * c;
        float* pgx = gx ? gx + r * c : nullptr;
#pragma omp simd
        for (int64_t i = c0; i < c1; ++i) {
          const float z = px[i] + (bias ? bias[i] : 0.f);
          const float g = pg[i] * (z > 0.f ? gain : neg);
          if (pgx) pgx[i] = g;
          if (gbias) gbias[i] += g;
        }
      }
    });
    return;
  }
  if (!gbias) {
    parallel_for(n * c, grain_for(s), [&](int64_t r0, int64_t r1) {
      const float gain = gain_, neg = neg_;  // locals: captured references would block vectorisation
      for (int64_t r = r0; r < r1; ++r) {
        const float b = bias ? bias[r % c] : 0.f;
        const float* px = x + r * s;
        const float* pg = gy + r * s;
        float* pgx = gx + r * s;
#pragma omp simd
        for (int64_t i = 0; i < s; ++i) pgx[i] = pg[i] * (px[i] + b > 0.f ? gain : neg);
      }
    });
    return;
  }
  parallel_for(c, grain_for(n * s), [&](int64_t c0, int64_t c1) {
    const float gain = gain_, neg = neg_;  // locals: captured references would block vectorisation
    for (int64_t ch = c0; ch < c1; ++ch) {
      const float b = bias ? bias[ch] : 0.f;
      double total = 0.0;
      for (int64_t r = 0; r < n; ++r) {
        const int64_t off = (r * c + ch) * s;
        const float* px = x + off;
        const float* pg = gy + off;
        for (int64_t b0 = 0; b0 < s; b0 += kBlock) {
          const int64_t e = b0 + kBlock < s ? b0 + kBlock : s;
          float acc = 0.f;
          if (gx) {
            float* pgx = gx + off;
#pragma omp simd reduction(+ : acc)
            for (int64_t i = b0; i < e; ++i) {
              const float g = pg[i] * (px[i] + b > 0.f ? gain : neg);
              pgx[i] = g;
              acc += g;
            }
          } else {
#pragma omp simd reduction(+ : acc)
            for (int64_t i = b0; i < e; ++i) acc += pg[i] * (px[i] + b > 0.f ? gain : neg);
          }
          total += acc;
        }
      }
      gbias[ch] = float(total);
    }
  });
}

}  // namespace sgi::cpu
