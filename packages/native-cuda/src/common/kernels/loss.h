// Reduction losses to a scalar: mean squared error and the mean over the batch of
// 1 - cosine similarity of flattened rows. Implemented in cpu/loss.cc and cuda/loss.cu with the
// same names; sizes are validated by napi/loss.cc. Scalars (out, the upstream gradient g) are
// one-element storages on the tensors' device.
#pragma once
#include <cstdint>

namespace sgi {

constexpr float kCosineEps = 1e-8f;  // each norm is clamped to at least this (torch.cosine_similarity)

namespace cpu {
// out[0] = mean((a - b)^2) over n elements
void mse_forward(int64_t n, const float* a, const float* b, float* out);
// ga = 2 (a - b) g / n, gb = -ga; either may be null
void mse_backward(int64_t n, const float* a, const float* b, const float* g, float* ga, float* gb);
// a, b: [rows, d]. stats[3*i..] = (dot, |a_i|, |b_i|); out[0] = mean_i (1 - cos_i),
// cos_i = dot / (max(|a_i|, eps) * max(|b_i|, eps)).
void cosine_loss_forward(int64_t rows, int64_t d, const float* a, const float* b, float* stats, float* out);
// Gradient of out w.r.t. b (a is the detached target): gb = -g/rows * (a/(na*nb) - cos * b/nb^2),
// the second term only where |b_i| > eps (else the clamped norm is a constant).
void cosine_loss_backward(int64_t rows, int64_t d, const float* a, const float* b, const float* stats, const float* g, float* gb);
}  // namespace cpu

namespace cuda {
void mse_forward(int64_t n, const float* a, const float* b, float* out);
void mse_backward(int64_t n, const float* a, const float* b, const float* g, float* ga, float* gb);
void cosine_loss_forward(int64_t rows, int64_t d, const float* a, const float* b, float* stats, float* out);
void cosine_loss_backward(int64_t rows, int64_t d, const float* a, const float* b, const float* stats, const float* g, float* gb);
}  // namespace cuda

}  // namespace sgi
