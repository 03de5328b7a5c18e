// CPU losses. Reductions split the range into one chunk per thread with fixed boundaries and
// add the chunks' partial sums in order, so results do not depend on scheduling.
#include <cmath>
#include "common/kernels/loss.h"
#include "common/parallel.h"

namespace sgi::cpu {

namespace {
constexpr int64_t kBlock = 2048;     // float partial sums never run longer than this
constexpr int64_t kGrain = 32768;    // minimum elements per thread
constexpr int kMaxChunks = 64;

// result[0..K) = sum over chunks of f(begin, end, partial) (partial zeroed, K doubles).
template <int K, typename F>
void chunked_sum(int64_t n, F&& f, double* result) {
  int64_t chunks = n / kGrain;
  const int64_t t = num_threads();
  if (chunks > t) chunks = t;
  if (chunks > kMaxChunks) chunks = kMaxChunks;
  if (chunks < 1) chunks = 1;
  double partial[kMaxChunks][K] = {};
  parallel_for(chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) f(n * k / chunks, n * (k + 1) / chunks, partial[k]);
  });
  for (int j = 0; j < K; ++j) result[j] = 0.0;
  for (int64_t k = 0; k < chunks; ++k)
    for (int j = 0; j < K; ++j) result[j] += partial[k][j];
}

void sq_diff_sum(const float* a, const float* b, int64_t begin, int64_t end, double* out) {
  for (int64_t s = begin; s < end; s += kBlock) {
    const int64_t e = s + kBlock < end ? s + kBlock : end;
    float acc = 0.f;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = s; i < e; ++i) { float d = a[i] - b[i]; acc += d * d; }
    out[0] += acc;
  }
}

// out += (sum a*b, sum a*a, sum b*b) over [begin, end)
void dot3(const float* a, const float* b, int64_t begin, int64_t end, double* out) {
  for (int64_t s = begin; s < end; s += kBlock) {
    const int64_t e = s + kBlock < end ? s + kBlock : end;
    float ab = 0.f, aa = 0.f, bb = 0.f;
#pragma omp simd reduction(+ : ab, aa, bb)
    for (int64_t i = s; i < e; ++i) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
    out[0] += ab;
    out[1] += aa;
    out[2] += bb;
  }
}

inline double clamp_norm(double v) { return v > double(kCosineEps) ? v : double(kCosineEps); }
}  // namespace

void mse_forward(int64_t n, const float* a, const float* b, float* out) {
  double total[1];
  chunked_sum<1>(n, [&](int64_t s, int64_t e, double* p) { sq_diff_sum(a, b, s, e, p); }, total);
  out[0] = n > 0 ? float(total[0] / double(n)) : 0.f;
}

void mse_backward(int64_t n, const float* a, const float* b, const float* g, float* ga, float* gb) {
  const float k_ = n > 0 ? float(2.0 * double(g[0]) / double(n)) : 0.f;
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    const float k = k_;
    if (ga && gb) {
#pragma omp simd
      for (int64_t i = s; i < e; ++i) { float d = k * (a[i] - b[i]); ga[i] = d; gb[i] = -d; }
    } else if (ga) {
#pragma omp simd
      for (int64_t i = s; i < e; ++i) ga[i] = k * (a[i] - b[i]);
    } else if (gb) {
#pragma omp simd
      for (int64_t i = s; i < e; ++i) gb[i] = k * (b[i] - a[i]);
    }
  });
}

void cosine_loss_forward(int64_t rows, int64_t d, const float* a, const float* b, float* stats, float* out) {
  auto finish = [&](int64_t r, const double* s3) {
    stats[3 * r] = float(s3[0]);
    stats[3 * r + 1] = float(std::sqrt(s3[1]));
    stats[3 * r + 2] = float(std::sqrt(s3[2]));
  };
  if (d >= 2 * kGrain) {
    // Long rows (feature maps): split each row across threads.
    for (int64_t r = 0; r < rows; ++r) {
      double s3[3];
      const float* pa = a + r * d;
      const float* pb = b + r * d;
      chunked_sum<3>(d, [&](int64_t s, int64_t e, double* p) { dot3(pa, pb, s, e, p); }, s3);
      finish(r, s3);
    }
  } else {
    parallel_for(rows, kGrain / (d > 0 ? d : 1) + 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        double s3[3] = {0.0, 0.0, 0.0};
        dot3(a + r * d, b + r * d, 0, d, s3);
        finish(r, s3);
      }
    });
  }
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const double cos = double(stats[3 * r]) / (clamp_norm(stats[3 * r + 1]) * clamp_norm(stats[3 * r + 2]));
    total += 1.0 - cos;
  }
  out[0] = rows > 0 ? float(total / double(rows)) : 0.f;
}

void cosine_loss_backward(int64_t rows, int64_t d, const float* a, const float* b, const float* stats, const float* g, float* gb) {
  if (rows <= 0 || d <= 0) return;
  const double scale = double(g[0]) / double(rows);
  const int64_t blocks = (d + kBlock - 1) / kBlock;
  parallel_for(rows * blocks, kGrain / kBlock, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r = t / blocks, s = (t % blocks) * kBlock;
      const int64_t e = s + kBlock < d ? s + kBlock : d;
      const double dot = stats[3 * r], na = stats[3 * r + 1], nb = stats[3 * r + 2];
      const double nac = clamp_norm(na), nbc = clamp_norm(nb);
      const double cos = dot / (nac * nbc);
      // d(1 - cos)/db = -a / (na nb) + cos * b / nb^2 (the second term only when nb is not clamped)
      const float alpha = float(-scale / (nac * nbc));
      const float beta = nb > double(kCosineEps) ? float(scale * cos / (nb * nb)) : 0.f;
      const float* pa = a + r * d;
      const float* pb = b + r * d;
      float* pg = gb + r * d;
#pragma omp simd
      for (int64_t i = s; i < e; ++i) pg[i] = alpha * pa[i] + beta * pb[i];
    }
  });
}

}  // namespace sgi::cpu
