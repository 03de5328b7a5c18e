// CPU resampling kernels (see common/kernels/resample.h). Both ops are separable in their index
// arithmetic, so each call first builds small per-axis tables (allocated once per call, outside
// the loops); then every pass runs over destination rows (output rows forward, input rows
// backward, gathering): each element is written by one thread, no races or atomics.
// upfirdn2d: per kernel tap, the destination/source columns form arithmetic progressions, so a
// row is kh*kw strided saxpys (contiguous and vectorised for the up = down = 1 Blur).
#include <cstddef>
#include <vector>
#include "common/kernels/resample.h"
#include "common/parallel.h"

namespace sgi::cpu {

namespace {

int64_t row_grain(int64_t work_per_row) {
  int64_t w = work_per_row > 0 ? work_per_row : 1;
  return 32768 / w + 1;
}

// Bilinear along one axis: a CSR list of (source index, weight) pairs per destination position.
struct TapTable {
  std::vector<int64_t> start;  // size n + 1
  std::vector<int64_t> index;  // source position (input forward, output gradient backward)
  std::vector<float> weight;
  void begin(int64_t n) { start.assign(size_t(n) + 1, 0); index.clear(); weight.clear(); }
  void push(int64_t i, float w) { index.push_back(i); weight.push_back(w); }
};

void bilinear_forward_taps(TapTable& t, int64_t n_out, int64_t n_in, bool align) {
  const float scale = resample_math::bilinear_scale(n_in, n_out, align);
  t.begin(n_out);
  for (int64_t o = 0; o < n_out; ++o) {
    resample_math::LinearTap lt = resample_math::bilinear_tap(o, n_in, scale, align);
    t.push(lt.i0, lt.w0);
    t.push(lt.i1, lt.w1);
    t.start[size_t(o) + 1] = int64_t(t.index.size());
  }
}
// The transpose of the forward table: for input i, the (output, weight) pairs that read it.
void bilinear_backward_taps(TapTable& t, int64_t n_in, int64_t n_out, bool align) {
  TapTable f;
  bilinear_forward_taps(f, n_out, n_in, align);
  t.begin(n_in);
  std::vector<int64_t> count(size_t(n_in), 0);
  for (int64_t e = 0; e < int64_t(f.index.size()); ++e) count[size_t(f.index[e])]++;
  for (int64_t i = 0; i < n_in; ++i) t.start[size_t(i) + 1] = t.start[size_t(i)] + count[size_t(i)];
  t.index.resize(f.index.size());
  t.weight.resize(f.index.size());
  std::vector<int64_t> fill(t.start.begin(), t.start.end() - 1);
  for (int64_t o = 0; o < n_out; ++o) {
    for (int64_t e = f.start[size_t(o)]; e < f.start[size_t(o) + 1]; ++e) {
      const size_t at = size_t(fill[size_t(f.index[e])]++);
      t.index[at] = o;
      t.weight[at] = f.weight[e];
    }
  }
}

// dst[plane][y][x] = sum over row pairs (a, wa) and column pairs (b, wb) of src[plane][a][b] * wa * wb,
// in two stages per destination row: tmp = sum_a wa * src row a (contiguous saxpys), then
// dst[x] = sum_b wb * tmp[b]. tmp is one buffer per thread chunk, allocated before its row loop.
void separable_gather(const TapTable& rows, const TapTable& cols, int64_t planes, int64_t dst_h, int64_t dst_w,
                      int64_t src_h, int64_t src_w, const float* src, float* dst) {
  const int64_t taps_per_row = int64_t(rows.index.size()) / (dst_h ? dst_h : 1) + 1;
  const int64_t taps_per_col = int64_t(cols.index.size()) / (dst_w ? dst_w : 1) + 1;
  parallel_for(planes * dst_h, row_grain(src_w * taps_per_row + dst_w * taps_per_col), [&](int64_t begin, int64_t end) {
    std::vector<float> tmp(static_cast<size_t>(src_w));
    float* t = tmp.data();
    for (int64_t r = begin; r < end; ++r) {
      const int64_t plane = r / dst_h, y = r % dst_h;
      const float* sp = src + plane * src_h * src_w;
      for (int64_t x = 0; x < src_w; ++x) t[x] = 0.f;
      for (int64_t a = rows.start[size_t(y)]; a < rows.start[size_t(y) + 1]; ++a) {
        const float* srow = sp + rows.index[size_t(a)] * src_w;
        const float wa = rows.weight[size_t(a)];
        for (int64_t x = 0; x < src_w; ++x) t[x] += wa * srow[x];
      }
      float* dr = dst + r * dst_w;
      for (int64_t x = 0; x < dst_w; ++x) {
        float sum = 0.f;
        for (int64_t b = cols.start[size_t(x)]; b < cols.start[size_t(x) + 1]; ++b) sum += cols.weight[size_t(b)] * t[cols.index[size_t(b)]];
        dr[x] = sum;
      }
    }
  });
}

// upfirdn2d along one axis as arithmetic progressions. For destination index d and kernel tap k
// the source numerator is q = d*mul + c_k; the tap applies when q % div == 0 and 0 <= q/div < src_n.
// Forward: mul = down, div = up, c_k = k - pad0 (dst = output, src = input).
// Backward: mul = up, div = down, c_k = pad0 - k (dst = input gradient, src = output gradient).
// Either way the weight is kernel[ksize-1-k]. For each k the valid d form d0 + m*dstep and their
// sources s0 + m*sstep, m in [0, count).
struct AxisTap {
  int64_t d0 = 0, dstep = 1, s0 = 0, sstep = 1, count = 0;
};

int64_t gcd64(int64_t a, int64_t b) { while (b) { int64_t t = a % b; a = b; b = t; } return a; }

std::vector<AxisTap> axis_plan(int64_t dst_n, int64_t src_n, int64_t mul, int64_t div, int ksize, int64_t pad0, bool forward) {
  std::vector<AxisTap> plan(static_cast<size_t>(ksize));
  const int64_t g = gcd64(mul, div);
  for (int k = 0; k < ksize; ++k) {
    AxisTap& t = plan[size_t(k)];
    const int64_t c = forward ? k - pad0 : pad0 - k;
    // smallest d >= 0 with d*mul + c >= 0 and divisible by div
    int64_t d = c >= 0 ? 0 : (-c + mul - 1) / mul;
    int64_t found = -1;
    for (int64_t e = d; e < d + div / g; ++e)
      if ((e * mul + c) % div == 0) { found = e; break; }
    if (found < 0 || found >= dst_n) continue;
    t.d0 = found;
    t.dstep = div / g;
    t.s0 = (found * mul + c) / div;
    t.sstep = mul / g;
    if (t.s0 >= src_n) continue;
    const int64_t by_dst = (dst_n - 1 - t.d0) / t.dstep + 1, by_src = (src_n - 1 - t.s0) / t.sstep + 1;
    t.count = by_dst < by_src ? by_dst : by_src;
  }
  return plan;
}

// dst[y][x] = sum over row taps ky (valid for y) and column taps kx of
//             src[sy][sx] * kernel[kh-1-ky][kw-1-kx], as strided saxpys over each dst row.
void upfirdn_apply(const std::vector<AxisTap>& rows, const std::vector<AxisTap>& cols, int64_t planes, int64_t dst_h,
                   int64_t dst_w, int64_t src_h, int64_t src_w, const float* src, const float* kernel, int kh, int kw, float* dst) {
  int64_t macs = 0;
  for (const AxisTap& t : cols) macs += t.count;
  parallel_for(planes * dst_h, row_grain(macs * kh / 2 + dst_w), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t plane = r / dst_h, y = r % dst_h;
      const float* sp = src + plane * src_h * src_w;
      float* dr = dst + r * dst_w;
      for (int64_t x = 0; x < dst_w; ++x) dr[x] = 0.f;
      for (int ky = 0; ky < kh; ++ky) {
        const AxisTap& rt = rows[size_t(ky)];
        if (rt.count == 0 || y < rt.d0 || (y - rt.d0) % rt.dstep != 0) continue;
        const int64_t m = (y - rt.d0) / rt.dstep;
        if (m >= rt.count) continue;
        const float* srow = sp + (rt.s0 + m * rt.sstep) * src_w;
        const float* krow = kernel + (kh - 1 - ky) * kw;
        for (int kx = 0; kx < kw; ++kx) {
          const AxisTap& ct = cols[size_t(kx)];
          const float w = krow[kw - 1 - kx];
          const float* s = srow + ct.s0;
          float* d = dr + ct.d0;
          if (ct.dstep == 1 && ct.sstep == 1) {
            for (int64_t i = 0; i < ct.count; ++i) d[i] += s[i] * w;
          } else {
            const int64_t ds = ct.dstep, ss = ct.sstep;
            for (int64_t i = 0; i < ct.count; ++i) d[i * ds] += s[i * ss] * w;
          }
        }
      }
    }
  });
}

}  // namespace

void upfirdn2d_forward(const Upfirdn2dParams& p, const float* x, const float* kernel, float* y) {
  const auto rows = axis_plan(p.out_h, p.in_h, p.down_y, p.up_y, p.kernel_h, p.pad_y0, true);
  const auto cols = axis_plan(p.out_w, p.in_w, p.down_x, p.up_x, p.kernel_w, p.pad_x0, true);
  upfirdn_apply(rows, cols, p.planes, p.out_h, p.out_w, p.in_h, p.in_w, x, kernel, p.kernel_h, p.kernel_w, y);
}

void upfirdn2d_backward(const Upfirdn2dParams& p, const float* gy, const float* kernel, float* gx) {
  const auto rows = axis_plan(p.in_h, p.out_h, p.up_y, p.down_y, p.kernel_h, p.pad_y0, false);
  const auto cols = axis_plan(p.in_w, p.out_w, p.up_x, p.down_x, p.kernel_w, p.pad_x0, false);
  upfirdn_apply(rows, cols, p.planes, p.in_h, p.in_w, p.out_h, p.out_w, gy, kernel, p.kernel_h, p.kernel_w, gx);
}

void bilinear2d_forward(const Bilinear2dParams& p, const float* x, float* y) {
  TapTable rows, cols;
  bilinear_forward_taps(rows, p.out_h, p.in_h, p.align_corners);
  bilinear_forward_taps(cols, p.out_w, p.in_w, p.align_corners);
  separable_gather(rows, cols, p.planes, p.out_h, p.out_w, p.in_h, p.in_w, x, y);
}

void bilinear2d_backward(const Bilinear2dParams& p, const float* gy, float* gx) {
  TapTable rows, cols;
  bilinear_backward_taps(rows, p.in_h, p.out_h, p.align_corners);
  bilinear_backward_taps(cols, p.in_w, p.out_w, p.align_corners);
  separable_gather(rows, cols, p.planes, p.in_h, p.in_w, p.out_h, p.out_w, gy, gx);
}

}  // namespace sgi::cpu
