// 2-D convolution (cross-correlation, like PyTorch) forward and backward. Implemented in
// cpu/conv2d.cc (implicit-im2col GEMM, a direct 1x1 path, Winograd F(4x4,3x3) for 3x3 stride-1
// convolutions) and cuda/conv2d.cu (cuDNN when loaded, else im2col/col2im + the CUDA GEMM).
//
// Layouts (contiguous): x [n, c, h, w], w [k, c/groups, kh, kw], b [k], y [n, k, oh, ow] with
// oh = (h + 2*ph - kh) / sh + 1, ow likewise (dilation 1). Transposed convolution is the
// backward-input pass with the roles of the two spatial sizes swapped (see packages/core/src/ops/conv.ts).
// The caller (napi/conv2d.cc) validates every size. Outputs are overwritten.
#pragma once
#include <cstdint>

namespace sgi {

struct Conv2dParams {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t k = 0;                       // output channels
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, groups = 1;
  int64_t oh = 0, ow = 0;              // output size, computed by the caller from the above
};

// CPU algorithms (for tests and benchmarks; Auto picks per shape). Winograd covers the forward
// pass, the input gradient (a forward convolution when the stride is 1) and the weight gradient.
enum class ConvAlgo : int { Auto = 0, Gemm = 1, Winograd = 2 };

namespace cpu {
// y = conv(x, w) + b (b may be null)
void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y);
// gx = dL/dx given gy = dL/dy
void conv2d_backward_input(const Conv2dParams& p, const float* w, const float* gy, float* gx);
// gw = dL/dw (summed over the batch)
void conv2d_backward_weight(const Conv2dParams& p, const float* x, const float* gy, float* gw);
// gb[k] = sum over n, oh, ow of gy
void conv2d_backward_bias(const Conv2dParams& p, const float* gy, float* gb);
// Forces an algorithm (Auto restores the default choice). Winograd applies only to 3x3 stride-1
// convolutions; other shapes use the GEMM paths whatever is set.
void conv2d_set_algorithm(ConvAlgo algo);
ConvAlgo conv2d_algorithm();

// Inference (CPU only): a convolution with what surrounds it in an eval-mode network folded in,
//   y[n,k] = act(conv(pad(x[n,c] * in_scale[c] + in_shift[c]), w)[k] + b[k]),
//   act(v) = v > 0 ? v : v * slope[k]   (PReLU; identity without slope)
// The padding stays zero after the input affine (a BatchNorm that precedes the convolution).
// Every pointer may be null. `prepared` holds w already transformed for Winograd
// (conv2d_winograd_weights); w is not read then.
struct ConvFusion {
  const float* in_scale = nullptr;
  const float* in_shift = nullptr;
  const float* slope = nullptr;
  const float* prepared = nullptr;
  // When given: channel_sums[n * k + j] = the sum of output channel j of image n (written, not
  // accumulated), as the output is stored (a global average pool that needs no pass of its own).
  float* channel_sums = nullptr;
};
void conv2d_forward_fused(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y, const ConvFusion& f);
// Elements of the transformed weights the forward pass of p would use (0: it would not run
// Winograd, with the algorithm in force), and the transform itself.
int64_t conv2d_winograd_weights_size(const Conv2dParams& p);
void conv2d_winograd_weights(const Conv2dParams& p, const float* w, float* U);
}  // namespace cpu

namespace cuda {
void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y);
void conv2d_backward_input(const Conv2dParams& p, const float* w, const float* gy, float* gx);
void conv2d_backward_weight(const Conv2dParams& p, const float* x, const float* gy, float* gw);
void conv2d_backward_bias(const Conv2dParams& p, const float* gy, float* gb);
}  // namespace cuda

}  // namespace sgi
