// Weight gradient of a convolution as "shifted" GEMMs (see cpu/conv2d_internal.h):
//   gw[k][c][ky][kx] = sum over n, oy, ox of gy[n][k][oy][ox] * x[n][c][oy*sh - ph + ky][ox*sw - pw + kx].
// Split x by stride phase: P_(ay,ax)[u][v] = x[sh*u + ay][sw*v + ax]. Tap (ky, kx) reads phase
// (ay, ax) = ((ky-ph) mod sh, (kx-pw) mod sw) at (oy + qy, ox + qx), qy = floor((ky-ph)/sh). With the
// phase images zero padded onto a grid of width Gw (Gw >= Wo + the spread of qx) and gy laid on
// the same width (zeros past Wo), the depth index d = oy*Gw + ox of gy meets the phase image at
// d + shift(tap): every tap is the same GEMM over a different row offset of one packed B block.
// So x is packed once per depth block (not 9 times as with im2col), and A (gy) once for all taps.
//
// Work: blocks of depth (per image) of DB rows; per block, A [K x DB] and the B blocks of the
// phases [DB + S rows x C] are packed into the micro-kernel's panel layouts, then every tap runs
// the micro-kernel over them, accumulating into per-tap sums C_t [K x C]. Threads take depth blocks
// with private sums (added at the end) or, when there are few blocks, panels of output channels.
#include <algorithm>
#include <cstring>
#include <vector>
#include "common/parallel.h"
#include "cpu/conv2d_internal.h"
#include "cpu/gemm_internal.h"

namespace sgi::cpu {

using namespace gemm_detail;

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

ShiftPlan make_shift_plan(const Conv2dParams& p) {
  ShiftPlan pl;
  const int64_t qy0 = floor_div(-p.ph, p.sh), qy1 = floor_div(p.kh - 1 - p.ph, p.sh);
  const int64_t qx0 = floor_div(-p.pw, p.sw), qx1 = floor_div(p.kw - 1 - p.pw, p.sw);
  pl.uy0 = -qy0;
  pl.ux0 = -qx0;
  pl.gh = p.oh + qy1 - qy0;
  pl.gw = p.ow + qx1 - qx0;
  pl.depth = p.oh * pl.gw;
  pl.phases = p.sh * p.sw;
  for (int ky = 0; ky < p.kh; ++ky)
    for (int kx = 0; kx < p.kw; ++kx) {
      const int64_t qy = floor_div(ky - p.ph, p.sh), qx = floor_div(kx - p.pw, p.sw);
      const int64_t ay = ky - p.ph - qy * p.sh, ax = kx - p.pw - qx * p.sw;
      pl.tap_phase.push_back(int(ay * p.sw + ax));
      const int64_t s = (qy + pl.uy0) * pl.gw + (qx + pl.ux0);
      pl.tap_shift.push_back(s);
      pl.span = std::max(pl.span, s + 1);
    }
  return pl;
}

namespace {

struct Job {
  const Conv2dParams* p;
  const ShiftPlan* pl;
  const MicroKernel* uk;
  const float* x;   // group's channel 0, image 0
  const float* gy;  // group's channel 0, image 0
  int64_t cg, kg, kp, cp;  // group sizes, padded to MR / NR
  int64_t db;       // depth rows per block
};

// A block: rows k in [k0, k1) of gy (image n), depths [d0, d0 + db) -> panels [kpanel][db][MR].
void pack_a(const Job& j, int64_t n, int64_t d0, int64_t k0, int64_t k1, float* dst) {
  const int MR = j.uk->mr;
  const int64_t P = j.p->oh * j.p->ow, gw = j.pl->gw, ow = j.p->ow, end = std::min(d0 + j.db, j.pl->depth);
  for (int64_t kb = k0; kb < k1; kb += MR) {
    float* d = dst + ((kb - k0) / MR) * j.db * MR;
    for (int r = 0; r < MR; ++r) {
      const int64_t k = kb + r;
      if (k >= k1 || k >= j.kg) {
        for (int64_t i = 0; i < j.db; ++i) d[i * MR + r] = 0.f;
        continue;
      }
      const float* src = j.gy + (n * j.p->k + k) * P;
      int64_t i = 0;
      for (int64_t dd = d0; dd < end;) {
        const int64_t oy = dd / gw, ox = dd % gw, seg = std::min(gw - ox, end - dd);
        const float* row = src + oy * ow;
        for (int64_t e = 0; e < seg; ++e) d[(i + e) * MR + r] = ox + e < ow ? row[ox + e] : 0.f;
        i += seg;
        dd += seg;
      }
      for (; i < j.db; ++i) d[i * MR + r] = 0.f;
    }
  }
}

// B block of one phase: grid rows [d0, d0 + db + span) of channels [0, cg) -> panels [cpanel][rows][NR].
void pack_b(const Job& j, int64_t n, int64_t d0, int phase, float* dst) {
  const Conv2dParams& p = *j.p;
  const int NR = j.uk->nr;
  const int64_t rows = j.db + j.pl->span, gw = j.pl->gw;
  const int ay = phase / p.sw, ax = phase % p.sw;
  // Valid v' range of this phase: 0 <= sw*(v' - ux0) + ax < W.
  const int64_t v_lo = j.pl->ux0;
  const int64_t v_hi = j.pl->ux0 + (p.w - ax + p.sw - 1) / p.sw;  // exclusive
  for (int64_t cb = 0; cb < j.cp; cb += NR) {
    float* d = dst + (cb / NR) * rows * NR;
    for (int lane = 0; lane < NR; ++lane) {
      const int64_t c = cb + lane;
      if (c >= j.cg) {
        for (int64_t i = 0; i < rows; ++i) d[i * NR + lane] = 0.f;
        continue;
      }
      const float* xc = j.x + (n * p.c + c) * p.h * p.w;
      int64_t i = 0;
      for (int64_t r = d0; i < rows;) {
        const int64_t u = r / gw, v = r % gw, seg = std::min(gw - v, rows - i);
        const int64_t iy = p.sh * (u - j.pl->uy0) + ay;
        if (iy < 0 || iy >= p.h) {
          for (int64_t e = 0; e < seg; ++e) d[(i + e) * NR + lane] = 0.f;
        } else {
          const float* xr = xc + iy * p.w;
          const int64_t a = std::clamp(v_lo - v, int64_t(0), seg), b = std::clamp(v_hi - v, a, seg);
          for (int64_t e = 0; e < a; ++e) d[(i + e) * NR + lane] = 0.f;
          const float* s = xr + p.sw * (v + a - j.pl->ux0) + ax;
          if (p.sw == 1) for (int64_t e = a; e < b; ++e) d[(i + e) * NR + lane] = s[e - a];
          else for (int64_t e = a; e < b; ++e) d[(i + e) * NR + lane] = s[(e - a) * p.sw];
          for (int64_t e = b; e < seg; ++e) d[(i + e) * NR + lane] = 0.f;
        }
        i += seg;
        r += seg;
      }
    }
  }
}

// Accumulates one packed block into sums [taps][kp][cp] for output-channel panels [kpan0, kpan1).
void block_products(const Job& j, const float* A, const std::vector<float*>& B, int64_t kpan0, int64_t kpan1, float* sums) {
  const int MR = j.uk->mr, NR = j.uk->nr;
  const int64_t rows = j.db + j.pl->span, cpanels = j.cp / NR;
  const int64_t taps = int64_t(j.pl->tap_shift.size());
  // The whole block depth per micro-kernel call: each sum tile is loaded and stored once per
  // block and tap (the panels stream from L2 at a rate the kernel easily absorbs).
  for (int64_t t = 0; t < taps; ++t) {
    const float* Bt = B[size_t(j.pl->tap_phase[size_t(t)])] + j.pl->tap_shift[size_t(t)] * NR;
    float* St = sums + t * j.kp * j.cp;
    for (int64_t cpn = 0; cpn < cpanels; ++cpn) {
      const float* bp = Bt + cpn * rows * NR;
      for (int64_t kpn = kpan0; kpn < kpan1; ++kpn)
        j.uk->tile(j.db, A + (kpn - kpan0) * j.db * MR, bp, St + kpn * MR * j.cp + cpn * NR, j.cp, 1.f, 1.f);
    }
  }
}

}  // namespace

void backward_weight_shift(const Conv2dParams& p, const float* x, const float* gy, float* gw) {
  const MicroKernel& uk = micro_kernel();
  const ShiftPlan pl = make_shift_plan(p);
  const int MR = uk.mr, NR = uk.nr;
  Job j;
  j.p = &p; j.pl = &pl; j.uk = &uk;
  j.cg = p.c / p.groups; j.kg = p.k / p.groups;
  j.kp = ceil_div(j.kg, MR) * MR; j.cp = ceil_div(j.cg, NR) * NR;
  const int64_t taps = int64_t(p.kh) * p.kw, kpanels = j.kp / MR;
  // Depth rows per block: packed A and B blocks around 768 KB (L2), at least 256 rows.
  const int64_t per_row = (j.kp + j.cp * pl.phases) * int64_t(sizeof(float));
  j.db = std::max<int64_t>(256, (int64_t(768) << 10) / per_row - pl.span);
  j.db = std::min(j.db, ceil_div(pl.depth, 8) * 8);
  const int64_t blocks_per_image = ceil_div(pl.depth, j.db), blocks = p.n * blocks_per_image;
  const size_t b_size = size_t(j.cp * (j.db + pl.span));
  const size_t sums_size = size_t(taps * j.kp * j.cp);
  const int threads = omp_in_parallel() ? 1 : num_threads();
  const bool split_depth = threads > 1 && blocks >= 2 * threads;

  thread_local Workspace ws_sums;
  const size_t sums_total = sums_size * size_t(split_depth ? threads : 1);
  float* sums = ws_sums.get(sums_total);
  for (int64_t gi = 0; gi < p.groups; ++gi) {
    j.x = x + gi * j.cg * p.h * p.w;
    j.gy = gy + gi * j.kg * p.oh * p.ow;
    parallel_for(int64_t(sums_total), 1 << 16, [&](int64_t i0, int64_t i1) { std::memset(sums + i0, 0, size_t(i1 - i0) * sizeof(float)); });
    auto run = [&](int64_t b0, int64_t b1, int64_t kpan0, int64_t kpan1, float* s) {
      thread_local Workspace ws_a, ws_b;
      float* A = ws_a.get(size_t((kpan1 - kpan0) * MR * j.db));
      float* Bbase = ws_b.get(b_size * size_t(pl.phases));
      std::vector<float*> B(size_t(pl.phases));
      for (int ph = 0; ph < pl.phases; ++ph) B[size_t(ph)] = Bbase + size_t(ph) * b_size;
      std::vector<char> used(size_t(pl.phases), 0);
      for (int ph : pl.tap_phase) used[size_t(ph)] = 1;
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t n = blk / blocks_per_image, d0 = (blk % blocks_per_image) * j.db;
        pack_a(j, n, d0, kpan0 * MR, std::min(kpan1 * MR, j.kp), A);
        for (int ph = 0; ph < pl.phases; ++ph)
          if (used[size_t(ph)]) pack_b(j, n, d0, ph, B[size_t(ph)]);
        block_products(j, A, B, kpan0, kpan1, s);
      }
    };
    if (split_depth) {
      parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
        run(b0, b1, 0, kpanels, sums + size_t(omp_get_thread_num()) * sums_size);
      });
    } else {
      parallel_for(kpanels, 1, [&](int64_t k0, int64_t k1) { run(0, blocks, k0, k1, sums); });
    }
    // gw[gi*kg + k][c][t] = sum over threads of sums[t][k][c]
    const int parts = split_depth ? threads : 1;
    float* gwg = gw + gi * j.kg * j.cg * taps;
    parallel_for(j.kg, 4, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k)
        for (int64_t c = 0; c < j.cg; ++c)
          for (int64_t t = 0; t < taps; ++t) {
            float v = 0.f;
            for (int part = 0; part < parts; ++part) v += sums[size_t(part) * sums_size + size_t((t * j.kp + k) * j.cp + c)];
            gwg[(k * j.cg + c) * taps + t] = v;
          }
    });
  }
}

}  // namespace sgi::cpu
