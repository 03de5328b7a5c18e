// CPU batch norm and pixel norm. Batch norm works channel by channel (a thread takes a block
// of channels and does statistics and the affine map while the channel is hot in cache);
// inner loops run over the contiguous S axis with `omp simd` reductions (float lanes, added
// into doubles every row / block, so long reductions keep their precision).
#include <cmath>
#include "common/kernels/normalization.h"
#include "common/parallel.h"

namespace sgi::cpu {

namespace {
constexpr int64_t kBlock = 2048;  // float partial sums never run longer than this

inline double sum_of(const float* p, int64_t len) {
  double total = 0.0;
  for (int64_t b = 0; b < len; b += kBlock) {
    const int64_t e = b + kBlock < len ? b + kBlock : len;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = b; i < e; ++i) s += p[i];
    total += s;
  }
  return total;
}

inline double sum_sq_dev(const float* p, int64_t len, float mean) {
  double total = 0.0;
  for (int64_t b = 0; b < len; b += kBlock) {
    const int64_t e = b + kBlock < len ? b + kBlock : len;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = b; i < e; ++i) { float d = p[i] - mean; s += d * d; }
    total += s;
  }
  return total;
}

// sum(g) and sum(g * (x - mean)) over len elements
inline void sum_g_gxc(const float* g, const float* x, int64_t len, float mean, double* sg, double* sgx) {
  for (int64_t b = 0; b < len; b += kBlock) {
    const int64_t e = b + kBlock < len ? b + kBlock : len;
    float s1 = 0.f, s2 = 0.f;
#pragma omp simd reduction(+ : s1, s2)
    for (int64_t i = b; i < e; ++i) { s1 += g[i]; s2 += g[i] * (x[i] - mean); }
    *sg += s1;
    *sgx += s2;
  }
}

inline int64_t grain_for(int64_t work_per_item) {
  const int64_t g = 32768 / (work_per_item > 0 ? work_per_item : 1);
  return g > 0 ? g : 1;
}
}  // namespace

void batch_norm_forward(const BatchNormParams& p, const float* x, const float* weight, const float* bias,
                        float* running_mean, float* running_var, float* y, float* save_mean, float* save_invstd) {
  const int64_t N = p.n, C = p.c, S = p.s, M = N * S;
  parallel_for(C, grain_for(M), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float mean, invstd;
      if (p.training) {
        double sum = 0.0;
        for (int64_t n = 0; n < N; ++n) sum += sum_of(x + (n * C + c) * S, S);
        const double dmean = M > 0 ? sum / double(M) : 0.0;
        mean = float(dmean);
        double sq = 0.0;
        for (int64_t n = 0; n < N; ++n) sq += sum_sq_dev(x + (n * C + c) * S, S, mean);
        const double var = M > 0 ? sq / double(M) : 0.0;
        invstd = float(1.0 / std::sqrt(var + double(p.eps)));
        const double mom = p.momentum;
        if (running_mean) running_mean[c] = float((1.0 - mom) * running_mean[c] + mom * dmean);
        if (running_var) {
          const double unbiased = M > 1 ? var * double(M) / double(M - 1) : var;
          running_var[c] = float((1.0 - mom) * running_var[c] + mom * unbiased);
        }
      } else {
        mean = running_mean[c];
        invstd = float(1.0 / std::sqrt(double(running_var[c]) + double(p.eps)));
      }
      save_mean[c] = mean;
      save_invstd[c] = invstd;
      const float scale = weight ? weight[c] * invstd : invstd;
      const float shift = (bias ? bias[c] : 0.f) - mean * scale;
      for (int64_t n = 0; n < N; ++n) {
        const float* px = x + (n * C + c) * S;
        float* py = y + (n * C + c) * S;
#pragma omp simd
        for (int64_t i = 0; i < S; ++i) py[i] = px[i] * scale + shift;
      }
    }
  });
}

void batch_norm_backward(const BatchNormParams& p, const float* x, const float* gy, const float* weight,
                         const float* save_mean, const float* save_invstd, float* gx, float* gweight, float* gbias) {
  const int64_t N = p.n, C = p.c, S = p.s, M = N * S;
  const bool need_sums = gweight || gbias || (gx && p.training);
  parallel_for(C, grain_for(M), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float mean = save_mean[c], invstd = save_invstd[c];
      double sg = 0.0, sgx = 0.0;  // sum(gy), sum(gy * (x - mean))
      if (need_sums) {
        for (int64_t n = 0; n < N; ++n) {
          const int64_t off = (n * C + c) * S;
          sum_g_gxc(gy + off, x + off, S, mean, &sg, &sgx);
        }
      }
      const double sum_gy_xhat = sgx * double(invstd);
      if (gbias) gbias[c] = float(sg);
      if (gweight) gweight[c] = float(sum_gy_xhat);
      if (!gx) continue;
      const float k = (weight ? weight[c] : 1.f) * invstd;
      if (p.training && M > 0) {
        // gx = k * (gy - mean(gy) - xhat * mean(gy * xhat)) = k*gy - c2*(x - mean) - k*mean(gy)
        const float c2 = float(double(k) * double(invstd) * sum_gy_xhat / double(M));
        const float c0 = float(double(c2) * double(mean) - double(k) * sg / double(M));
        for (int64_t n = 0; n < N; ++n) {
          const int64_t off = (n * C + c) * S;
          const float* px = x + off;
          const float* pg = gy + off;
          float* pgx = gx + off;
#pragma omp simd
          for (int64_t i = 0; i < S; ++i) pgx[i] = k * pg[i] - c2 * px[i] + c0;
        }
      } else {
        for (int64_t n = 0; n < N; ++n) {
          const int64_t off = (n * C + c) * S;
          const float* pg = gy + off;
          float* pgx = gx + off;
#pragma omp simd
          for (int64_t i = 0; i < S; ++i) pgx[i] = k * pg[i];
        }
      }
    }
  });
}

namespace {
constexpr int64_t kPixBlock = 256;  // spatial block of the S > 1 pixel-norm path (stack buffer)
}

void pixel_norm_forward(int64_t n, int64_t c, int64_t s, const float* x, float eps_, float* y, float* inv) {
  const float inv_c_ = 1.f / float(c);
  if (s == 1) {
    parallel_for(n, grain_for(c), [&](int64_t r0, int64_t r1) {
      const float inv_c = inv_c_, eps = eps_;
      for (int64_t r = r0; r < r1; ++r) {
        const float* px = x + r * c;
        float* py = y + r * c;
        float acc = 0.f;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < c; ++i) acc += px[i] * px[i];
        const float k = 1.f / std::sqrt(acc * inv_c + eps);
        inv[r] = k;
#pragma omp simd
        for (int64_t i = 0; i < c; ++i) py[i] = px[i] * k;
      }
    });
    return;
  }
  const int64_t blocks = (s + kPixBlock - 1) / kPixBlock;
  parallel_for(n * blocks, grain_for(c * kPixBlock), [&](int64_t t0, int64_t t1) {
    const float inv_c = inv_c_, eps = eps_;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ni = t / blocks, s0 = (t % blocks) * kPixBlock;
      const int64_t len = s0 + kPixBlock < s ? kPixBlock : s - s0;
      float* acc = inv + ni * s + s0;
      for (int64_t i = 0; i < len; ++i) acc[i] = 0.f;
      for (int64_t ch = 0; ch < c; ++ch) {
        const float* px = x + (ni * c + ch) * s + s0;
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) acc[i] += px[i] * px[i];
      }
      for (int64_t i = 0; i < len; ++i) acc[i] = 1.f / std::sqrt(acc[i] * inv_c + eps);
      for (int64_t ch = 0; ch < c; ++ch) {
        const float* px = x + (ni * c + ch) * s + s0;
        float* py = y + (ni * c + ch) * s + s0;
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) py[i] = px[i] * acc[i];
      }
    }
  });
}

void pixel_norm_backward(int64_t n, int64_t c, int64_t s, const float* x, const float* inv, const float* gy, float* gx) {
  const float inv_c_ = 1.f / float(c);
  if (s == 1) {
    parallel_for(n, grain_for(c), [&](int64_t r0, int64_t r1) {
      const float inv_c = inv_c_;
      for (int64_t r = r0; r < r1; ++r) {
        const float* px = x + r * c;
        const float* pg = gy + r * c;
        float* pgx = gx + r * c;
        float dot = 0.f;
#pragma omp simd reduction(+ : dot)
        for (int64_t i = 0; i < c; ++i) dot += pg[i] * px[i];
        const float k = inv[r], k3 = k * k * k * dot * inv_c;
#pragma omp simd
        for (int64_t i = 0; i < c; ++i) pgx[i] = k * pg[i] - k3 * px[i];
      }
    });
    return;
  }
  const int64_t blocks = (s + kPixBlock - 1) / kPixBlock;
  parallel_for(n * blocks, grain_for(c * kPixBlock), [&](int64_t t0, int64_t t1) {
    const float inv_c = inv_c_;
    float coef[kPixBlock];
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ni = t / blocks, s0 = (t % blocks) * kPixBlock;
      const int64_t len = s0 + kPixBlock < s ? kPixBlock : s - s0;
      const float* k = inv + ni * s + s0;
      for (int64_t i = 0; i < len; ++i) coef[i] = 0.f;
      for (int64_t ch = 0; ch < c; ++ch) {
        const int64_t off = (ni * c + ch) * s + s0;
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) coef[i] += gy[off + i] * x[off + i];
      }
      for (int64_t i = 0; i < len; ++i) coef[i] *= k[i] * k[i] * k[i] * inv_c;
      for (int64_t ch = 0; ch < c; ++ch) {
        const int64_t off = (ni * c + ch) * s + s0;
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) gx[off + i] = k[i] * gy[off + i] - coef[i] * x[off + i];
      }
    }
  });
}

}  // namespace sgi::cpu
