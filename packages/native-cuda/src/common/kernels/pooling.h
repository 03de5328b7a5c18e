// Pooling over [N, C, H, W] tensors (contiguous; N*C "planes" of H x W): adaptive average
// pooling over an optional crop window (the ID-loss crop is fused into it), max pooling with
// saved argmax, and average pooling. Implemented in cpu/pooling.cc and cuda/pooling.cu with the
// same names. Sizes are computed and validated by the caller (napi/pooling.cc).
#pragma once
#include <cstdint>

namespace sgi {

// Adaptive average pooling of the crop x[:, :, top:top+crop_h, left:left+crop_w] to out_h x out_w
// with PyTorch's windows: rows floor(i*crop_h/out_h) .. ceil((i+1)*crop_h/out_h) (exclusive),
// likewise for columns. Covers non-divisible and up-sampling sizes. No crop: top = left = 0,
// crop_h = in_h, crop_w = in_w.
struct AdaptivePool2dParams {
  int64_t planes = 0;
  int64_t in_h = 0, in_w = 0;
  int64_t top = 0, left = 0, crop_h = 0, crop_w = 0;
  int64_t out_h = 0, out_w = 0;
};

// Fixed-window pooling (PyTorch MaxPool2d / AvgPool2d, dilation 1). out_h/out_w are computed by
// the caller (floor or ceil mode). Window of output (oh, ow): rows oh*stride_h - pad_h + [0, kernel_h).
struct Pool2dParams {
  int64_t planes = 0;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  bool count_include_pad = true;  // avg pool divisor: window clipped to the padded input (PyTorch), else to the input
};

namespace cpu {
void adaptive_avg_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y);
// gx has the full input size (zero outside the crop)
void adaptive_avg_pool2d_backward(const AdaptivePool2dParams& p, const float* gy, float* gx);
// indices (may be null): the argmax per output as a float index ih*in_w + iw within its plane
// (first maximum in row-major window order; NaN propagates, as PyTorch)
void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, float* indices);
void max_pool2d_backward(const Pool2dParams& p, const float* gy, const float* indices, float* gx);
void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y);
void avg_pool2d_backward(const Pool2dParams& p, const float* gy, float* gx);
}  // namespace cpu

namespace cuda {
void adaptive_avg_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y);
void adaptive_avg_pool2d_backward(const AdaptivePool2dParams& p, const float* gy, float* gx);
void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, float* indices);
void max_pool2d_backward(const Pool2dParams& p, const float* gy, const float* indices, float* gx);
void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y);
void avg_pool2d_backward(const Pool2dParams& p, const float* gy, float* gx);
}  // namespace cuda

// Shared index arithmetic (host and device).
#ifndef SGI_HD
#if defined(__CUDACC__)
#define SGI_HD __host__ __device__ inline
#else
#define SGI_HD inline
#endif
#endif

namespace pool_math {
// floor(a / b) and ceil(a / b) for b > 0 and any sign of a
SGI_HD int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
SGI_HD int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
// Adaptive window [start, end) of output i (in -> out)
SGI_HD int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
SGI_HD int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }
// Outputs whose adaptive window contains input j: [floor(j*out/in), ceil((j+1)*out/in)) (exclusive)
SGI_HD int64_t adaptive_first_out(int64_t j, int64_t in, int64_t out) { return (j * out) / in; }
SGI_HD int64_t adaptive_last_out(int64_t j, int64_t in, int64_t out) { return ((j + 1) * out + in - 1) / in; }
// Outputs whose fixed window (kernel k, stride s, pad p) contains input j: [first, last) clipped to [0, n_out)
SGI_HD int64_t window_first_out(int64_t j, int k, int s, int p) {
  int64_t f = ceil_div(j + p - k + 1, s);
  return f < 0 ? 0 : f;
}
SGI_HD int64_t window_last_out(int64_t j, int s, int p, int64_t n_out) {
  int64_t l = floor_div(j + p, s) + 1;
  return l > n_out ? n_out : l;
}
// Average-pool divisor along one axis for output o (PyTorch's rule): the window clipped to the
// padded input when padding counts, else to the input. The 2-d divisor is the product of both axes.
SGI_HD int64_t avg_extent(int64_t o, int64_t in, int k, int s, int p, bool count_include_pad) {
  int64_t start = o * s - p, end = start + k;
  if (end > in + p) end = in + p;
  if (count_include_pad) return end - start;
  if (start < 0) start = 0;
  if (end > in) end = in;
  return end - start;
}
SGI_HD int64_t avg_divisor(const Pool2dParams& p, int64_t oh, int64_t ow) {
  return avg_extent(oh, p.in_h, p.kernel_h, p.stride_h, p.pad_h, p.count_include_pad) *
         avg_extent(ow, p.in_w, p.kernel_w, p.stride_w, p.pad_w, p.count_include_pad);
}
}  // namespace pool_math

}  // namespace sgi
