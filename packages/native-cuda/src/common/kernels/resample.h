// Resampling over [N, C, H, W] tensors (contiguous; N*C planes): StyleGAN2's upfirdn2d
// (upsample by zero insertion, pad / crop, FIR filter, downsample) and bilinear interpolation
// (PyTorch's F.interpolate(mode='bilinear')). Implemented in cpu/resample.cc and
// cuda/resample.cu with the same names. Sizes are computed and validated by napi/resample.cc.
#pragma once
#include <cstdint>

namespace sgi {

// upfirdn2d as in rosinality's StyleGAN2 port (upfirdn2d_native):
//   U[p][q] = x[p/up_y][q/up_x] when p % up_y == 0 and q % up_x == 0, else 0  (zero insertion)
//   P = U padded by pad_y0/pad_y1 rows and pad_x0/pad_x1 columns (negative = crop)
//   C = conv2d(P, flip(kernel))  i.e. a true convolution with the kernel
//   y = C[::down_y, ::down_x]
// so y[oy][ox] = sum_{i,j} U[oy*down_y + i - pad_y0][ox*down_x + j - pad_x0] * kernel[kh-1-i][kw-1-j]
// out_h = (in_h*up_y + pad_y0 + pad_y1 - kh) / down_y + 1 (likewise out_w).
struct Upfirdn2dParams {
  int64_t planes = 0;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int up_x = 1, up_y = 1, down_x = 1, down_y = 1;
  int pad_x0 = 0, pad_x1 = 0, pad_y0 = 0, pad_y1 = 0;
  int kernel_h = 1, kernel_w = 1;
};

// Bilinear interpolation, PyTorch semantics for an output size (no scale factor):
//   align_corners: src = dst * (in-1)/(out-1) (0 when out == 1)
//   else:          src = max(0, (dst + 0.5) * in/out - 0.5)
//   i0 = floor(src), i1 = min(i0 + 1, in - 1), weights (1 - (src - i0), src - i0).
struct Bilinear2dParams {
  int64_t planes = 0;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  bool align_corners = true;
};

namespace cpu {
// kernel: [kernel_h, kernel_w] on the same device as x
void upfirdn2d_forward(const Upfirdn2dParams& p, const float* x, const float* kernel, float* y);
void upfirdn2d_backward(const Upfirdn2dParams& p, const float* gy, const float* kernel, float* gx);
void bilinear2d_forward(const Bilinear2dParams& p, const float* x, float* y);
void bilinear2d_backward(const Bilinear2dParams& p, const float* gy, float* gx);
}  // namespace cpu

namespace cuda {
void upfirdn2d_forward(const Upfirdn2dParams& p, const float* x, const float* kernel, float* y);
void upfirdn2d_backward(const Upfirdn2dParams& p, const float* gy, const float* kernel, float* gx);
void bilinear2d_forward(const Bilinear2dParams& p, const float* x, float* y);
void bilinear2d_backward(const Bilinear2dParams& p, const float* gy, float* gx);
}  // namespace cuda

#ifndef SGI_HD
#if defined(__CUDACC__)
#define SGI_HD __host__ __device__ inline
#else
#define SGI_HD inline
#endif
#endif

namespace resample_math {
// Source coordinate and taps of output index `dst` along one axis (PyTorch's area_pixel rule).
struct LinearTap {
  int64_t i0, i1;
  float w0, w1;
};
SGI_HD float bilinear_scale(int64_t in, int64_t out, bool align_corners) {
  if (align_corners) return out > 1 ? float(in - 1) / float(out - 1) : 0.f;
  return float(in) / float(out);
}
SGI_HD LinearTap bilinear_tap(int64_t dst, int64_t in, float scale, bool align_corners) {
  float src = align_corners ? scale * float(dst) : scale * (float(dst) + 0.5f) - 0.5f;
  if (src < 0.f) src = 0.f;
  int64_t i0 = int64_t(src);
  if (i0 > in - 1) i0 = in - 1;
  int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
  float l1 = src - float(i0);
  if (l1 > 1.f) l1 = 1.f;
  LinearTap t;
  t.i0 = i0;
  t.i1 = i1;
  t.w0 = 1.f - l1;
  t.w1 = l1;
  return t;
}
}  // namespace resample_math

}  // namespace sgi
