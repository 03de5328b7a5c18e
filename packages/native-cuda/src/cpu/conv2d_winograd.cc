// Winograd F(4x4, 3x3) forward convolution (3x3, stride 1): 36 GEMMs of [K x C] x [C x tiles]
// instead of one [K x 9C] x [9C x pixels] product, 4x fewer multiplies.
//   1. weights: U = G g G^T, packed straight into the micro-kernel's A panels (once per call);
//   2. per block of tiles (threads take blocks): inputs V = B^T d B packed straight into B panels,
//      the 36 products with the micro-kernel of cpu/gemm_*.cc (no packing pass), and the output
//      transform y = A^T M A (+ bias) scattered into y.
// The batch is folded into the tiles, so small images still fill the GEMM. The transforms live in
// winograd_impl.h, compiled once per ISA to match the micro-kernel's tile shape.
#include <algorithm>
#include <cstring>
#include "common/cpu_features.h"
#include "common/parallel.h"
#include "cpu/gemm_internal.h"

#define SGI_WINO_MR 4
#define SGI_WINO_NR 8
#include "cpu/winograd_impl.h"

namespace sgi::cpu {

namespace winograd {
const Kernels* kernels_generic() { return &kWinogradKernels; }
}  // namespace winograd

using namespace gemm_detail;

namespace {
const winograd::Kernels& kernels_for(const MicroKernel& uk) {
  const winograd::Kernels* k = nullptr;
  if (uk.mr == 14 && uk.nr == 32) k = winograd::kernels_avx512();
  else if (uk.mr == 6 && uk.nr == 16) k = winograd::kernels_avx2();
  if (!k || k->mr != uk.mr || k->nr != uk.nr) k = winograd::kernels_generic();
  return *k;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

bool winograd_applicable(const Conv2dParams& p) {
  return p.kh == 3 && p.kw == 3 && p.sh == 1 && p.sw == 1 && p.c > 0 && p.k > 0 && p.oh > 0 && p.ow > 0 && p.n > 0;
}

bool winograd_preferred(const Conv2dParams& p) {
  if (!winograd_applicable(p)) return false;
  const int64_t cg = p.c / p.groups, kg = p.k / p.groups;
  const int64_t tiles = p.n * ceil_div(p.oh, 4) * ceil_div(p.ow, 4);
  return cg >= 16 && kg >= 16 && tiles >= 16;
}

namespace {

// The geometry of group gi: the fused per-channel vectors offset to the group's channels.
winograd::Geometry group_geometry(const winograd::Geometry& g, int64_t gi) {
  winograd::Geometry gg = g;
  if (g.in_scale) gg.in_scale = g.in_scale + gi * g.cg;
  if (g.in_shift) gg.in_shift = g.in_shift + gi * g.cg;
  if (g.slope) gg.slope = g.slope + gi * g.kg;
  if (g.sums) gg.sums = g.sums + gi * g.kg;
  return gg;
}

// Tile-block order (many tiles, U small enough to stay in cache): U for all output channels
// once (or the prepared U), then threads take blocks of tiles: V of the block, 36 products,
// output transform.
void forward_tile_blocks(const MicroKernel& uk, const winograd::Kernels& wk, const winograd::Geometry& g, int64_t groups,
                         const float* x, const float* w, const float* prepared, const float* b, float* y) {
  const int MR = wk.mr, NR = wk.nr;
  const int64_t kpanels = g.kp / MR, tile_panels = ceil_div(g.tiles, NR);
  // Tile panels per block: the block's V and M (36 x (cg + kp) x NR per panel) within ~512 KB so
  // they stay in L2, and at least one block per thread when there are enough tiles.
  const int64_t budget = int64_t(512) << 10;
  int64_t nb = std::max<int64_t>(1, std::min<int64_t>(winograd::kMaxPanels, budget / (36 * (g.cg + g.kp) * NR * int64_t(sizeof(float)))));
  nb = std::max<int64_t>(1, std::min(nb, ceil_div(tile_panels, num_threads())));
  const int64_t blocks = ceil_div(tile_panels, nb);
  const int64_t kc = ceil_div(g.cg, ceil_div(g.cg, 256));  // depth blocks: the B panel stays in L1
  thread_local Workspace ws_u, ws_sums;
  float* Uw = prepared ? nullptr : ws_u.get(size_t(36 * g.kp * g.cg));
  // Channel sums: threads share output channels here, so each block sums into its own slice
  // [n][kg], added up in block order afterwards (the same result every run).
  float* partial = g.sums ? ws_sums.get(size_t(blocks * g.n * g.kg)) : nullptr;
  for (int64_t gi = 0; gi < groups; ++gi) {
    const winograd::Geometry gg = group_geometry(g, gi);
    if (partial) std::memset(partial, 0, sizeof(float) * size_t(blocks * g.n * g.kg));
    const float* U = prepared ? prepared + gi * 36 * g.kp * g.cg : Uw;
    if (!prepared) {
      const float* wg = w + gi * g.kg * g.cg * 9;
      parallel_for(kpanels, 1, [&](int64_t p0, int64_t p1) { wk.weights(g, wg, p0, p1, Uw, kpanels, 0); });
    }
    const float* xg = x + gi * g.cg * g.h * g.w;
    float* yg = y + gi * g.kg * g.oh * g.ow;
    const float* bg = b ? b + gi * g.kg : nullptr;
    parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
      thread_local Workspace ws_v, ws_m;
      float* V = ws_v.get(size_t(36 * nb * NR * g.cg));
      float* M = ws_m.get(size_t(36 * g.kp * nb * NR));
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t tile0 = blk * nb * NR, panels = std::min(nb, tile_panels - blk * nb), ld = panels * NR;
        wk.input(gg, xg, tile0, panels, 0, g.cg, V);
        for (int q = 0; q < 36; ++q) {
          const float* Uq = U + q * kpanels * g.cg * MR;
          const float* Vq = V + q * panels * g.cg * NR;
          float* Mq = M + q * g.kp * ld;
          for (int64_t c0 = 0; c0 < g.cg; c0 += kc) {
            const int64_t kcc = std::min(kc, g.cg - c0);
            const float beta = c0 == 0 ? 0.f : 1.f;
            for (int64_t jp = 0; jp < panels; ++jp) {
              const float* bp = Vq + (jp * g.cg + c0) * NR;
              for (int64_t ip = 0; ip < kpanels; ++ip)
                uk.tile(kcc, Uq + (ip * g.cg + c0) * MR, bp, Mq + ip * MR * ld + jp * NR, ld, 1.f, beta);
            }
          }
        }
        winograd::Geometry gb = gg;  // with channel sums: this block's own slice
        if (partial) { gb.sums = partial + blk * g.n * g.kg; gb.sums_stride = g.kg; }
        wk.output(gb, M, g.kp, 0, g.kg, tile0, panels, bg, yg);
      }
    });
    if (partial)
      for (int64_t blk = 0; blk < blocks; ++blk)
        for (int64_t n = 0; n < g.n; ++n)
          for (int64_t k = 0; k < g.kg; ++k) gg.sums[n * g.sums_stride + k] += partial[(blk * g.n + n) * g.kg + k];
  }
}

// Channel-panel order (few tiles, large U): V for every tile first, then threads take panels
// of MR output channels: their U (36 x cg x MR, cache resident; read from the prepared U when
// given), the products over all tiles and the output transform of those channels.
void forward_channel_panels(const MicroKernel& uk, const winograd::Kernels& wk, const winograd::Geometry& g, int64_t groups,
                            const float* x, const float* w, const float* prepared, const float* b, float* y) {
  const int MR = wk.mr, NR = wk.nr;
  const int64_t kpanels = g.kp / MR, tile_panels = ceil_div(g.tiles, NR);
  const int64_t nb = winograd::kMaxPanels, vblocks = ceil_div(tile_panels, nb);
  const int64_t ld = tile_panels * NR;
  const int64_t kc = ceil_div(g.cg, ceil_div(g.cg, 256));
  thread_local Workspace ws_v;
  float* V = ws_v.get(size_t(36 * tile_panels * NR * g.cg));
  for (int64_t gi = 0; gi < groups; ++gi) {
    const winograd::Geometry gg = group_geometry(g, gi);
    const float* xg = x + gi * g.cg * g.h * g.w;
    float* yg = y + gi * g.kg * g.oh * g.ow;
    const float* bg = b ? b + gi * g.kg : nullptr;
    const float* wg = prepared ? nullptr : w + gi * g.kg * g.cg * 9;
    const float* Ug = prepared ? prepared + gi * 36 * g.kp * g.cg : nullptr;
    // V block v (nb panels) lives at V + v*36*nb*cg*NR in the layout of wk.input.
    // Blocks of tiles times ranges of channels, so that a few blocks still keep every thread busy.
    const int64_t cchunks = std::clamp<int64_t>(ceil_div(2 * num_threads(), vblocks), 1, std::max<int64_t>(1, g.cg / 8));
    const int64_t cstep = ceil_div(g.cg, cchunks);
    parallel_for(vblocks * cchunks, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t v = i / cchunks, c0 = (i % cchunks) * cstep, c1 = std::min(g.cg, c0 + cstep);
        if (c0 < c1) wk.input(gg, xg, v * nb * NR, std::min(nb, tile_panels - v * nb), c0, c1, V + v * 36 * nb * g.cg * NR);
      }
    });
    parallel_for(kpanels, 1, [&](int64_t p0, int64_t p1) {
      thread_local Workspace ws_u, ws_m;
      float* Uw = prepared ? nullptr : ws_u.get(size_t(36 * g.cg * MR));
      float* M = ws_m.get(size_t(36 * MR * ld));
      for (int64_t p = p0; p < p1; ++p) {
        if (!prepared) wk.weights(g, wg, p, p + 1, Uw, 1, p);
        // q-th matrix of this panel: [36][1][cg][MR] when transformed here, [36][kpanels][cg][MR] prepared
        const float* Up = prepared ? Ug + p * g.cg * MR : Uw;
        const int64_t qstride = prepared ? kpanels * g.cg * MR : g.cg * MR;
        for (int q = 0; q < 36; ++q) {
          const float* Uq = Up + q * qstride;
          float* Mq = M + q * MR * ld;
          for (int64_t c0 = 0; c0 < g.cg; c0 += kc) {
            const int64_t kcc = std::min(kc, g.cg - c0);
            const float beta = c0 == 0 ? 0.f : 1.f;
            for (int64_t jp = 0; jp < tile_panels; ++jp) {
              const int64_t v = jp / nb, jl = jp % nb, pv = std::min(nb, tile_panels - v * nb);
              const float* bp = V + v * 36 * nb * g.cg * NR + ((q * pv + jl) * g.cg + c0) * NR;
              uk.tile(kcc, Uq + c0 * MR, bp, Mq + jp * NR, ld, 1.f, beta);
            }
          }
        }
        wk.output(gg, M, MR, p * MR, std::min<int64_t>(g.kg, (p + 1) * MR), 0, tile_panels, bg, yg);
      }
    });
  }
}

}  // namespace

namespace {
// The micro-kernel and transforms the forward pass uses (their MR fixes the layout of U).
struct ForwardKernels {
  const MicroKernel* uk;
  const winograd::Kernels* wk;
};
ForwardKernels forward_kernels() {
  const MicroKernel* ukp = &micro_kernel();
  const winograd::Kernels& wk = kernels_for(*ukp);
  if (wk.mr != ukp->mr || wk.nr != ukp->nr) ukp = &micro_kernel_generic();
  return {ukp, &wk};
}
}  // namespace

int64_t winograd_weights_size(const Conv2dParams& p) {
  const int MR = forward_kernels().wk->mr;
  return p.groups * 36 * ceil_div(p.k / p.groups, MR) * MR * (p.c / p.groups);
}

void winograd_weights(const Conv2dParams& p, const float* w, float* U) {
  const winograd::Kernels& wk = *forward_kernels().wk;
  winograd::Geometry g;
  g.cg = p.c / p.groups; g.kg = p.k / p.groups; g.kp = ceil_div(g.kg, wk.mr) * wk.mr;
  const int64_t kpanels = g.kp / wk.mr;
  for (int64_t gi = 0; gi < p.groups; ++gi)
    parallel_for(kpanels, 1, [&](int64_t p0, int64_t p1) {
      wk.weights(g, w + gi * g.kg * g.cg * 9, p0, p1, U + gi * 36 * g.kp * g.cg, kpanels, 0);
    });
}

void winograd_forward(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y, const ConvFusion& fusion) {
  const ForwardKernels fk = forward_kernels();
  const MicroKernel* ukp = fk.uk;
  const winograd::Kernels& wk = *fk.wk;
  const int MR = wk.mr;
  winograd::Geometry g;
  g.in_scale = fusion.in_scale; g.in_shift = fusion.in_shift; g.slope = fusion.slope;
  g.sums = fusion.channel_sums; g.sums_stride = p.k;
  if (g.sums) std::memset(g.sums, 0, sizeof(float) * size_t(p.n * p.k));
  g.n = p.n; g.h = p.h; g.w = p.w; g.oh = p.oh; g.ow = p.ow;
  g.tiles_h = ceil_div(p.oh, 4); g.tiles_w = ceil_div(p.ow, 4); g.tiles = p.n * g.tiles_h * g.tiles_w;
  g.ph = p.ph; g.pw = p.pw;
  g.cg = p.c / p.groups; g.kg = p.k / p.groups; g.kp = ceil_div(g.kg, MR) * MR;
  g.x_image = p.c * p.h * p.w; g.y_image = p.k * p.oh * p.ow;
  // U holds 36*kp*cg values, V 36*cg*tiles: keep the larger one out of the outer loop.
  if (g.kp > g.tiles && g.kp >= int64_t(MR) * num_threads()) forward_channel_panels(*ukp, wk, g, p.groups, x, w, fusion.prepared, b, y);
  else forward_tile_blocks(*ukp, wk, g, p.groups, x, w, fusion.prepared, b, y);
}

}  // namespace sgi::cpu

namespace sgi::cpu {

bool winograd_wgrad_preferred(const Conv2dParams& p) {
  if (!winograd_applicable(p)) return false;
  const int64_t cg = p.c / p.groups, kg = p.k / p.groups;
  const int64_t per_image = ceil_div(p.oh, 4) * ceil_div(p.ow, 4);
  return cg >= 16 && kg >= 16 && per_image >= 16;
}

// Weight gradient, F(3x3, 4x4): dU[q] = sum over tiles of E[q]^T V[q] (36 GEMMs whose depth is the
// tiles), then gw = G^T dU G. Both sides are transformed with channels as lanes, from channels-last
// copies of x and gy, straight into the micro-kernel's A (gy) and B (x) panels.
//   (a) dU small: per image, threads take blocks of tiles and accumulate private dU, summed at the end;
//   (b) dU large: all tiles are transformed first, then threads take the 36 products.
void winograd_backward_weight(const Conv2dParams& p, const float* x, const float* gy, float* gw) {
  const MicroKernel* ukp = &micro_kernel();
  const winograd::Kernels& wk = kernels_for(*ukp);
  if (wk.mr != ukp->mr || wk.nr != ukp->nr) ukp = &micro_kernel_generic();
  const MicroKernel& uk = *ukp;
  const int MR = wk.mr, NR = wk.nr;
  winograd::Geometry g;
  g.n = p.n; g.h = p.h; g.w = p.w; g.oh = p.oh; g.ow = p.ow;
  g.tiles_h = ceil_div(p.oh, 4); g.tiles_w = ceil_div(p.ow, 4); g.tiles = p.n * g.tiles_h * g.tiles_w;
  g.ph = p.ph; g.pw = p.pw;
  g.cg = p.c / p.groups; g.kg = p.k / p.groups; g.kp = ceil_div(g.kg, MR) * MR;
  g.x_image = p.c * p.h * p.w; g.y_image = p.k * p.oh * p.ow;
  const int64_t cpanels = ceil_div(g.cg, NR), cp = cpanels * NR, kpanels = g.kp / MR;
  const int64_t per_image = g.tiles_h * g.tiles_w;
  const int64_t xrows = 4 * g.tiles_h + 2, xcols = 4 * g.tiles_w + 2, grows = 4 * g.tiles_h, gcols = 4 * g.tiles_w;
  const int threads = omp_in_parallel() ? 1 : num_threads();
  const int64_t du_size = 36 * g.kp * cp;
  const bool private_sums = du_size * int64_t(sizeof(float)) * threads <= (int64_t(8) << 20);

  // Channels-last copies of x and gy for a band of tile rows [ty0, ty0 + band) (the whole image in
  // regime (b)); tiles are then indexed relative to the band's first row.
  const int64_t row_bytes = 4 * (xcols * cp + gcols * g.kp) * int64_t(sizeof(float));
  const int64_t band_rows = std::clamp<int64_t>((int64_t(16) << 20) / row_bytes, 1, g.tiles_h);
  thread_local Workspace ws_x, ws_g, ws_du, ws_ab;
  auto build = [&](int64_t n, int64_t gi, int64_t ty0, int64_t rows, float* xt, float* gt) {
    const float* xs = x + n * g.x_image + gi * g.cg * p.h * p.w;
    const float* gs = gy + n * g.y_image + gi * g.kg * p.oh * p.ow;
    const int64_t xr = 4 * rows + 2, gr = 4 * rows;
    parallel_for(xr + gr, 8, [&](int64_t r0, int64_t r1) {
      const int64_t a0 = std::min(r0, xr), a1 = std::min(r1, xr);
      if (a0 < a1) wk.nhwc(xs, g.cg, p.h, p.w, p.ph - 4 * ty0, p.pw, a0, a1, xcols, cp, xt);
      const int64_t b0 = std::max(r0, xr) - xr, b1 = std::max(r1, xr) - xr;
      if (b0 < b1) wk.nhwc(gs, g.kg, p.oh, p.ow, -4 * ty0, 0, b0, b1, gcols, g.kp, gt);
    });
  };
  for (int64_t gi = 0; gi < p.groups; ++gi) {
    float* gwg = gw + gi * g.kg * g.cg * 9;
    if (private_sums) {
      const int64_t tb = std::clamp<int64_t>((int64_t(2) << 20) / (36 * (g.kp + cp) * int64_t(sizeof(float))), 32, per_image);
      float* sums = ws_du.get(size_t(du_size * threads));
      parallel_for(du_size * threads, 1 << 16, [&](int64_t i0, int64_t i1) { std::memset(sums + i0, 0, size_t(i1 - i0) * sizeof(float)); });
      float* xt = ws_x.get(size_t((4 * band_rows + 2) * xcols * cp));
      float* gt = ws_g.get(size_t(4 * band_rows * gcols * g.kp));
      for (int64_t n = 0; n < p.n; ++n)
        for (int64_t ty0 = 0; ty0 < g.tiles_h; ty0 += band_rows) {
          const int64_t rows = std::min(band_rows, g.tiles_h - ty0), band_tiles = rows * g.tiles_w;
          const int64_t band_blocks = ceil_div(band_tiles, tb);
          build(n, gi, ty0, rows, xt, gt);
          parallel_for(band_blocks, 1, [&](int64_t b0, int64_t b1) {
            thread_local Workspace ws_a, ws_b;
            float* A = ws_a.get(size_t(36 * g.kp * tb));
            float* B = ws_b.get(size_t(36 * cp * tb));
            float* du = sums + int64_t(omp_get_thread_num()) * du_size;
            for (int64_t blk = b0; blk < b1; ++blk) {
              const int64_t t0 = blk * tb, t1 = std::min(band_tiles, t0 + tb), depth = t1 - t0;
              wk.wg_x(g, xt, xcols, cp, t0, t1, cpanels, depth, 0, B);
              wk.wg_gy(g, gt, gcols, g.kp, t0, t1, kpanels, depth, 0, A);
              for (int q = 0; q < 36; ++q)
                for (int64_t cpn = 0; cpn < cpanels; ++cpn) {
                  const float* bp = B + (q * cpanels + cpn) * depth * NR;
                  for (int64_t kpn = 0; kpn < kpanels; ++kpn)
                    uk.tile(depth, A + (q * kpanels + kpn) * depth * MR, bp, du + (q * g.kp + kpn * MR) * cp + cpn * NR, cp, 1.f, 1.f);
                }
            }
          });
        }
      parallel_for(du_size, 1 << 14, [&](int64_t i0, int64_t i1) {
        for (int t = 1; t < threads; ++t)
          for (int64_t i = i0; i < i1; ++i) sums[i] += sums[t * du_size + i];
      });
      parallel_for(g.kg, 4, [&](int64_t k0, int64_t k1) { wk.wg_finish(g, sums, cp, k0, k1, gwg); });
    } else {
      const int64_t depth = p.n * per_image;
      float* A = ws_ab.get(size_t(36 * (g.kp + cp) * depth));
      float* B = A + 36 * g.kp * depth;
      float* xt = ws_x.get(size_t(xrows * xcols * cp));
      float* gt = ws_g.get(size_t(grows * gcols * g.kp));
      for (int64_t n = 0; n < p.n; ++n) {
        build(n, gi, 0, g.tiles_h, xt, gt);
        parallel_for(per_image, 4, [&](int64_t t0, int64_t t1) {
          wk.wg_x(g, xt, xcols, cp, t0, t1, cpanels, depth, n * per_image + t0, B);
          wk.wg_gy(g, gt, gcols, g.kp, t0, t1, kpanels, depth, n * per_image + t0, A);
        });
      }
      float* du = ws_du.get(size_t(du_size));
      parallel_for(36, 1, [&](int64_t q0, int64_t q1) {
        for (int64_t q = q0; q < q1; ++q)
          for (int64_t cpn = 0; cpn < cpanels; ++cpn) {
            const float* bp = B + (q * cpanels + cpn) * depth * NR;
            for (int64_t kpn = 0; kpn < kpanels; ++kpn)
              uk.tile(depth, A + (q * kpanels + kpn) * depth * MR, bp, du + (q * g.kp + kpn * MR) * cp + cpn * NR, cp, 1.f, 0.f);
          }
      });
      parallel_for(g.kg, 4, [&](int64_t k0, int64_t k1) { wk.wg_finish(g, du, cp, k0, k1, gwg); });
    }
  }
}

}  // namespace sgi::cpu
