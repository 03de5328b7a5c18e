// CPU convolutions (see common/kernels/conv2d.h), all on the blocked GEMM of cpu/gemm.cc:
// - forward: 3x3 stride-1 convolutions through Winograd F(4x4, 3x3) (cpu/conv2d_winograd.cc);
//   1x1 stride-1 ones read x as a plain matrix; every other geometry is a "shifted" GEMM: x is
//   split into zero-padded stride-phase images laid on a grid (cpu/conv2d_internal.h, ShiftPlan),
//   where every tap of the kernel is a constant offset, so the GEMM's B rows are contiguous copies
//   (depth = taps x channels) and the result is compacted from the grid into y.
// - backward input: stride 1 is a forward convolution of gy with the flipped, transposed kernel
//   (so it gets Winograd too); other strides compute each stride phase of gx as a shifted GEMM
//   over zero-padded gy with the taps of that phase, then interleave the phases into gx.
// - backward weight: shifted GEMMs over stride-phase images of x (cpu/conv2d_wgrad.cc).
// Images are processed in parallel when there are enough of them, else each GEMM uses every thread.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>
#include "common/kernels/activation.h"
#include "common/kernels/conv2d.h"
#include "common/parallel.h"
#include "cpu/conv2d_internal.h"
#include "cpu/gemm_internal.h"

namespace sgi::cpu {

using namespace gemm_detail;

namespace {

std::atomic<int> g_algo{int(ConvAlgo::Auto)};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// B rows (t, c) -> src image c of phase tap_phase[t], starting tap_shift[t] into the grid.
// Images are `plane` floats apart and hold at least the grid plus kMaxNR of slack.
class ShiftPackB final : public PackB {
 public:
  ShiftPackB(const float* src, int64_t plane, int64_t channels, const int* tap_phase, const int64_t* tap_shift)
      : src_(src), plane_(plane), channels_(channels), tap_phase_(tap_phase), tap_shift_(tap_shift) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) const override {
    // Fixed-size copies for the micro-kernels' widths (inlined vector moves, not memcpy calls).
    switch (nr) {
      case 32: pack_n<32>(k0, kc, j0, nc, dst); break;
      case 16: pack_n<16>(k0, kc, j0, nc, dst); break;
      case 8: pack_n<8>(k0, kc, j0, nc, dst); break;
      default: pack_any(k0, kc, j0, nc, nr, dst);
    }
  }
 private:
  template <int NR>
  void pack_n(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* dst) const {
    const int64_t panels = (nc + NR - 1) / NR;
    int64_t t = k0 / channels_, c = k0 % channels_;
    for (int64_t k = 0; k < kc; ++k) {
      const float* s = src_ + (tap_phase_[t] * channels_ + c) * plane_ + tap_shift_[t] + j0;
      float* d = dst + k * NR;
      for (int64_t q = 0; q < panels; ++q) std::memcpy(d + q * NR * kc, s + q * NR, NR * sizeof(float));
      if (++c == channels_) { c = 0; ++t; }
    }
  }
  void pack_any(int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) const {
    const int64_t panels = (nc + nr - 1) / nr;
    int64_t t = k0 / channels_, c = k0 % channels_;
    for (int64_t k = 0; k < kc; ++k) {
      const float* s = src_ + (tap_phase_[t] * channels_ + c) * plane_ + tap_shift_[t] + j0;
      float* d = dst + k * nr;
      for (int64_t q = 0; q < panels; ++q) std::memcpy(d + q * nr * kc, s + q * nr, size_t(nr) * sizeof(float));
      if (++c == channels_) { c = 0; ++t; }
    }
  }
  const float* src_;
  int64_t plane_, channels_;
  const int* tap_phase_;
  const int64_t* tap_shift_;
};

constexpr int64_t kSlack = 64;  // >= any micro-kernel NR: a panel copy may run past the grid

// Zero-padded phase image: dst[u'*gw + v'] = xc[sh*(u' - uy0) + ay][sw*(v' - ux0) + ax], for
// plane floats (rows past the image are zero).
void build_phase_image(const float* xc, int64_t h, int64_t w, int sh, int sw, int ay, int ax, int64_t uy0, int64_t ux0,
                       int64_t gw, int64_t plane, float* dst) {
  const int64_t rows = plane / gw;
  // Grid columns holding x: v' in [v_lo, v_hi)
  const int64_t v_lo = std::min(ux0, gw), v_hi = std::clamp(ux0 + (w - ax + sw - 1) / sw, v_lo, gw);
  for (int64_t u = 0; u < rows; ++u) {
    float* d = dst + u * gw;
    const int64_t iy = sh * (u - uy0) + ay;
    if (iy < 0 || iy >= h) { std::memset(d, 0, size_t(gw) * sizeof(float)); continue; }
    const float* s = xc + iy * w + sw * (v_lo - ux0) + ax;
    std::memset(d, 0, size_t(v_lo) * sizeof(float));
    if (sw == 1) std::memcpy(d + v_lo, s, size_t(v_hi - v_lo) * sizeof(float));
    else if (sw == 2) for (int64_t v = v_lo; v < v_hi; ++v) d[v] = s[(v - v_lo) * 2];
    else for (int64_t v = v_lo; v < v_hi; ++v) d[v] = s[(v - v_lo) * sw];
    std::memset(d + v_hi, 0, size_t(gw - v_hi) * sizeof(float));
  }
  std::memset(dst + rows * gw, 0, size_t(plane - rows * gw) * sizeof(float));
}

// Batch items in parallel (each GEMM serial) when there are enough of them for an even split.
bool parallel_over_items(int64_t items, double work_per_item) {
  const int T = num_threads();
  if (T <= 1 || items < T) return false;
  if (items % T == 0 || items >= 4 * T) return true;
  return work_per_item < 4e6;
}

void add_channel_bias(float* y, const float* b, int64_t channels, int64_t P) {
  parallel_for(channels, std::max<int64_t>(1, 32768 / std::max<int64_t>(P, 1)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float v = b[c];
      float* r = y + c * P;
      for (int64_t j = 0; j < P; ++j) r[j] += v;
    }
  });
}

void forward_gemm(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y) {
  const int64_t G = p.groups, Cg = p.c / G, Kg = p.k / G, taps = int64_t(p.kh) * p.kw, Kdim = Cg * taps, P = p.oh * p.ow;
  const MicroKernel& uk = micro_kernel();
  const int64_t items = p.n * G;
  const bool outer = parallel_over_items(items, double(Kg) * double(P) * double(Kdim));
  if (p.kh == 1 && p.kw == 1 && p.sh == 1 && p.sw == 1 && p.ph == 0 && p.pw == 0) {
    auto one = [&](int64_t item) {
      const int64_t n = item / G, gi = item % G;
      float* yg = y + (n * p.k + gi * Kg) * P;
      MatrixPackA pa(w + gi * Kg * Kdim, Kdim, false);
      MatrixPackB pb(x + (n * p.c + gi * Cg) * p.h * p.w, P, false);
      gemm_packed(uk, Kg, P, Kdim, 1.f, pa, pb, 0.f, yg, P);
      if (b) add_channel_bias(yg, b + gi * Kg, Kg, P);
    };
    if (outer) parallel_for(items, 1, [&](int64_t i0, int64_t i1) { for (int64_t i = i0; i < i1; ++i) one(i); });
    else for (int64_t i = 0; i < items; ++i) one(i);
    return;
  }
  const ShiftPlan pl = make_shift_plan(p);
  std::vector<char> used(size_t(pl.phases), 0);
  int used_phases = 0;
  for (int ph : pl.tap_phase) used[size_t(ph)] = 1;
  for (char u : used) used_phases += u;
  // Weights as [k][t*cg + c] (depth ordered tap-major, matching ShiftPackB).
  thread_local Workspace ws_wr;
  float* wr = ws_wr.get(size_t(p.k * Kdim));
  parallel_for(p.k, 16, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t t = 0; t < taps; ++t) wr[k * Kdim + t * Cg + c] = w[(k * Cg + c) * taps + t];
  });
  // Bands of output rows keep the phase images and the grid small (~8 MB): band rows [r0, r1)
  // read phase-image rows [r0, r1 + halo).
  const int64_t halo = (pl.span + kSlack) / pl.gw + 2;
  const int64_t per_row = (used_phases * Cg + Kg) * pl.gw;
  const int64_t band = std::clamp<int64_t>((int64_t(2) << 20) / std::max<int64_t>(per_row, 1) - halo, 1, p.oh);
  const int64_t bplane = (band + halo) * pl.gw;
  auto one = [&](int64_t item) {
    const int64_t n = item / G, gi = item % G;
    thread_local Workspace ws_src, ws_grid;
    float* src = ws_src.get(size_t(pl.phases * Cg * bplane));
    float* grid = ws_grid.get(size_t(Kg * band * pl.gw));
    float* yg = y + (n * p.k + gi * Kg) * P;
    const float* bg = b ? b + gi * Kg : nullptr;
    MatrixPackA pa(wr + gi * Kg * Kdim, Kdim, false);
    for (int64_t r0 = 0; r0 < p.oh; r0 += band) {
      const int64_t r1 = std::min(p.oh, r0 + band), N = (r1 - r0) * pl.gw;
      parallel_for(Cg * pl.phases, 4, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          const int ph = int(i / Cg);
          const int64_t c = i % Cg;
          if (!used[size_t(ph)]) continue;
          build_phase_image(x + (n * p.c + gi * Cg + c) * p.h * p.w, p.h, p.w, p.sh, p.sw, ph / p.sw, ph % p.sw, pl.uy0 - r0,
                            pl.ux0, pl.gw, bplane, src + (int64_t(ph) * Cg + c) * bplane);
        }
      });
      ShiftPackB pb(src, bplane, Cg, pl.tap_phase.data(), pl.tap_shift.data());
      gemm_packed(uk, Kg, N, Kdim, 1.f, pa, pb, 0.f, grid, N);
      parallel_for(Kg, std::max<int64_t>(1, 16384 / std::max<int64_t>(N, 1)), [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) {
          const float bk = bg ? bg[k] : 0.f;
          for (int64_t oy = r0; oy < r1; ++oy) {
            const float* s = grid + k * N + (oy - r0) * pl.gw;
            float* d = yg + k * P + oy * p.ow;
            for (int64_t ox = 0; ox < p.ow; ++ox) d[ox] = s[ox] + bk;
          }
        }
      });
    }
  };
  if (outer) parallel_for(items, 1, [&](int64_t i0, int64_t i1) { for (int64_t i = i0; i < i1; ++i) one(i); });
  else for (int64_t i = 0; i < items; ++i) one(i);
}

// Stride 1: gx = conv(gy, w') with w'[ci][co][a][b] = w[co][ci][kh-1-a][kw-1-b] (per group) and
// padding k-1-p, which gives exactly the input size.
void backward_input_flipped(const Conv2dParams& p, const float* w, const float* gy, float* gx) {
  const int64_t G = p.groups, Cg = p.c / G, Kg = p.k / G, khw = int64_t(p.kh) * p.kw;
  thread_local Workspace ws_wf;
  float* wf = ws_wf.get(size_t(p.c * Kg * khw));
  parallel_for(p.c, 16, [&](int64_t c0, int64_t c1) {
    for (int64_t cgl = c0; cgl < c1; ++cgl) {
      const int64_t gi = cgl / Cg, ci = cgl % Cg;
      for (int64_t co = 0; co < Kg; ++co) {
        const float* src = w + ((gi * Kg + co) * Cg + ci) * khw;
        float* dst = wf + (cgl * Kg + co) * khw;
        for (int64_t t = 0; t < khw; ++t) dst[t] = src[khw - 1 - t];
      }
    }
  });
  Conv2dParams q;
  q.n = p.n; q.c = p.k; q.h = p.oh; q.w = p.ow; q.k = p.c;
  q.kh = p.kh; q.kw = p.kw; q.sh = 1; q.sw = 1; q.ph = p.kh - 1 - p.ph; q.pw = p.kw - 1 - p.pw; q.groups = p.groups;
  q.oh = p.h; q.ow = p.w;
  conv2d_forward(q, gy, wf, nullptr, gx);
}

// Any stride: gx phase (ay, ax) (positions iy = sh*u + ay, ix = sw*v + ax) gathers the taps with
// ky = ay + ph (mod sh), kx = ax + pw (mod sw): gx_a[c][u][v] = sum_t sum_k W[k][c][t] *
// gy[k][u - ry_t][v - rx_t], ry_t = (ky - ay - ph) / sh. With gy zero padded by (py, px) on a grid of
// width gw that is a shifted GEMM over the padded gy; the phases are then interleaved into gx.
void backward_input_phases(const Conv2dParams& p, const float* w, const float* gy, float* gx) {
  const int64_t G = p.groups, Cg = p.c / G, Kg = p.k / G, taps = int64_t(p.kh) * p.kw, plane_x = p.h * p.w;
  const int64_t P = p.oh * p.ow;
  const MicroKernel& uk = micro_kernel();
  struct Phase {
    int ay, ax;
    int64_t uh, uw;
    std::vector<int64_t> taps;   // kernel tap indices
    std::vector<int64_t> ry, rx;
    std::vector<int64_t> shift;  // filled once gw is known
    std::vector<int> zero_phase;
    float* wr = nullptr;         // [c][tl*kg + k] for every group, group-major
  };
  std::vector<Phase> phases;
  int64_t py = 0, px = 0;
  for (int ay = 0; ay < p.sh; ++ay)
    for (int ax = 0; ax < p.sw; ++ax) {
      Phase f;
      f.ay = ay; f.ax = ax;
      f.uh = ay < p.h ? (p.h - ay + p.sh - 1) / p.sh : 0;
      f.uw = ax < p.w ? (p.w - ax + p.sw - 1) / p.sw : 0;
      for (int ky = 0; ky < p.kh; ++ky) {
        if (((ky - ay - p.ph) % p.sh + p.sh) % p.sh != 0) continue;
        for (int kx = 0; kx < p.kw; ++kx) {
          if (((kx - ax - p.pw) % p.sw + p.sw) % p.sw != 0) continue;
          f.taps.push_back(ky * p.kw + kx);
          f.ry.push_back((ky - ay - p.ph) / p.sh);  // exact
          f.rx.push_back((kx - ax - p.pw) / p.sw);
          py = std::max(py, f.ry.back());
          px = std::max(px, f.rx.back());
        }
      }
      phases.push_back(std::move(f));
    }
  // Grid width: gy (shifted by px) fits, and no valid column of any phase wraps into the next row.
  int64_t gw = p.ow + px;
  for (const Phase& f : phases)
    for (size_t i = 0; i < f.taps.size(); ++i) gw = std::max(gw, f.uw + px - f.rx[i]);
  for (Phase& f : phases) {
    for (size_t i = 0; i < f.taps.size(); ++i) f.shift.push_back((py - f.ry[i]) * gw + (px - f.rx[i]));
    f.zero_phase.assign(f.taps.size(), 0);
  }
  // The phases' tap sets partition the taps: one buffer of the weight's size holds them all.
  thread_local Workspace ws_wr;
  float* wr_all = ws_wr.get(size_t(G * Cg * taps * Kg));
  {
    int64_t off = 0;
    for (Phase& f : phases) { f.wr = wr_all + off; off += G * Cg * int64_t(f.taps.size()) * Kg; }
  }
  // wr[c][i*kg + k] = w[k][c][taps[i]] per group, in blocks of 16 output x 16 input channels:
  // the block's 16 rows of w (16 x 16 x taps contiguous values each) are transposed in L1, then
  // written as runs of 16 output channels.
  const int64_t kblocks = (Kg + 15) / 16, cblocks = (Cg + 15) / 16;
  std::vector<int> tap_phase(static_cast<size_t>(taps)), tap_index(static_cast<size_t>(taps));
  for (size_t f = 0; f < phases.size(); ++f)
    for (size_t i = 0; i < phases[f].taps.size(); ++i) {
      tap_phase[size_t(phases[f].taps[i])] = int(f);
      tap_index[size_t(phases[f].taps[i])] = int(i);
    }
  parallel_for(G * kblocks * cblocks, 1, [&](int64_t j0, int64_t j1) {
    std::vector<float> tmp(size_t(taps * 16 * 16));  // [t][c][k]
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t gi = j / (kblocks * cblocks), kb = ((j / cblocks) % kblocks) * 16, cb = (j % cblocks) * 16;
      const int64_t kn = std::min<int64_t>(16, Kg - kb), cn = std::min<int64_t>(16, Cg - cb);
      for (int64_t k = 0; k < kn; ++k) {
        const float* s = w + ((gi * Kg + kb + k) * Cg + cb) * taps;
        for (int64_t c = 0; c < cn; ++c)
          for (int64_t t = 0; t < taps; ++t) tmp[size_t((t * 16 + c) * 16 + k)] = s[c * taps + t];
      }
      for (int64_t t = 0; t < taps; ++t) {
        const Phase& f = phases[size_t(tap_phase[size_t(t)])];
        const int64_t tl = int64_t(f.taps.size()), i = tap_index[size_t(t)];
        for (int64_t c = 0; c < cn; ++c)
          std::memcpy(f.wr + ((gi * Cg + cb + c) * tl + i) * Kg + kb, &tmp[size_t((t * 16 + c) * 16)], size_t(kn) * sizeof(float));
      }
    }
  });
  // Bands of gx phase rows [u0, u1) read padded-gy rows [u0, u1 + halo): the padded gy band and
  // the grid stay around 8 MB.
  int64_t max_shift = 0, max_uh = 0;
  for (const Phase& f : phases) {
    max_uh = std::max(max_uh, f.uh);
    for (int64_t sft : f.shift) max_shift = std::max(max_shift, sft);
  }
  const int64_t halo = (max_shift + kSlack) / gw + 2;
  const int64_t band = std::clamp<int64_t>((int64_t(2) << 20) / std::max<int64_t>((Kg + Cg) * gw, 1) - halo, 1, std::max<int64_t>(max_uh, 1));
  const int64_t bplane = (band + halo) * gw;
  const int64_t items = p.n * G;
  const bool outer = parallel_over_items(items, double(Kg) * double(P) * double(Cg * taps));
  auto one = [&](int64_t item) {
    const int64_t n = item / G, gi = item % G;
    thread_local Workspace ws_src, ws_grid;
    float* src = ws_src.get(size_t(Kg * bplane));
    float* grid = ws_grid.get(size_t(Cg * band * gw));
    float* gxg = gx + (n * p.c + gi * Cg) * plane_x;
    for (int64_t u0 = 0; u0 < max_uh; u0 += band) {
      const int64_t u1 = std::min(max_uh, u0 + band);
      // gy padded, band rows: src[k][(u' - u0)*gw + v'] = gy[k][u' - py][v' - px]
      parallel_for(Kg, 4, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k)
          build_phase_image(gy + (n * p.k + gi * Kg + k) * P, p.oh, p.ow, 1, 1, 0, 0, py - u0, px, gw, bplane, src + k * bplane);
      });
      for (const Phase& f : phases) {
        const int64_t fu1 = std::min(u1, f.uh);
        if (fu1 <= u0 || f.uw == 0) continue;
        const int64_t tl = int64_t(f.taps.size()), N = (fu1 - u0) * gw;
        if (tl == 0) {
          parallel_for(Cg, 4, [&](int64_t c0, int64_t c1) {
            for (int64_t c = c0; c < c1; ++c)
              for (int64_t u = u0; u < fu1; ++u)
                for (int64_t v = 0; v < f.uw; ++v) gxg[c * plane_x + (p.sh * u + f.ay) * p.w + p.sw * v + f.ax] = 0.f;
          });
          continue;
        }
        MatrixPackA pa(f.wr + gi * Cg * tl * Kg, tl * Kg, false);
        ShiftPackB pb(src, bplane, Kg, f.zero_phase.data(), f.shift.data());
        gemm_packed(uk, Cg, N, tl * Kg, 1.f, pa, pb, 0.f, grid, N);
        parallel_for(Cg, std::max<int64_t>(1, 16384 / std::max<int64_t>(N, 1)), [&](int64_t c0, int64_t c1) {
          for (int64_t c = c0; c < c1; ++c)
            for (int64_t u = u0; u < fu1; ++u) {
              const float* sg = grid + c * N + (u - u0) * gw;
              float* d = gxg + c * plane_x + (p.sh * u + f.ay) * p.w + f.ax;
              if (p.sw == 1) std::memcpy(d, sg, size_t(f.uw) * sizeof(float));
              else for (int64_t v = 0; v < f.uw; ++v) d[v * p.sw] = sg[v];
            }
        });
      }
    }
  };
  if (outer) parallel_for(items, 1, [&](int64_t i0, int64_t i1) { for (int64_t i = i0; i < i1; ++i) one(i); });
  else for (int64_t i = 0; i < items; ++i) one(i);
}

}  // namespace

void conv2d_set_algorithm(ConvAlgo algo) { g_algo.store(int(algo)); }
ConvAlgo conv2d_algorithm() { return ConvAlgo(g_algo.load()); }

void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y) {
  if (p.n == 0 || p.k == 0 || p.oh == 0 || p.ow == 0) return;
  if (p.c == 0) {  // no input channels: y = bias
    const int64_t P = p.oh * p.ow;
    for (int64_t n = 0; n < p.n; ++n)
      for (int64_t k = 0; k < p.k; ++k) std::fill(y + (n * p.k + k) * P, y + (n * p.k + k + 1) * P, b ? b[k] : 0.f);
    return;
  }
  const ConvAlgo algo = conv2d_algorithm();
  if (winograd_applicable(p) && (algo == ConvAlgo::Winograd || (algo == ConvAlgo::Auto && winograd_preferred(p)))) {
    winograd_forward(p, x, w, b, y);
    return;
  }
  forward_gemm(p, x, w, b, y);
}

namespace {
bool forward_uses_winograd(const Conv2dParams& p) {
  const ConvAlgo algo = conv2d_algorithm();
  return p.c > 0 && winograd_applicable(p) && (algo == ConvAlgo::Winograd || (algo == ConvAlgo::Auto && winograd_preferred(p)));
}
}  // namespace

int64_t conv2d_winograd_weights_size(const Conv2dParams& p) { return forward_uses_winograd(p) ? winograd_weights_size(p) : 0; }
void conv2d_winograd_weights(const Conv2dParams& p, const float* w, float* U) { winograd_weights(p, w, U); }

// Winograd applies the input affine as it reads x and the PReLU as it writes y. The other
// algorithms get a transformed copy of x and a PReLU pass over y (the same values, two passes).
void conv2d_forward_fused(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y, const ConvFusion& f) {
  if (p.n == 0 || p.k == 0 || p.oh == 0 || p.ow == 0) return;
  if (f.prepared || forward_uses_winograd(p)) {
    winograd_forward(p, x, w, b, y, f);
    return;
  }
  std::vector<float> xs;
  if (f.in_scale || f.in_shift) {
    const int64_t plane = p.h * p.w;
    xs.resize(size_t(p.n * p.c * plane));
    parallel_for(p.n * p.c, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = r % p.c;
        const float a = f.in_scale ? f.in_scale[c] : 1.f, s = f.in_shift ? f.in_shift[c] : 0.f;
        for (int64_t i = 0; i < plane; ++i) xs[size_t(r * plane + i)] = x[r * plane + i] * a + s;
      }
    });
    x = xs.data();
  }
  conv2d_forward(p, x, w, b, y);
  if (f.slope) prelu_forward(p.n, p.k, p.oh * p.ow, y, f.slope, y);  // element-wise: in place is safe
  if (f.channel_sums) {
    const int64_t plane = p.oh * p.ow;
    parallel_for(p.n * p.k, 4, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        float lanes[16] = {};
        const float* v = y + r * plane;
        for (int64_t i = 0; i < plane; ++i) lanes[i & 15] += v[i];
        float s = 0.f;
        for (float l : lanes) s += l;
        f.channel_sums[r] = s;
      }
    });
  }
}

void conv2d_backward_input(const Conv2dParams& p, const float* w, const float* gy, float* gx) {
  if (p.n == 0 || p.c == 0 || p.h == 0 || p.w == 0) return;
  if (p.k == 0 || p.oh == 0 || p.ow == 0) { std::memset(gx, 0, size_t(p.n * p.c * p.h * p.w) * sizeof(float)); return; }
  if (p.sh == 1 && p.sw == 1 && p.ph <= p.kh - 1 && p.pw <= p.kw - 1 && p.h == p.oh + p.kh - 1 - 2 * p.ph &&
      p.w == p.ow + p.kw - 1 - 2 * p.pw) {
    backward_input_flipped(p, w, gy, gx);
  } else {
    backward_input_phases(p, w, gy, gx);
  }
}

void conv2d_backward_weight(const Conv2dParams& p, const float* x, const float* gy, float* gw) {
  const int64_t Kdim = (p.c / p.groups) * p.kh * p.kw;
  if (p.k == 0 || Kdim == 0) return;
  if (p.n == 0 || p.oh == 0 || p.ow == 0) { std::memset(gw, 0, size_t(p.k * Kdim) * sizeof(float)); return; }
  const ConvAlgo algo = conv2d_algorithm();
  if (winograd_applicable(p) && (algo == ConvAlgo::Winograd || (algo == ConvAlgo::Auto && winograd_wgrad_preferred(p)))) {
    winograd_backward_weight(p, x, gy, gw);
    return;
  }
  backward_weight_shift(p, x, gy, gw);
}

void conv2d_backward_bias(const Conv2dParams& p, const float* gy, float* gb) {
  const int64_t P = p.oh * p.ow;
  parallel_for(p.k, std::max<int64_t>(1, 65536 / std::max<int64_t>(P * p.n, 1)), [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      double s = 0.0;
      for (int64_t n = 0; n < p.n; ++n) {
        const float* r = gy + (n * p.k + k) * P;
        float part[8] = {};
        int64_t j = 0;
        for (; j + 8 <= P; j += 8)
          for (int l = 0; l < 8; ++l) part[l] += r[j + l];
        double t = 0.0;
        for (int l = 0; l < 8; ++l) t += part[l];
        for (; j < P; ++j) t += r[j];
        s += t;
      }
      gb[k] = float(s);
    }
  });
}

}  // namespace sgi::cpu
