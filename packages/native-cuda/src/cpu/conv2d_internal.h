// Internals shared by cpu/conv2d.cc and cpu/conv2d_winograd*.cc (not part of the kernel interface).
#pragma once
#include <cstdint>
#include <vector>
#include "common/kernels/conv2d.h"

namespace sgi::cpu {

// Winograd F(4x4, 3x3): 3x3 kernels with stride 1 (any padding, any groups).
bool winograd_applicable(const Conv2dParams& p);
// The automatic choice: applicable and large enough for the transforms to pay off.
bool winograd_preferred(const Conv2dParams& p);
// fusion: input affine, PReLU epilogue and pre-transformed weights (common/kernels/conv2d.h).
void winograd_forward(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y, const ConvFusion& fusion = {});
// The transformed weights U [groups][36][kp/MR][cg][MR] for the micro-kernel in use, and their size.
int64_t winograd_weights_size(const Conv2dParams& p);
void winograd_weights(const Conv2dParams& p, const float* w, float* U);

// Stride phases of a convolution's input and the shift of every tap (cpu/conv2d_wgrad.cc).
// Phase (ay, ax) of x is P[u][v] = x[sh*u + ay][sw*v + ax]; tap (ky, kx) reads phase
// ((ky-ph) mod sh, (kx-pw) mod sw) at (oy + qy, ox + qx), qy = floor((ky-ph)/sh). Laid on a zero-
// padded grid of width gw (row u' = u + uy0, column v' = v + ux0), output pixel (oy, ox) at grid
// index d = oy*gw + ox reads the tap's phase image at d + tap_shift. Grid columns ox >= ow are
// padding (their results are discarded, their inputs are finite).
struct ShiftPlan {
  int64_t gh = 0, gw = 0, uy0 = 0, ux0 = 0;
  int64_t depth = 0;  // oh * gw: grid indices of the output
  int64_t span = 0;   // largest tap shift + 1
  int phases = 0;     // sh * sw
  std::vector<int> tap_phase;      // per tap (ky*kw + kx): ay*sw + ax
  std::vector<int64_t> tap_shift;  // per tap
  // Grid row u' of phase image (ay, ax) reads x row sh*(u' - uy0) + ay; column v' reads sw*(v' - ux0) + ax.
};
ShiftPlan make_shift_plan(const Conv2dParams& p);

// Winograd weight gradient for 3x3 stride-1 convolutions (cpu/conv2d_winograd.cc).
bool winograd_wgrad_preferred(const Conv2dParams& p);
void winograd_backward_weight(const Conv2dParams& p, const float* x, const float* gy, float* gw);

// Weight gradient as shifted GEMMs over stride-phase images (cpu/conv2d_wgrad.cc); any geometry.
void backward_weight_shift(const Conv2dParams& p, const float* x, const float* gy, float* gw);

namespace winograd {

// One group of one convolution, as the transforms see it. Output tiles of 4x4 are numbered
// t = (n * tiles_h + ty) * tiles_w + tx over the whole batch; the GEMM's columns are tiles.
struct Geometry {
  int64_t n = 0, h = 0, w = 0, oh = 0, ow = 0;
  int64_t tiles_h = 0, tiles_w = 0, tiles = 0;
  int ph = 0, pw = 0;
  int64_t cg = 0, kg = 0, kp = 0;  // channels per group, and kg padded to the micro-kernel's MR
  int64_t x_image = 0, y_image = 0;  // element strides between images of x and y
  // Fusion (forward only; the group's channels, may be null): x*in_scale + in_shift on the input
  // (padding stays zero), PReLU with slope on the output.
  const float* in_scale = nullptr;
  const float* in_shift = nullptr;
  const float* slope = nullptr;
  // Channel sums of the output (forward only, may be null): sums[n * sums_stride + k] += each
  // stored value of output channel k (the group's) of image n.
  float* sums = nullptr;
  int64_t sums_stride = 0;
};

// Tile panels per block are at most this many (the transforms keep per-panel state on the stack).
constexpr int kMaxPanels = 8;

// The transforms for one micro-kernel shape (lanes = its MR for weights, NR for tiles).
// Packed layouts match cpu/gemm_internal.h: U [36][kp/MR][cg][MR] (A panels), V [36][panels][cg][NR]
// (B panels), M [36][rows][panels*NR] (the GEMM output, row stride panels*NR).
struct Kernels {
  int mr, nr;
  // w [kg][cg][3][3] (the group's weights) -> U panels [p0, p1) (rows k >= kg zero); panel p is
  // stored at index p - ubase of U [36][upanels][cg][MR]
  void (*weights)(const Geometry& g, const float* w, int64_t p0, int64_t p1, float* U, int64_t upanels, int64_t ubase);
  // Tiles [tile0, tile0 + panels*NR), channels [c0, c1) of the group's input (x points at image 0,
  // channel 0 of the group) -> V
  void (*input)(const Geometry& g, const float* x, int64_t tile0, int64_t panels, int64_t c0, int64_t c1, float* V);
  // M [36][m_rows][panels*NR] holding output channels [k0, k1) -> y (image 0, channel 0 of the
  // group) for tiles [tile0, tile0 + panels*NR), adding bias (the group's, may be null)
  void (*output)(const Geometry& g, const float* M, int64_t m_rows, int64_t k0, int64_t k1, int64_t tile0, int64_t panels,
                 const float* bias, float* y);
  // Weight gradient (channels as lanes, tiles as the GEMM depth):
  // rows [r0, r1) of a zero-padded channels-last copy dst[(r*cols + j)*cs + c] = src[c][r - top][j - left]
  void (*nhwc)(const float* src, int64_t channels, int64_t h, int64_t w, int64_t top, int64_t left, int64_t r0, int64_t r1,
               int64_t cols, int64_t cs, float* dst);
  // tiles [t0, t1) of one image: x patches (padded copy, row stride wp, channel stride cs) ->
  // B [36][cpanels][depth][NR] at depth toff + (t - t0)
  void (*wg_x)(const Geometry& g, const float* xt, int64_t wp, int64_t cs, int64_t t0, int64_t t1, int64_t cpanels, int64_t depth,
               int64_t toff, float* B);
  // gy tiles (copy with row stride wp, channel stride ks) -> A [36][kpanels][depth][MR]
  void (*wg_gy)(const Geometry& g, const float* gt, int64_t wp, int64_t ks, int64_t t0, int64_t t1, int64_t kpanels, int64_t depth,
                int64_t toff, float* A);
  // dU [36][kp][ldu] -> gw[k][c][3][3] for output channels [k0, k1)
  void (*wg_finish)(const Geometry& g, const float* dU, int64_t ldu, int64_t k0, int64_t k1, float* gw);
};
const Kernels* kernels_avx512();  // cpu/conv2d_winograd_avx512.cc
const Kernels* kernels_avx2();    // cpu/conv2d_winograd_avx2.cc
const Kernels* kernels_generic(); // cpu/conv2d_winograd.cc

}  // namespace winograd
}  // namespace sgi::cpu
