// CUDA resampling kernels (see common/kernels/resample.h). upfirdn2d: one thread per output
// (forward) or per input element (backward, a gather over the outputs that read it: no atomics).
// Bilinear: one thread per output (forward) or per input element (backward, a gather as well:
// every gradient element is summed by one thread in a fixed order, so it is the same bits on
// every run).
#include <cstdint>
#include "common/kernels/resample.h"
#include "cuda/cuda_check.h"

namespace sgi::cuda {

namespace {

__global__ void upfirdn_forward_kernel(Upfirdn2dParams p, const float* __restrict__ x, const float* __restrict__ k,
                                       float* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t ox = i % p.out_w, oy = (i / p.out_w) % p.out_h, plane = i / (p.out_w * p.out_h);
    const float* xp = x + plane * p.in_h * p.in_w;
    float sum = 0.f;
    for (int ky = 0; ky < p.kernel_h; ++ky) {
      const int64_t qy = oy * p.down_y + ky - p.pad_y0;
      if (qy < 0 || qy % p.up_y != 0 || qy / p.up_y >= p.in_h) continue;
      const float* xr = xp + (qy / p.up_y) * p.in_w;
      const float* kr = k + (p.kernel_h - 1 - ky) * p.kernel_w;
      for (int kx = 0; kx < p.kernel_w; ++kx) {
        const int64_t qx = ox * p.down_x + kx - p.pad_x0;
        if (qx < 0 || qx % p.up_x != 0 || qx / p.up_x >= p.in_w) continue;
        sum += xr[qx / p.up_x] * kr[p.kernel_w - 1 - kx];
      }
    }
    y[i] = sum;
  }
}

__global__ void upfirdn_backward_kernel(Upfirdn2dParams p, const float* __restrict__ gy, const float* __restrict__ k,
                                        float* __restrict__ gx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t ix = i % p.in_w, iy = (i / p.in_w) % p.in_h, plane = i / (p.in_w * p.in_h);
    const float* gp = gy + plane * p.out_h * p.out_w;
    float sum = 0.f;
    for (int ky = 0; ky < p.kernel_h; ++ky) {
      const int64_t qy = iy * p.up_y + p.pad_y0 - ky;
      if (qy < 0 || qy % p.down_y != 0 || qy / p.down_y >= p.out_h) continue;
      const float* gr = gp + (qy / p.down_y) * p.out_w;
      const float* kr = k + (p.kernel_h - 1 - ky) * p.kernel_w;
      for (int kx = 0; kx < p.kernel_w; ++kx) {
        const int64_t qx = ix * p.up_x + p.pad_x0 - kx;
        if (qx < 0 || qx % p.down_x != 0 || qx / p.down_x >= p.out_w) continue;
        sum += gr[qx / p.down_x] * kr[p.kernel_w - 1 - kx];
      }
    }
    gx[i] = sum;
  }
}

__global__ void bilinear_forward_kernel(Bilinear2dParams p, float sh, float sw, const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t ox = i % p.out_w, oy = (i / p.out_w) % p.out_h, plane = i / (p.out_w * p.out_h);
    const resample_math::LinearTap th = resample_math::bilinear_tap(oy, p.in_h, sh, p.align_corners);
    const resample_math::LinearTap tw = resample_math::bilinear_tap(ox, p.in_w, sw, p.align_corners);
    const float* xp = x + plane * p.in_h * p.in_w;
    y[i] = th.w0 * (tw.w0 * xp[th.i0 * p.in_w + tw.i0] + tw.w1 * xp[th.i0 * p.in_w + tw.i1]) +
           th.w1 * (tw.w0 * xp[th.i1 * p.in_w + tw.i0] + tw.w1 * xp[th.i1 * p.in_w + tw.i1]);
  }
}

// The outputs [*lo, *hi) along one axis whose taps read input index i. Both taps of an output
// never decrease with the output index, so the outputs with i1 >= i and i0 <= i are one range,
// found by two binary searches with the forward's own tap function (no inverse formula that
// could round differently).
__device__ void bilinear_readers(int64_t i, int64_t in, int64_t out, float scale, bool align, int64_t* lo, int64_t* hi) {
  int64_t a = 0, b = out;  // the first output with i1 >= i
  while (a < b) {
    const int64_t m = (a + b) / 2;
    if (resample_math::bilinear_tap(m, in, scale, align).i1 >= i) b = m;
    else a = m + 1;
  }
  *lo = a;
  b = out;  // the first output with i0 > i
  while (a < b) {
    const int64_t m = (a + b) / 2;
    if (resample_math::bilinear_tap(m, in, scale, align).i0 > i) b = m;
    else a = m + 1;
  }
  *hi = a;
}

// The weight with which an output with taps t reads input i (both taps when they coincide at the edge).
__device__ __forceinline__ float bilinear_weight(const resample_math::LinearTap& t, int64_t i) {
  return (t.i0 == i ? t.w0 : 0.f) + (t.i1 == i ? t.w1 : 0.f);
}

// gx[plane][iy][ix] = sum over the outputs that read it of weight * gy, rows in order, columns in order.
__global__ void bilinear_backward_kernel(Bilinear2dParams p, float sh, float sw, const float* __restrict__ gy, float* __restrict__ gx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t ix = i % p.in_w, iy = (i / p.in_w) % p.in_h, plane = i / (p.in_w * p.in_h);
    int64_t y0, y1, x0, x1;
    bilinear_readers(iy, p.in_h, p.out_h, sh, p.align_corners, &y0, &y1);
    bilinear_readers(ix, p.in_w, p.out_w, sw, p.align_corners, &x0, &x1);
    const float* gp = gy + plane * p.out_h * p.out_w;
    float sum = 0.f;
    for (int64_t oy = y0; oy < y1; ++oy) {
      const float wy = bilinear_weight(resample_math::bilinear_tap(oy, p.in_h, sh, p.align_corners), iy);
      float row = 0.f;
      for (int64_t ox = x0; ox < x1; ++ox)
        row += bilinear_weight(resample_math::bilinear_tap(ox, p.in_w, sw, p.align_corners), ix) * gp[oy * p.out_w + ox];
      sum += wy * row;
    }
    gx[i] = sum;
  }
}

}  // namespace

void upfirdn2d_forward(const Upfirdn2dParams& p, const float* x, const float* kernel, float* y) {
  const int64_t n = p.planes * p.out_h * p.out_w;
  if (n == 0) return;
  SGI_LAUNCH(blocks_for(n), kThreads, upfirdn_forward_kernel)(p, x, kernel, y, n);
  SGI_CUDA_LAUNCH_CHECK();
}

void upfirdn2d_backward(const Upfirdn2dParams& p, const float* gy, const float* kernel, float* gx) {
  const int64_t n = p.planes * p.in_h * p.in_w;
  if (n == 0) return;
  SGI_LAUNCH(blocks_for(n), kThreads, upfirdn_backward_kernel)(p, gy, kernel, gx, n);
  SGI_CUDA_LAUNCH_CHECK();
}

void bilinear2d_forward(const Bilinear2dParams& p, const float* x, float* y) {
  const int64_t n = p.planes * p.out_h * p.out_w;
  if (n == 0) return;
  const float sh = resample_math::bilinear_scale(p.in_h, p.out_h, p.align_corners);
  const float sw = resample_math::bilinear_scale(p.in_w, p.out_w, p.align_corners);
  SGI_LAUNCH(blocks_for(n), kThreads, bilinear_forward_kernel)(p, sh, sw, x, y, n);
  SGI_CUDA_LAUNCH_CHECK();
}

void bilinear2d_backward(const Bilinear2dParams& p, const float* gy, float* gx) {
  const int64_t n_in = p.planes * p.in_h * p.in_w, n = p.planes * p.out_h * p.out_w;
  if (n_in == 0) return;
  if (n == 0) {
    SGI_CUDA_CHECK(cudaMemsetAsync(gx, 0, size_t(n_in) * sizeof(float)));
    return;
  }
  const float sh = resample_math::bilinear_scale(p.in_h, p.out_h, p.align_corners);
  const float sw = resample_math::bilinear_scale(p.in_w, p.out_w, p.align_corners);
  SGI_LAUNCH(blocks_for(n_in), kThreads, bilinear_backward_kernel)(p, sh, sw, gy, gx, n_in);
  SGI_CUDA_LAUNCH_CHECK();
}

}  // namespace sgi::cuda
