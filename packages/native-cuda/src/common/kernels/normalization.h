// Normalization over the channel dimension of contiguous tensors viewed as [N, C, S]
// (S = H*W for [N,C,H,W], 1 for [N,C]): batch normalization (BatchNorm1d/2d, training and
// evaluation) and StyleGAN's pixel norm. Implemented in cpu/normalization.cc and
// cuda/normalization.cu with the same names; sizes are validated by napi/normalization.cc.
#pragma once
#include <cstdint>

namespace sgi {

struct BatchNormParams {
  int64_t n = 0, c = 0, s = 0;  // x is [n, c, s]
  bool training = true;         // batch statistics (true) or running statistics (false)
  float momentum = 0.1f;        // running = (1 - momentum) * running + momentum * batch
  float eps = 1e-5f;
};

namespace cpu {
// y = (x - mean) * invstd * weight + bias per channel. weight/bias may be null (1 / 0).
// Training: mean and biased variance over (n, s); running_mean/running_var (may be null) are
// updated in place with the unbiased variance (PyTorch). Evaluation: the running statistics
// (required). Always writes save_mean[c] and save_invstd[c] = 1 / sqrt(var + eps) for backward.
void batch_norm_forward(const BatchNormParams& p, const float* x, const float* weight, const float* bias,
                        float* running_mean, float* running_var, float* y, float* save_mean, float* save_invstd);
// Gradients given the saved statistics; gx, gweight, gbias may each be null (not wanted).
// Training: gx = w*invstd/M * (M*gy - sum(gy) - xhat*sum(gy*xhat)), M = n*s. Evaluation: gx = gy*w*invstd.
void batch_norm_backward(const BatchNormParams& p, const float* x, const float* gy, const float* weight,
                         const float* save_mean, const float* save_invstd, float* gx, float* gweight, float* gbias);
// y = x * rsqrt(mean over c of x^2 + eps); inv[n*s] receives the rsqrt factor.
void pixel_norm_forward(int64_t n, int64_t c, int64_t s, const float* x, float eps, float* y, float* inv);
// gx = inv * (gy - x * inv^2 * sum_c(gy*x) / c)
void pixel_norm_backward(int64_t n, int64_t c, int64_t s, const float* x, const float* inv, const float* gy, float* gx);
}  // namespace cpu

namespace cuda {
void batch_norm_forward(const BatchNormParams& p, const float* x, const float* weight, const float* bias,
                        float* running_mean, float* running_var, float* y, float* save_mean, float* save_invstd);
void batch_norm_backward(const BatchNormParams& p, const float* x, const float* gy, const float* weight,
                         const float* save_mean, const float* save_invstd, float* gx, float* gweight, float* gbias);
void pixel_norm_forward(int64_t n, int64_t c, int64_t s, const float* x, float eps, float* y, float* inv);
void pixel_norm_backward(int64_t n, int64_t c, int64_t s, const float* x, const float* inv, const float* gy, float* gx);
}  // namespace cuda

}  // namespace sgi
