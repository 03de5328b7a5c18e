// CUDA convolutions (see common/kernels/conv2d.h). With cuDNN loaded at run time (cuda/cudnn.h)
// the three passes go to cuDNN; otherwise im2col / col2im kernels around the CUDA GEMM of
// cuda/gemm.cu, one image and group at a time, with a device workspace for the column matrix
// that only grows. col2im gathers (one thread per input element), so there are no atomics.
// cuDNN is an accelerator, never a requirement: a pass that it cannot run (a tensor beyond its
// legacy API's limits, or any failing cuDNN call) runs on the built-in kernels instead.
#include <array>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include "common/device.h"
#include "common/kernels/conv2d.h"
#include "common/kernels/gemm.h"
#include "cuda/cuda_check.h"
#include "cuda/cudnn.h"

namespace sgi::cuda {

namespace {

float* g_col = nullptr;
size_t g_col_size = 0;

// From the caching allocator: a full device gives back its cached blocks for it, and the old
// buffer returns to the cache (its next owner is queued after the kernels that used it).
float* column_workspace(size_t numel) {
  if (numel > g_col_size) {
    release(g_col);
    g_col = nullptr;
    g_col_size = 0;
    g_col = alloc(numel);
    g_col_size = numel;
  }
  return g_col;
}

struct Geo {
  int64_t H, W, OH, OW;
  int kh, kw, sh, sw, ph, pw;
};

Geo geo_of(const Conv2dParams& p) { return Geo{p.h, p.w, p.oh, p.ow, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw}; }

// col[(ci*kh + ky)*kw + kx][oy*OW + ox] = x[ci][oy*sh - ph + ky][ox*sw - pw + kx] (0 outside)
__global__ void im2col_kernel(Geo g, int64_t channels, const float* __restrict__ x, float* __restrict__ col) {
  const int64_t P = g.OH * g.OW, n = channels * g.kh * g.kw * P;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t pix = i % P, row = i / P;
    const int kx = int(row % g.kw), ky = int((row / g.kw) % g.kh);
    const int64_t ci = row / (int64_t(g.kw) * g.kh);
    const int64_t oy = pix / g.OW, ox = pix % g.OW;
    const int64_t iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx;
    col[i] = (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) ? x[(ci * g.H + iy) * g.W + ix] : 0.f;
  }
}

// gx[ci][iy][ix] = sum over the (ky, kx, oy, ox) whose window covers (iy, ix) of col[...]
__global__ void col2im_kernel(Geo g, int64_t channels, const float* __restrict__ col, float* __restrict__ gx) {
  const int64_t P = g.OH * g.OW, n = channels * g.H * g.W;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t ix = i % g.W, iy = (i / g.W) % g.H, ci = i / (g.W * g.H);
    float s = 0.f;
    for (int ky = 0; ky < g.kh; ++ky) {
      const int64_t ty = iy + g.ph - ky;
      if (ty < 0 || ty % g.sh != 0) continue;
      const int64_t oy = ty / g.sh;
      if (oy >= g.OH) continue;
      for (int kx = 0; kx < g.kw; ++kx) {
        const int64_t tx = ix + g.pw - kx;
        if (tx < 0 || tx % g.sw != 0) continue;
        const int64_t ox = tx / g.sw;
        if (ox >= g.OW) continue;
        s += col[((ci * g.kh + ky) * g.kw + kx) * P + oy * g.OW + ox];
      }
    }
    gx[i] = s;
  }
}

// y[n][k][:] += b[k]
__global__ void add_channel_bias_kernel(int64_t total, int64_t K, int64_t P, const float* __restrict__ b, float* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(blockDim.x) * gridDim.x)
    y[i] += b[(i / P) % K];
}

// One block per channel: gb[k] = sum over n and pixels of gy (tree reduction in shared memory).
__global__ void bias_grad_kernel(int64_t N, int64_t K, int64_t P, const float* __restrict__ gy, float* __restrict__ gb) {
  __shared__ float part[kThreads];
  const int64_t k = blockIdx.x;
  float s = 0.f;
  for (int64_t n = 0; n < N; ++n) {
    const float* r = gy + (n * K + k) * P;
    for (int64_t j = threadIdx.x; j < P; j += blockDim.x) s += r[j];
  }
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (int(threadIdx.x) < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) gb[k] = part[0];
}

bool fits_int(const Conv2dParams& p) {
  const int64_t lim = int64_t(1) << 30;
  return p.n < lim && p.c < lim && p.h < lim && p.w < lim && p.k < lim;
}

// x * y * z * t <= 2^31 - 1, without overflow (every factor is below 2^31).
bool count_fits_int32(int64_t x, int64_t y, int64_t z, int64_t t) {
  const int64_t lim = 0x7fffffffLL;
  int64_t n = 1;
  for (int64_t f : {x, y, z, t}) {
    if (f != 0 && n > lim / f) return false;
    n *= f;
  }
  return true;
}

// cuDNN's legacy API takes int sizes and refuses (or overflows on) a tensor of more than
// 2^31 - 1 elements, so x, w and y are checked before it is called.
bool use_cudnn(const Conv2dParams& p) {
  return fits_int(p) && count_fits_int32(p.n, p.c, p.h, p.w) && count_fits_int32(p.n, p.k, p.oh, p.ow) &&
         count_fits_int32(p.k, p.c / p.groups, p.kh, p.kw) && cudnn_conv_available();
}

// A pass of a convolution shape on which cuDNN failed: it runs on the built-in kernels from then
// on, without trying cuDNN (and failing) again on every call.
enum class Pass { Forward, BackwardData, BackwardFilter };
using FailedKey = std::array<int64_t, 13>;
std::mutex g_failed_mutex;
std::set<FailedKey> g_failed;

FailedKey failed_key(const Conv2dParams& p, Pass pass) {
  return FailedKey{p.n, p.c, p.h, p.w, p.k, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.groups, int64_t(pass)};
}

// Runs `call` (a cuDNN pass) when cuDNN may take this convolution; false when it may not or when
// the call failed, and then the caller runs the built-in kernels. A failure is never an error
// (cuDNN is only an accelerator): the first one of the process is printed, once.
template <typename Call>
bool run_cudnn(const Conv2dParams& p, Pass pass, Call call) {
  if (!use_cudnn(p)) return false;
  const FailedKey key = failed_key(p, pass);
  {
    std::lock_guard<std::mutex> lock(g_failed_mutex);
    if (g_failed.count(key)) return false;
  }
  try {
    call();
    return true;
  } catch (const std::exception& e) {
    cudaGetLastError();  // a CUDA error cuDNN left behind is not the next kernel's
    std::lock_guard<std::mutex> lock(g_failed_mutex);
    const bool first = g_failed.empty();
    g_failed.insert(key);
    if (first) {
      static const char* names[] = {"forward", "backward-data", "backward-filter"};
      std::fprintf(stderr,
                   "sgi: warning: %s; the %s pass of this convolution (input [%lld, %lld, %lld, %lld], %lld filters %dx%d, "
                   "stride %dx%d, padding %dx%d, groups %d) and any other that cuDNN fails on run on the built-in CUDA "
                   "kernels (this warning is printed once)\n",
                   e.what(), names[int(pass)], (long long)p.n, (long long)p.c, (long long)p.h, (long long)p.w, (long long)p.k,
                   p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.groups);
    }
    return false;
  }
}

void add_bias(const Conv2dParams& p, const float* b, float* y) {
  const int64_t P = p.oh * p.ow, total = p.n * p.k * P;
  if (!b || total == 0) return;
  SGI_LAUNCH(blocks_for(total), kThreads, add_channel_bias_kernel)(total, p.k, P, b, y);
  SGI_CUDA_LAUNCH_CHECK();
}

}  // namespace

void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y) {
  if (p.n == 0 || p.k == 0 || p.oh == 0 || p.ow == 0) return;
  if (p.c > 0 && run_cudnn(p, Pass::Forward, [&] {
        cudnn_conv2d_forward(int(p.n), int(p.c), int(p.h), int(p.w), int(p.k), p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.groups, x, w, y);
      })) {
    add_bias(p, b, y);
    return;
  }
  const Geo g = geo_of(p);
  const int64_t G = p.groups, Cg = p.c / G, Kg = p.k / G, Kdim = Cg * p.kh * p.kw, P = p.oh * p.ow;
  const bool plain = p.kh == 1 && p.kw == 1 && p.sh == 1 && p.sw == 1 && p.ph == 0 && p.pw == 0;
  float* col = plain ? nullptr : column_workspace(size_t(Kdim * P));
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t gi = 0; gi < G; ++gi) {
      const float* xg = x + (n * p.c + gi * Cg) * p.h * p.w;
      const float* src = xg;
      if (!plain) {
        SGI_LAUNCH(blocks_for(Kdim * P), kThreads, im2col_kernel)(g, Cg, xg, col);
        SGI_CUDA_LAUNCH_CHECK();
        src = col;
      }
      gemm(false, false, Kg, P, Kdim, 1.f, w + gi * Kg * Kdim, Kdim, src, P, 0.f, y + (n * p.k + gi * Kg) * P, P);
    }
  add_bias(p, b, y);
}

void conv2d_backward_input(const Conv2dParams& p, const float* w, const float* gy, float* gx) {
  if (p.n == 0 || p.c == 0 || p.h == 0 || p.w == 0) return;
  if (p.k == 0 || p.oh == 0 || p.ow == 0) { SGI_CUDA_CHECK(cudaMemset(gx, 0, size_t(p.n * p.c * p.h * p.w) * sizeof(float))); return; }
  if (run_cudnn(p, Pass::BackwardData, [&] {
        cudnn_conv2d_backward_data(int(p.n), int(p.c), int(p.h), int(p.w), int(p.k), p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.groups, w, gy, gx);
      }))
    return;
  const Geo g = geo_of(p);
  const int64_t G = p.groups, Cg = p.c / G, Kg = p.k / G, Kdim = Cg * p.kh * p.kw, P = p.oh * p.ow;
  float* col = column_workspace(size_t(Kdim * P));
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t gi = 0; gi < G; ++gi) {
      gemm(true, false, Kdim, P, Kg, 1.f, w + gi * Kg * Kdim, Kdim, gy + (n * p.k + gi * Kg) * P, P, 0.f, col, P);
      SGI_LAUNCH(blocks_for(Cg * p.h * p.w), kThreads, col2im_kernel)(g, Cg, col, gx + (n * p.c + gi * Cg) * p.h * p.w);
      SGI_CUDA_LAUNCH_CHECK();
    }
}

void conv2d_backward_weight(const Conv2dParams& p, const float* x, const float* gy, float* gw) {
  const int64_t G = p.groups, Cg = p.c / G, Kg = p.k / G, Kdim = Cg * p.kh * p.kw, P = p.oh * p.ow;
  if (p.k == 0 || Kdim == 0) return;
  if (p.n == 0 || P == 0) { SGI_CUDA_CHECK(cudaMemset(gw, 0, size_t(p.k * Kdim) * sizeof(float))); return; }
  if (run_cudnn(p, Pass::BackwardFilter, [&] {
        cudnn_conv2d_backward_filter(int(p.n), int(p.c), int(p.h), int(p.w), int(p.k), p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.groups, x, gy, gw);
      }))
    return;
  const Geo g = geo_of(p);
  const bool plain = p.kh == 1 && p.kw == 1 && p.sh == 1 && p.sw == 1 && p.ph == 0 && p.pw == 0;
  float* col = plain ? nullptr : column_workspace(size_t(Kdim * P));
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t gi = 0; gi < G; ++gi) {
      const float* xg = x + (n * p.c + gi * Cg) * p.h * p.w;
      const float* src = xg;
      if (!plain) {
        SGI_LAUNCH(blocks_for(Kdim * P), kThreads, im2col_kernel)(g, Cg, xg, col);
        SGI_CUDA_LAUNCH_CHECK();
        src = col;
      }
      gemm(false, true, Kg, Kdim, P, 1.f, gy + (n * p.k + gi * Kg) * P, P, src, P, n == 0 ? 0.f : 1.f, gw + gi * Kg * Kdim, Kdim);
    }
}

void conv2d_backward_bias(const Conv2dParams& p, const float* gy, float* gb) {
  if (p.k == 0) return;
  SGI_LAUNCH(unsigned(p.k), kThreads, bias_grad_kernel)(p.n, p.k, p.oh * p.ow, gy, gb);
  SGI_CUDA_LAUNCH_CHECK();
}

}  // namespace sgi::cuda
