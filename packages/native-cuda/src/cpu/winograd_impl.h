// Winograd F(4x4, 3x3) transforms, written as loops over "lanes" (tiles or output channels) so
// the compiler vectorises them with the width of the translation unit that includes this file
// (conv2d_winograd.cc generic, *_avx2.cc, *_avx512.cc). Include once per TU after defining
// SGI_WINO_MR and SGI_WINO_NR (the micro-kernel's tile shape); everything here has internal
// linkage, so the differently compiled copies never mix.
//
// Matrices (Lavin & Gray, points 0, +-1, +-2, inf):
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// U = G g G^T, V = B^T d B, y = A^T (U . V) A.
// Weight gradient (the same matrices transposed, F(3x3, 4x4)): with e the 4x4 tile of gy and d
// the 6x6 input patch, dW = G^T [sum over tiles of (A e A^T) . (B^T d B)] G.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include "cpu/conv2d_internal.h"
#include "cpu/simd_transpose.h"

namespace {

// A grow-only aligned buffer (local to this TU: no inline function shared across ISA builds).
struct Buffer {
  float* ptr = nullptr;
  size_t size = 0;
  ~Buffer() { std::free(ptr); }
  float* get(size_t n) {
    if (n > size) {
      std::free(ptr);
      const size_t bytes = ((n * sizeof(float) + 4095) / 4096) * 4096;
      ptr = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!ptr) { size = 0; throw std::bad_alloc(); }
      size = bytes / sizeof(float);
    }
    return ptr;
  }
};

using sgi::cpu::winograd::Geometry;
constexpr int kMR = SGI_WINO_MR, kNR = SGI_WINO_NR;

// 6 values at s[i*ss] -> B^T times them at o[i*os], for L lanes.
template <int L>
inline void bt_1d(const float* __restrict s, int ss, float* __restrict o, int os) {
  for (int l = 0; l < L; ++l) {
    const float d0 = s[l], d1 = s[ss + l], d2 = s[2 * ss + l], d3 = s[3 * ss + l], d4 = s[4 * ss + l], d5 = s[5 * ss + l];
    const float a = d4 - d2, b = d3 - d1, c = d3 + d4, e = d1 + d2, f = d4 - d3, h = d1 - d2;
    o[l] = 4.f * d0 - 5.f * d2 + d4;
    o[os + l] = c - 4.f * e;
    o[2 * os + l] = f + 4.f * h;
    o[3 * os + l] = a + 2.f * b;
    o[4 * os + l] = a - 2.f * b;
    o[5 * os + l] = 4.f * d1 - 5.f * d3 + d5;
  }
}

// 3 values -> G times them (6 values).
template <int L>
inline void g_1d(const float* __restrict s, int ss, float* __restrict o, int os) {
  for (int l = 0; l < L; ++l) {
    const float g0 = s[l], g1 = s[ss + l], g2 = s[2 * ss + l];
    const float p = g0 + g2, q = g0 * (1.f / 24.f) + g2 * (1.f / 6.f);
    o[l] = g0 * 0.25f;
    o[os + l] = (p + g1) * (-1.f / 6.f);
    o[2 * os + l] = (p - g1) * (-1.f / 6.f);
    o[3 * os + l] = q + g1 * (1.f / 12.f);
    o[4 * os + l] = q - g1 * (1.f / 12.f);
    o[5 * os + l] = g2;
  }
}

// 6 values -> A^T times them (4 values).
template <int L>
inline void at_1d(const float* __restrict s, int ss, float* __restrict o, int os) {
  for (int l = 0; l < L; ++l) {
    const float m0 = s[l], m1 = s[ss + l], m2 = s[2 * ss + l], m3 = s[3 * ss + l], m4 = s[4 * ss + l], m5 = s[5 * ss + l];
    const float a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
    o[l] = m0 + a + c;
    o[os + l] = b + 2.f * d;
    o[2 * os + l] = a + 4.f * c;
    o[3 * os + l] = b + 8.f * d + m5;
  }
}

// Weights: lanes = the MR output channels of a panel. Chunks of kChunk input channels are
// transformed into a local buffer, then written as 36 contiguous runs (one per U matrix).
void wino_weights(const Geometry& g, const float* w, int64_t p0, int64_t p1, float* U, int64_t upanels, int64_t ubase) {
  constexpr int kChunk = 16;
  alignas(64) float gin[9][kMR];
  alignas(64) float tmp[18][kMR];  // G g: 6 rows x 3 columns
  alignas(64) float u[36][kMR];
  alignas(64) float chunk[36][kChunk * kMR];
  for (int64_t p = p0; p < p1; ++p) {
    const int rows = int(g.kg - p * kMR < kMR ? g.kg - p * kMR : kMR);
    for (int64_t c0 = 0; c0 < g.cg; c0 += kChunk) {
      const int cc = int(g.cg - c0 < kChunk ? g.cg - c0 : kChunk);
      for (int ci = 0; ci < cc; ++ci) {
        for (int r = 0; r < kMR; ++r) {
          if (r < rows) {
            const float* src = w + ((p * kMR + r) * g.cg + c0 + ci) * 9;
            for (int t = 0; t < 9; ++t) gin[t][r] = src[t];
          } else {
            for (int t = 0; t < 9; ++t) gin[t][r] = 0.f;
          }
        }
        for (int col = 0; col < 3; ++col) g_1d<kMR>(gin[col], 3 * kMR, tmp[col], 3 * kMR);  // columns: rows 0..5 at stride 3
        for (int r = 0; r < 6; ++r) g_1d<kMR>(tmp[r * 3], kMR, u[r * 6], kMR);                 // rows
        for (int q = 0; q < 36; ++q) std::memcpy(chunk[q] + ci * kMR, u[q], sizeof(float) * kMR);
      }
      for (int q = 0; q < 36; ++q) std::memcpy(U + ((q * upanels + p - ubase) * g.cg + c0) * kMR, chunk[q], sizeof(float) * kMR * cc);
    }
  }
}

// A run of consecutive lanes whose tiles lie in one tile row: lanes [l0, l0 + len) hold tiles
// tx0 .. tx0 + len - 1 of tile row `row` (counted from the block's first row).
struct Run {
  int l0, len;
  int64_t row, tx0;
};

// Splits panel j of the block starting at tile0 into runs; returns the number of runs.
int panel_runs(const Geometry& g, int64_t tile0, int64_t j, int64_t row0, Run* runs) {
  int n = 0;
  const int64_t first = tile0 + j * kNR;
  for (int l = 0; l < kNR;) {
    const int64_t tile = first + l;
    if (tile >= g.tiles) break;
    const int64_t R = tile / g.tiles_w, tx = tile % g.tiles_w;
    int len = int(g.tiles_w - tx < kNR - l ? g.tiles_w - tx : kNR - l);
    if (tile + len > g.tiles) len = int(g.tiles - tile);
    runs[n++] = Run{l, len, R - row0, tx};
    l += len;
  }
  return n;
}

// Inputs: for each channel, the 6 input rows of every tile row the block touches are copied
// (zero padded) and split by column phase: Q[row][i][m][u] = xpad[4*ty + i][4*u + m]. The 6x6
// patch of tile tx is then Q[..][i][k % 4][tx + k / 4], so every run of tiles is a contiguous copy.
void wino_input(const Geometry& g, const float* x, int64_t tile0, int64_t panels, int64_t c0, int64_t c1, float* V) {
  alignas(64) float d[36][2 * kNR];  // a run copies kNR lanes from its start; later runs overwrite the excess
  std::memset(d, 0, sizeof d);
  alignas(64) float t[36][kNR];
  alignas(64) float v[36][kNR];
  Run runs[sgi::cpu::winograd::kMaxPanels][kNR];
  int nruns[sgi::cpu::winograd::kMaxPanels];
  const int64_t plane = g.h * g.w, U = g.tiles_w + 1, qstride = 4 * U;
  const int64_t tile_end = tile0 + panels * kNR < g.tiles ? tile0 + panels * kNR : g.tiles;
  const int64_t row0 = tile0 / g.tiles_w, rows = (tile_end - 1) / g.tiles_w - row0 + 1;
  for (int64_t j = 0; j < panels; ++j) nruns[j] = panel_runs(g, tile0, j, row0, runs[j]);
  thread_local Buffer ws_q, ws_line;
  float* Q = ws_q.get(size_t(rows * 6 * qstride + kNR));  // slack: run copies read kNR values
  float* line = ws_line.get(size_t(qstride));
  const int64_t lo = g.pw < qstride ? g.pw : qstride;                        // first column holding x
  const int64_t hi = g.pw + g.w < qstride ? g.pw + g.w : qstride;            // end of the columns holding x
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t R = row0 + r, n = R / g.tiles_h, ty = R % g.tiles_h;
      for (int i = 0; i < 6; ++i) {
        float* q = Q + (r * 6 + i) * qstride;
        const int64_t iy = ty * 4 - g.ph + i;
        if (iy < 0 || iy >= g.h) { std::memset(q, 0, sizeof(float) * size_t(qstride)); continue; }
        const float* src = x + n * g.x_image + c * plane + iy * g.w - g.pw;
        for (int64_t col = 0; col < lo; ++col) line[col] = 0.f;
        if (hi > lo && (g.in_scale || g.in_shift)) {
          const float a = g.in_scale ? g.in_scale[c] : 1.f, b = g.in_shift ? g.in_shift[c] : 0.f;
          for (int64_t col = lo; col < hi; ++col) line[col] = src[col] * a + b;
        } else if (hi > lo) {
          std::memcpy(line + lo, src + lo, sizeof(float) * size_t(hi - lo));
        }
        for (int64_t col = hi > lo ? hi : lo; col < qstride; ++col) line[col] = 0.f;
        float* __restrict q0 = q;
        float* __restrict q1 = q + U;
        float* __restrict q2 = q + 2 * U;
        float* __restrict q3 = q + 3 * U;
        const float* __restrict ln = line;
        for (int64_t u = 0; u < U; ++u) {
          q0[u] = ln[4 * u];
          q1[u] = ln[4 * u + 1];
          q2[u] = ln[4 * u + 2];
          q3[u] = ln[4 * u + 3];
        }
      }
    }
    for (int64_t j = 0; j < panels; ++j) {
      // Lanes past the last tile keep whatever they hold: their results are never stored.
      for (int e = 0; e < nruns[j]; ++e) {
        const Run& run = runs[j][e];
        for (int i = 0; i < 6; ++i) {
          const float* qi = Q + (run.row * 6 + i) * qstride + run.tx0;
          for (int k = 0; k < 6; ++k) {
            const float* s = qi + (k & 3) * U + (k >> 2);
            std::memcpy(d[i * 6 + k] + run.l0, s, sizeof(float) * kNR);
          }
        }
      }
      for (int col = 0; col < 6; ++col) bt_1d<kNR>(d[col], 12 * kNR, t[col], 6 * kNR);  // columns
      for (int r = 0; r < 6; ++r) bt_1d<kNR>(t[r * 6], kNR, v[r * 6], kNR);          // rows
      for (int q = 0; q < 36; ++q) std::memcpy(V + ((q * panels + j) * g.cg + c) * kNR, v[q], sizeof(float) * kNR);
    }
  }
}

// Outputs: per output channel and panel, y = act(A^T M A + bias) (act: PReLU with g.slope, else
// identity); each run of tiles writes 4 output rows of 4*len contiguous values (the last tile of a
// row may be cut by the image edge).
void wino_output(const Geometry& g, const float* M, int64_t m_rows, int64_t k0, int64_t k1, int64_t tile0, int64_t panels,
                 const float* bias, float* y) {
  alignas(64) float m[36][kNR];
  alignas(64) float t[24][kNR];  // A^T m: 4 rows x 6 columns
  alignas(64) float o[16][kNR];
  Run runs[kNR];
  const int64_t ld = panels * kNR, plane = g.oh * g.ow;
  const int64_t row0 = tile0 / g.tiles_w;
  for (int64_t j = 0; j < panels; ++j) {
    const int nr = panel_runs(g, tile0, j, row0, runs);
    for (int64_t k = k0; k < k1; ++k) {
      for (int q = 0; q < 36; ++q) std::memcpy(m[q], M + (q * m_rows + k - k0) * ld + j * kNR, sizeof(float) * kNR);
      for (int col = 0; col < 6; ++col) at_1d<kNR>(m[col], 6 * kNR, t[col], 6 * kNR);  // columns
      for (int r = 0; r < 4; ++r) at_1d<kNR>(t[r * 6], kNR, o[r * 4], kNR);           // rows
      const float bk = bias ? bias[k] : 0.f;
      const float sk = g.slope ? g.slope[k] : 1.f;  // v * 1 == v: no slope is the identity
      const auto act = [bk, sk](float v) { v += bk; return v > 0.f ? v : v * sk; };
      for (int e = 0; e < nr; ++e) {
        const Run& run = runs[e];
        const int64_t R = row0 + run.row, n = R / g.tiles_h, ty = R % g.tiles_h;
        const int64_t x0 = run.tx0 * 4;
        const int64_t width = g.ow - x0 < 4 * int64_t(run.len) ? g.ow - x0 : 4 * int64_t(run.len);
        const int full = int(width / 4), rest = int(width % 4);
        float run_sum = 0.f;
        for (int a = 0; a < 4; ++a) {
          const int64_t oy = ty * 4 + a;
          if (oy >= g.oh) break;
          float* dst = y + n * g.y_image + k * plane + oy * g.ow + x0;
          const float* o0 = o[a * 4] + run.l0;
          const float* o1 = o[a * 4 + 1] + run.l0;
          const float* o2 = o[a * 4 + 2] + run.l0;
          const float* o3 = o[a * 4 + 3] + run.l0;
          for (int u = 0; u < full; ++u) {
            dst[4 * u] = act(o0[u]);
            dst[4 * u + 1] = act(o1[u]);
            dst[4 * u + 2] = act(o2[u]);
            dst[4 * u + 3] = act(o3[u]);
          }
          for (int b = 0; b < rest; ++b) dst[4 * full + b] = act(o[a * 4 + b][run.l0 + full]);
          if (g.sums)
            for (int64_t i = 0; i < width; ++i) run_sum += dst[i];
        }
        if (g.sums) g.sums[n * g.sums_stride + k] += run_sum;
      }
    }
  }
}


// ---- weight gradient ----------------------------------------------------------------------------

// 4 values -> A times them (6 values).
template <int L>
inline void a_1d(const float* __restrict s, int ss, float* __restrict o, int os) {
  for (int l = 0; l < L; ++l) {
    const float e0 = s[l], e1 = s[ss + l], e2 = s[2 * ss + l], e3 = s[3 * ss + l];
    const float p = e0 + e2, q = e1 + e3, r = e0 + 4.f * e2, t = e1 + 4.f * e3;
    o[l] = e0;
    o[os + l] = p + q;
    o[2 * os + l] = p - q;
    o[3 * os + l] = r + 2.f * t;
    o[4 * os + l] = r - 2.f * t;
    o[5 * os + l] = e3;
  }
}

// 6 values -> G^T times them (3 values).
template <int L>
inline void gt_1d(const float* __restrict s, int ss, float* __restrict o, int os) {
  for (int l = 0; l < L; ++l) {
    const float m0 = s[l], m1 = s[ss + l], m2 = s[2 * ss + l], m3 = s[3 * ss + l], m4 = s[4 * ss + l], m5 = s[5 * ss + l];
    const float a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
    o[l] = m0 * 0.25f - a * (1.f / 6.f) + c * (1.f / 24.f);
    o[os + l] = d * (1.f / 12.f) - b * (1.f / 6.f);
    o[2 * os + l] = (c - a) * (1.f / 6.f) + m5;
  }
}

// Rows [r0, r1) of a zero-padded channels-last copy: dst[(r*cols + j)*cs + c] =
// src[c][r - top][j - left] for c < channels (0 outside the image), 0 for channels <= c < cs.
void wg_nhwc(const float* src, int64_t channels, int64_t h, int64_t w, int64_t top, int64_t left, int64_t r0, int64_t r1,
             int64_t cols, int64_t cs, float* dst) {
  const int64_t plane = h * w;
  const int64_t j_lo = left < 0 ? 0 : (left < cols ? left : cols);
  const int64_t j_hi = left + w < j_lo ? j_lo : (left + w < cols ? left + w : cols);
  for (int64_t r = r0; r < r1; ++r) {
    float* d = dst + r * cols * cs;
    const int64_t iy = r - top;
    if (iy < 0 || iy >= h) { std::memset(d, 0, sizeof(float) * size_t(cols * cs)); continue; }
    std::memset(d, 0, sizeof(float) * size_t(j_lo * cs));
    std::memset(d + j_hi * cs, 0, sizeof(float) * size_t((cols - j_hi) * cs));
    const float* srow = src + iy * w - left;  // srow[c*plane + j] = x[c][iy][j - left]
    int64_t c = 0;
    for (; c + kTB <= channels; c += kTB) {
      int64_t j = j_lo;
      for (; j + kTB <= j_hi; j += kTB) transpose_block(srow + c * plane + j, plane, d + j * cs + c, cs);
      for (; j < j_hi; ++j)
        for (int i = 0; i < kTB; ++i) d[j * cs + c + i] = srow[(c + i) * plane + j];
    }
    for (; c < channels; ++c)
      for (int64_t j = j_lo; j < j_hi; ++j) d[j * cs + c] = srow[c * plane + j];
    if (cs > channels)
      for (int64_t j = j_lo; j < j_hi; ++j) std::memset(d + j * cs + channels, 0, sizeof(float) * size_t(cs - channels));
  }
}

// x side: tiles [t0, t1) of one image (t = ty*tiles_w + tx) from the padded channels-last copy xt
// (row stride wp pixels, channel stride cs) -> B [36][cpanels][depth][NR] at depth index toff + t - t0.
void wg_x(const Geometry& g, const float* xt, int64_t wp, int64_t cs, int64_t t0, int64_t t1, int64_t cpanels, int64_t depth,
          int64_t toff, float* B) {
  alignas(64) float d[36][kNR];
  alignas(64) float t[36][kNR];
  alignas(64) float v[36][kNR];
  for (int64_t tile = t0; tile < t1; ++tile) {
    const int64_t ty = tile / g.tiles_w, tx = tile % g.tiles_w, di = toff + tile - t0;
    const float* base = xt + (ty * 4 * wp + tx * 4) * cs;
    for (int64_t cp = 0; cp < cpanels; ++cp) {
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) std::memcpy(d[i * 6 + j], base + (i * wp + j) * cs + cp * kNR, sizeof(float) * kNR);
      for (int col = 0; col < 6; ++col) bt_1d<kNR>(d[col], 6 * kNR, t[col], 6 * kNR);
      for (int r = 0; r < 6; ++r) bt_1d<kNR>(t[r * 6], kNR, v[r * 6], kNR);
      for (int q = 0; q < 36; ++q) std::memcpy(B + ((q * cpanels + cp) * depth + di) * kNR, v[q], sizeof(float) * kNR);
    }
  }
}

// gy side: 4x4 tiles of the channels-last gy copy gt (row stride wp pixels, channel stride ks,
// zero past the output) -> A [36][kpanels][depth][MR].
void wg_gy(const Geometry& g, const float* gt, int64_t wp, int64_t ks, int64_t t0, int64_t t1, int64_t kpanels, int64_t depth,
           int64_t toff, float* A) {
  alignas(64) float e[16][kMR];
  alignas(64) float t[24][kMR];  // A e: 6 rows x 4 columns
  alignas(64) float v[36][kMR];
  for (int64_t tile = t0; tile < t1; ++tile) {
    const int64_t ty = tile / g.tiles_w, tx = tile % g.tiles_w, di = toff + tile - t0;
    const float* base = gt + (ty * 4 * wp + tx * 4) * ks;
    for (int64_t kp = 0; kp < kpanels; ++kp) {
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) std::memcpy(e[i * 4 + j], base + (i * wp + j) * ks + kp * kMR, sizeof(float) * kMR);
      for (int col = 0; col < 4; ++col) a_1d<kMR>(e[col], 4 * kMR, t[col], 4 * kMR);  // columns: 4 -> 6 rows
      for (int r = 0; r < 6; ++r) a_1d<kMR>(t[r * 4], kMR, v[r * 6], kMR);           // rows: 4 -> 6
      for (int q = 0; q < 36; ++q) std::memcpy(A + ((q * kpanels + kp) * depth + di) * kMR, v[q], sizeof(float) * kMR);
    }
  }
}

// dU [36][kp][ldu] -> gw[k][c][3][3] = G^T dU[.][k][c] G for k in [k0, k1), c < cg.
void wg_finish(const Geometry& g, const float* dU, int64_t ldu, int64_t k0, int64_t k1, float* gw) {
  alignas(64) float m[36][kNR];
  alignas(64) float t[18][kNR];  // G^T m: 3 rows x 6 columns
  alignas(64) float o[9][kNR];
  for (int64_t k = k0; k < k1; ++k)
    for (int64_t c0 = 0; c0 < g.cg; c0 += kNR) {
      for (int q = 0; q < 36; ++q) std::memcpy(m[q], dU + (q * g.kp + k) * ldu + c0, sizeof(float) * kNR);
      for (int col = 0; col < 6; ++col) gt_1d<kNR>(m[col], 6 * kNR, t[col], 6 * kNR);  // columns: 6 -> 3 rows
      for (int r = 0; r < 3; ++r) gt_1d<kNR>(t[r * 6], kNR, o[r * 3], kNR);           // rows: 6 -> 3
      const int64_t cn = g.cg - c0 < kNR ? g.cg - c0 : kNR;
      for (int64_t l = 0; l < cn; ++l)
        for (int q = 0; q < 9; ++q) gw[(k * g.cg + c0 + l) * 9 + q] = o[q][l];
    }
}

const sgi::cpu::winograd::Kernels kWinogradKernels = {kMR, kNR, wino_weights, wino_input, wino_output, wg_nhwc, wg_x, wg_gy, wg_finish};

}  // namespace
