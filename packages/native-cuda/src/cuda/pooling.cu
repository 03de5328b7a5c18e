// CUDA pooling kernels (see common/kernels/pooling.h). One thread per output element for the
// forward passes; the backward passes gather (one thread per input element sums the outputs
// whose window contains it), so there are no atomics and results are deterministic.
#include <cstdint>
#include "common/kernels/pooling.h"
#include "cuda/cuda_check.h"

namespace sgi::cuda {

using namespace pool_math;

namespace {

__global__ void adaptive_avg_forward_kernel(AdaptivePool2dParams p, const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t ow = i % p.out_w, oh = (i / p.out_w) % p.out_h, plane = i / (p.out_w * p.out_h);
    const int64_t hs = adaptive_start(oh, p.crop_h, p.out_h), he = adaptive_end(oh, p.crop_h, p.out_h);
    const int64_t ws = adaptive_start(ow, p.crop_w, p.out_w), we = adaptive_end(ow, p.crop_w, p.out_w);
    const float* xp = x + plane * p.in_h * p.in_w + p.top * p.in_w + p.left;
    float sum = 0.f;
    for (int64_t ih = hs; ih < he; ++ih)
      for (int64_t iw = ws; iw < we; ++iw) sum += xp[ih * p.in_w + iw];
    y[i] = sum / float((he - hs) * (we - ws));
  }
}

__global__ void adaptive_avg_backward_kernel(AdaptivePool2dParams p, const float* __restrict__ gy, float* __restrict__ gx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t iw = i % p.in_w, ih = (i / p.in_w) % p.in_h, plane = i / (p.in_w * p.in_h);
    const int64_t ch = ih - p.top, cw = iw - p.left;
    float sum = 0.f;
    if (ch >= 0 && ch < p.crop_h && cw >= 0 && cw < p.crop_w) {
      const int64_t oh0 = adaptive_first_out(ch, p.crop_h, p.out_h), oh1 = adaptive_last_out(ch, p.crop_h, p.out_h);
      const int64_t ow0 = adaptive_first_out(cw, p.crop_w, p.out_w), ow1 = adaptive_last_out(cw, p.crop_w, p.out_w);
      const float* gp = gy + plane * p.out_h * p.out_w;
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        const float hh = float(adaptive_end(oh, p.crop_h, p.out_h) - adaptive_start(oh, p.crop_h, p.out_h));
        for (int64_t ow = ow0; ow < ow1; ++ow) {
          const float ww = float(adaptive_end(ow, p.crop_w, p.out_w) - adaptive_start(ow, p.crop_w, p.out_w));
          sum += gp[oh * p.out_w + ow] / (hh * ww);
        }
      }
    }
    gx[i] = sum;
  }
}

__global__ void max_forward_kernel(Pool2dParams p, const float* __restrict__ x, float* __restrict__ y, float* __restrict__ indices, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t ow = i % p.out_w, oh = (i / p.out_w) % p.out_h, plane = i / (p.out_w * p.out_h);
    int64_t hs = oh * p.stride_h - p.pad_h, he = hs + p.kernel_h, ws = ow * p.stride_w - p.pad_w, we = ws + p.kernel_w;
    hs = hs < 0 ? 0 : hs;
    ws = ws < 0 ? 0 : ws;
    he = he > p.in_h ? p.in_h : he;
    we = we > p.in_w ? p.in_w : we;
    const float* xp = x + plane * p.in_h * p.in_w;
    float best = -INFINITY;
    int64_t arg = hs * p.in_w + ws;
    bool nan = false;
    for (int64_t ih = hs; ih < he && !nan; ++ih)
      for (int64_t iw = ws; iw < we; ++iw) {
        const float v = xp[ih * p.in_w + iw];
        if (v > best || isnan(v)) {
          best = v;
          arg = ih * p.in_w + iw;
          if (isnan(v)) { nan = true; break; }
        }
      }
    y[i] = best;
    if (indices) indices[i] = float(arg);
  }
}

__global__ void max_backward_kernel(Pool2dParams p, const float* __restrict__ gy, const float* __restrict__ indices, float* __restrict__ gx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t iw = i % p.in_w, ih = (i / p.in_w) % p.in_h, plane = i / (p.in_w * p.in_h);
    const int64_t oh0 = window_first_out(ih, p.kernel_h, p.stride_h, p.pad_h), oh1 = window_last_out(ih, p.stride_h, p.pad_h, p.out_h);
    const int64_t ow0 = window_first_out(iw, p.kernel_w, p.stride_w, p.pad_w), ow1 = window_last_out(iw, p.stride_w, p.pad_w, p.out_w);
    const float* gp = gy + plane * p.out_h * p.out_w;
    const float* ip = indices + plane * p.out_h * p.out_w;
    const float self = float(ih * p.in_w + iw);
    float sum = 0.f;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow)
        if (ip[oh * p.out_w + ow] == self) sum += gp[oh * p.out_w + ow];
    gx[i] = sum;
  }
}

__global__ void avg_forward_kernel(Pool2dParams p, const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t ow = i % p.out_w, oh = (i / p.out_w) % p.out_h, plane = i / (p.out_w * p.out_h);
    int64_t hs = oh * p.stride_h - p.pad_h, he = hs + p.kernel_h, ws = ow * p.stride_w - p.pad_w, we = ws + p.kernel_w;
    hs = hs < 0 ? 0 : hs;
    ws = ws < 0 ? 0 : ws;
    he = he > p.in_h ? p.in_h : he;
    we = we > p.in_w ? p.in_w : we;
    const float* xp = x + plane * p.in_h * p.in_w;
    float sum = 0.f;
    for (int64_t ih = hs; ih < he; ++ih)
      for (int64_t iw = ws; iw < we; ++iw) sum += xp[ih * p.in_w + iw];
    const int64_t div = avg_divisor(p, oh, ow);
    y[i] = div > 0 ? sum / float(div) : 0.f;
  }
}

__global__ void avg_backward_kernel(Pool2dParams p, const float* __restrict__ gy, float* __restrict__ gx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t iw = i % p.in_w, ih = (i / p.in_w) % p.in_h, plane = i / (p.in_w * p.in_h);
    const int64_t oh0 = window_first_out(ih, p.kernel_h, p.stride_h, p.pad_h), oh1 = window_last_out(ih, p.stride_h, p.pad_h, p.out_h);
    const int64_t ow0 = window_first_out(iw, p.kernel_w, p.stride_w, p.pad_w), ow1 = window_last_out(iw, p.stride_w, p.pad_w, p.out_w);
    const float* gp = gy + plane * p.out_h * p.out_w;
    float sum = 0.f;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const int64_t div = avg_divisor(p, oh, ow);
        if (div > 0) sum += gp[oh * p.out_w + ow] / float(div);
      }
    gx[i] = sum;
  }
}

}  // namespace

void adaptive_avg_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y) {
  const int64_t n = p.planes * p.out_h * p.out_w;
  if (n == 0) return;
  SGI_LAUNCH(blocks_for(n), kThreads, adaptive_avg_forward_kernel)(p, x, y, n);
  SGI_CUDA_LAUNCH_CHECK();
}

void adaptive_avg_pool2d_backward(const AdaptivePool2dParams& p, const float* gy, float* gx) {
  const int64_t n = p.planes * p.in_h * p.in_w;
  if (n == 0) return;
  SGI_LAUNCH(blocks_for(n), kThreads, adaptive_avg_backward_kernel)(p, gy, gx, n);
  SGI_CUDA_LAUNCH_CHECK();
}

void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, float* indices) {
  const int64_t n = p.planes * p.out_h * p.out_w;
  if (n == 0) return;
  SGI_LAUNCH(blocks_for(n), kThreads, max_forward_kernel)(p, x, y, indices, n);
  SGI_CUDA_LAUNCH_CHECK();
}

void max_pool2d_backward(const Pool2dParams& p, const float* gy, const float* indices, float* gx) {
  const int64_t n = p.planes * p.in_h * p.in_w;
  if (n == 0) return;
  SGI_LAUNCH(blocks_for(n), kThreads, max_backward_kernel)(p, gy, indices, gx, n);
  SGI_CUDA_LAUNCH_CHECK();
}

void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y) {
  const int64_t n = p.planes * p.out_h * p.out_w;
  if (n == 0) return;
  SGI_LAUNCH(blocks_for(n), kThreads, avg_forward_kernel)(p, x, y, n);
  SGI_CUDA_LAUNCH_CHECK();
}

void avg_pool2d_backward(const Pool2dParams& p, const float* gy, float* gx) {
  const int64_t n = p.planes * p.in_h * p.in_w;
  if (n == 0) return;
  SGI_LAUNCH(blocks_for(n), kThreads, avg_backward_kernel)(p, gy, gx, n);
  SGI_CUDA_LAUNCH_CHECK();
}

}  // namespace sgi::cuda
