// Per-channel activations of contiguous tensors viewed as [N, C, S] (channel = dim 1; S = the
// product of the dims after it, 1 for [N, C]): PReLU and StyleGAN2's fused bias + leaky ReLU.
// Implemented in cpu/activation.cc and cuda/activation.cu with the same names; sizes are
// validated by napi/activation.cc. (Plain relu / sigmoid / leaky_relu are unary element-wise ops.)
#pragma once
#include <cstdint>

namespace sgi {

namespace cpu {
// y = x > 0 ? x : w[c] * x
void prelu_forward(int64_t n, int64_t c, int64_t s, const float* x, const float* w, float* y);
// gx = x > 0 ? gy : w[c] * gy; gw[c] = sum over x <= 0 of gy * x. gx / gw may be null.
void prelu_backward(int64_t n, int64_t c, int64_t s, const float* x, const float* w, const float* gy, float* gx, float* gw);
// z = x + bias[c] (bias may be null); y = (z > 0 ? z : slope * z) * gain
void fused_leaky_relu_forward(int64_t n, int64_t c, int64_t s, const float* x, const float* bias, float slope, float gain, float* y);
// gx = gy * gain * (z > 0 ? 1 : slope); gbias[c] = sum of gx over (n, s). gx / gbias may be null.
void fused_leaky_relu_backward(int64_t n, int64_t c, int64_t s, const float* x, const float* bias, const float* gy,
                               float slope, float gain, float* gx, float* gbias);
// y = x * scale[i, j] + residual (scale [n, c]): a squeeze-and-excitation gate and the residual
// connection after it in one pass (the fused inference path; CPU only). y may alias x or residual.
void scale_channels_add(int64_t n, int64_t c, int64_t s, const float* x, const float* scale, const float* residual, float* y);
}  // namespace cpu

namespace cuda {
void prelu_forward(int64_t n, int64_t c, int64_t s, const float* x, const float* w, float* y);
void prelu_backward(int64_t n, int64_t c, int64_t s, const float* x, const float* w, const float* gy, float* gx, float* gw);
void fused_leaky_relu_forward(int64_t n, int64_t c, int64_t s, const float* x, const float* bias, float slope, float gain, float* y);
void fused_leaky_relu_backward(int64_t n, int64_t c, int64_t s, const float* x, const float* bias, const float* gy,
                               float slope, float gain, float* gx, float* gbias);
}  // namespace cuda

}  // namespace sgi
