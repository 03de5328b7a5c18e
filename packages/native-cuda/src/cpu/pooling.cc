// CPU pooling kernels (see common/kernels/pooling.h). Forward passes run over output rows, and
// backward passes gather over input rows (each input element sums the outputs whose window
// contains it), so every element is written by one thread and there are no races or atomics.
#include <cmath>
#include <limits>
#include <vector>
#include "common/kernels/pooling.h"
#include "common/parallel.h"

namespace sgi::cpu {

using namespace pool_math;

namespace {
// Rows per chunk so that a chunk does about 32k multiply-adds.
int64_t row_grain(int64_t work_per_row) {
  int64_t w = work_per_row > 0 ? work_per_row : 1;
  return 32768 / w + 1;
}

// Sum of n consecutive values in 16 independent lanes (vectorised, unlike one serial sum whose
// every add waits for the previous), then the lanes pairwise: a fixed order, so results are
// the same run to run.
float row_sum(const float* x, int64_t n) {
  constexpr int L = 16;
  float acc[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int l = 0; l < L; ++l) acc[l] += x[i + l];
  for (int l = 0; i < n; ++i, ++l) acc[l] += x[i];
  for (int w = L / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
  return acc[0];
}
}  // namespace

void adaptive_avg_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y) {
  const int64_t rows = p.planes * p.out_h;
  const int64_t win_h = (p.crop_h + p.out_h - 1) / p.out_h + 1, win_w = (p.crop_w + p.out_w - 1) / p.out_w + 1;
  parallel_for(rows, row_grain(p.out_w * win_h * win_w), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t plane = r / p.out_h, oh = r % p.out_h;
      const int64_t hs = adaptive_start(oh, p.crop_h, p.out_h), he = adaptive_end(oh, p.crop_h, p.out_h);
      const float* xp = x + plane * p.in_h * p.in_w + (p.top + hs) * p.in_w + p.left;
      float* yr = y + r * p.out_w;
      for (int64_t ow = 0; ow < p.out_w; ++ow) {
        const int64_t ws = adaptive_start(ow, p.crop_w, p.out_w), we = adaptive_end(ow, p.crop_w, p.out_w);
        float sum = 0.f;
        for (int64_t ih = 0; ih < he - hs; ++ih) sum += row_sum(xp + ih * p.in_w + ws, we - ws);
        yr[ow] = sum / float((he - hs) * (we - ws));
      }
    }
  });
}

void adaptive_avg_pool2d_backward(const AdaptivePool2dParams& p, const float* gy, float* gx) {
  // Per input column (within the crop): the outputs [ow0, ow1) whose window holds it; per output
  // row/column: 1 / window extent. Rows likewise. Built once per call.
  std::vector<int64_t> ow0(size_t(p.crop_w)), ow1(size_t(p.crop_w));
  std::vector<float> inv_h(size_t(p.out_h)), inv_w(size_t(p.out_w));
  for (int64_t c = 0; c < p.crop_w; ++c) {
    ow0[size_t(c)] = adaptive_first_out(c, p.crop_w, p.out_w);
    ow1[size_t(c)] = adaptive_last_out(c, p.crop_w, p.out_w);
  }
  for (int64_t o = 0; o < p.out_h; ++o) inv_h[size_t(o)] = 1.f / float(adaptive_end(o, p.crop_h, p.out_h) - adaptive_start(o, p.crop_h, p.out_h));
  for (int64_t o = 0; o < p.out_w; ++o) inv_w[size_t(o)] = 1.f / float(adaptive_end(o, p.crop_w, p.out_w) - adaptive_start(o, p.crop_w, p.out_w));
  const int64_t rows = p.planes * p.in_h;
  parallel_for(rows, row_grain(p.in_w * 4), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t plane = r / p.in_h, ih = r % p.in_h;
      float* gr = gx + r * p.in_w;
      const int64_t ch = ih - p.top;
      if (ch < 0 || ch >= p.crop_h) {
        for (int64_t iw = 0; iw < p.in_w; ++iw) gr[iw] = 0.f;
        continue;
      }
      const int64_t oh0 = adaptive_first_out(ch, p.crop_h, p.out_h), oh1 = adaptive_last_out(ch, p.crop_h, p.out_h);
      const float* gp = gy + plane * p.out_h * p.out_w;
      for (int64_t iw = 0; iw < p.left; ++iw) gr[iw] = 0.f;
      for (int64_t iw = p.left + p.crop_w; iw < p.in_w; ++iw) gr[iw] = 0.f;
      float* gc = gr + p.left;
      for (int64_t cw = 0; cw < p.crop_w; ++cw) {
        const int64_t a = ow0[size_t(cw)], b = ow1[size_t(cw)];
        float sum = 0.f;
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          const float* grow = gp + oh * p.out_w;
          float part = 0.f;
          for (int64_t ow = a; ow < b; ++ow) part += grow[ow] * inv_w[size_t(ow)];
          sum += part * inv_h[size_t(oh)];
        }
        gc[cw] = sum;
      }
    }
  });
}

void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, float* indices) {
  const int64_t rows = p.planes * p.out_h;
  if (p.kernel_h == 1 && p.kernel_w == 1 && p.pad_h == 0 && p.pad_w == 0) {
    // a 1x1 window (IR-SE's subsampling shortcut) is a strided copy
    parallel_for(rows, row_grain(p.out_w), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t plane = r / p.out_h, ih = (r % p.out_h) * p.stride_h;
        const float* xr = x + (plane * p.in_h + ih) * p.in_w;
        float* yr = y + r * p.out_w;
        for (int64_t ow = 0; ow < p.out_w; ++ow) yr[ow] = xr[ow * p.stride_w];
        if (indices)
          for (int64_t ow = 0; ow < p.out_w; ++ow) indices[r * p.out_w + ow] = float(ih * p.in_w + ow * p.stride_w);
      }
    });
    return;
  }
  parallel_for(rows, row_grain(p.out_w * p.kernel_h * p.kernel_w), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t plane = r / p.out_h, oh = r % p.out_h;
      int64_t hs = oh * p.stride_h - p.pad_h, he = hs + p.kernel_h;
      if (hs < 0) hs = 0;
      if (he > p.in_h) he = p.in_h;
      const float* xp = x + plane * p.in_h * p.in_w;
      for (int64_t ow = 0; ow < p.out_w; ++ow) {
        int64_t ws = ow * p.stride_w - p.pad_w, we = ws + p.kernel_w;
        if (ws < 0) ws = 0;
        if (we > p.in_w) we = p.in_w;
        float best = -std::numeric_limits<float>::infinity();
        int64_t arg = hs * p.in_w + ws;
        for (int64_t ih = hs; ih < he; ++ih) {
          for (int64_t iw = ws; iw < we; ++iw) {
            const float v = xp[ih * p.in_w + iw];
            if (v > best || std::isnan(v)) { best = v; arg = ih * p.in_w + iw; if (std::isnan(v)) goto done; }
          }
        }
      done:
        y[r * p.out_w + ow] = best;
        if (indices) indices[r * p.out_w + ow] = float(arg);
      }
    }
  });
}

namespace {
// Per input column: the outputs [first, last) whose window contains it (built once per call).
struct ColumnRanges {
  std::vector<int64_t> first, last;
  ColumnRanges(const Pool2dParams& p) : first(size_t(p.in_w)), last(size_t(p.in_w)) {
    for (int64_t iw = 0; iw < p.in_w; ++iw) {
      first[size_t(iw)] = window_first_out(iw, p.kernel_w, p.stride_w, p.pad_w);
      last[size_t(iw)] = window_last_out(iw, p.stride_w, p.pad_w, p.out_w);
    }
  }
};
}  // namespace

void max_pool2d_backward(const Pool2dParams& p, const float* gy, const float* indices, float* gx) {
  const ColumnRanges cols(p);
  const int64_t rows = p.planes * p.in_h;
  const int64_t per = ((p.kernel_h + p.stride_h - 1) / p.stride_h) * ((p.kernel_w + p.stride_w - 1) / p.stride_w);
  parallel_for(rows, row_grain(p.in_w * per), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t plane = r / p.in_h, ih = r % p.in_h;
      const int64_t oh0 = window_first_out(ih, p.kernel_h, p.stride_h, p.pad_h);
      const int64_t oh1 = window_last_out(ih, p.stride_h, p.pad_h, p.out_h);
      const float* gp = gy + plane * p.out_h * p.out_w;
      const float* ip = indices + plane * p.out_h * p.out_w;
      float* gr = gx + r * p.in_w;
      const int64_t row_base = ih * p.in_w;
      for (int64_t iw = 0; iw < p.in_w; ++iw) {
        const int64_t ow0 = cols.first[size_t(iw)], ow1 = cols.last[size_t(iw)];
        const float self = float(row_base + iw);
        float sum = 0.f;
        for (int64_t oh = oh0; oh < oh1; ++oh)
          for (int64_t ow = ow0; ow < ow1; ++ow)
            if (ip[oh * p.out_w + ow] == self) sum += gp[oh * p.out_w + ow];
        gr[iw] = sum;
      }
    }
  });
}

void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y) {
  const int64_t rows = p.planes * p.out_h;
  parallel_for(rows, row_grain(p.out_w * p.kernel_h * p.kernel_w), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t plane = r / p.out_h, oh = r % p.out_h;
      int64_t hs = oh * p.stride_h - p.pad_h, he = hs + p.kernel_h;
      if (hs < 0) hs = 0;
      if (he > p.in_h) he = p.in_h;
      const float* xp = x + plane * p.in_h * p.in_w;
      for (int64_t ow = 0; ow < p.out_w; ++ow) {
        int64_t ws = ow * p.stride_w - p.pad_w, we = ws + p.kernel_w;
        if (ws < 0) ws = 0;
        if (we > p.in_w) we = p.in_w;
        float sum = 0.f;
        for (int64_t ih = hs; ih < he; ++ih)
          for (int64_t iw = ws; iw < we; ++iw) sum += xp[ih * p.in_w + iw];
        const int64_t div = avg_divisor(p, oh, ow);
        y[r * p.out_w + ow] = div > 0 ? sum / float(div) : 0.f;
      }
    }
  });
}

void avg_pool2d_backward(const Pool2dParams& p, const float* gy, float* gx) {
  // The divisor of output (oh, ow) is a product of a row extent and a column extent (both modes).
  const ColumnRanges cols(p);
  std::vector<float> inv_w(size_t(p.out_w)), inv_h(size_t(p.out_h));
  for (int64_t oh = 0; oh < p.out_h; ++oh) {
    const int64_t d = avg_extent(oh, p.in_h, p.kernel_h, p.stride_h, p.pad_h, p.count_include_pad);
    inv_h[size_t(oh)] = d > 0 ? 1.f / float(d) : 0.f;
  }
  for (int64_t ow = 0; ow < p.out_w; ++ow) {
    const int64_t d = avg_extent(ow, p.in_w, p.kernel_w, p.stride_w, p.pad_w, p.count_include_pad);
    inv_w[size_t(ow)] = d > 0 ? 1.f / float(d) : 0.f;
  }
  const int64_t rows = p.planes * p.in_h;
  const int64_t per = ((p.kernel_h + p.stride_h - 1) / p.stride_h) * ((p.kernel_w + p.stride_w - 1) / p.stride_w);
  parallel_for(rows, row_grain(p.in_w * per), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t plane = r / p.in_h, ih = r % p.in_h;
      const int64_t oh0 = window_first_out(ih, p.kernel_h, p.stride_h, p.pad_h);
      const int64_t oh1 = window_last_out(ih, p.stride_h, p.pad_h, p.out_h);
      const float* gp = gy + plane * p.out_h * p.out_w;
      float* gr = gx + r * p.in_w;
      for (int64_t iw = 0; iw < p.in_w; ++iw) {
        const int64_t ow0 = cols.first[size_t(iw)], ow1 = cols.last[size_t(iw)];
        float sum = 0.f;
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          const float* grow = gp + oh * p.out_w;
          float part = 0.f;
          for (int64_t ow = ow0; ow < ow1; ++ow) part += grow[ow] * inv_w[size_t(ow)];
          sum += part * inv_h[size_t(oh)];
        }
        gr[iw] = sum;
      }
    }
  });
}

}  // namespace sgi::cpu
