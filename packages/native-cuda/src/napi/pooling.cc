// Node-API glue for the pooling family (see common/kernels/pooling.h): argument checks and
// device dispatch only. Output sizes are computed in TS (packages/core/src/ops/pooling.ts);
// here every size is checked against the storages and the windows against the input.
#include <string>
#include "common/kernels/pooling.h"
#include "napi/registry.h"

namespace sgi {

namespace {
int64_t positive(const Args& args, int64_t v, const char* name, bool allow_zero = true) {
  if (v < 0 || (!allow_zero && v == 0)) args.fail(std::string(name) + " must be " + (allow_zero ? "non-negative" : "positive") + ", got " + std::to_string(v));
  return v;
}

// (planes, inH, inW, crop [top, left, cropH, cropW], out [outH, outW]) from argument `first` on.
AdaptivePool2dParams adaptive_params(const Args& args, size_t first) {
  AdaptivePool2dParams p;
  p.planes = positive(args, args.i64(first, "planes"), "planes");
  p.in_h = positive(args, args.i64(first + 1, "inH"), "inH");
  p.in_w = positive(args, args.i64(first + 2, "inW"), "inW");
  std::vector<int64_t> crop = args.ints(first + 3, "crop", 4), out = args.ints(first + 4, "outSize", 2);
  p.top = crop[0]; p.left = crop[1]; p.crop_h = crop[2]; p.crop_w = crop[3];
  p.out_h = out[0]; p.out_w = out[1];
  if (p.top < 0 || p.left < 0 || p.crop_h <= 0 || p.crop_w <= 0 || p.top + p.crop_h > p.in_h || p.left + p.crop_w > p.in_w)
    args.fail("crop [top " + std::to_string(p.top) + ", left " + std::to_string(p.left) + ", size " + dims_str({p.crop_h, p.crop_w}) +
              "] does not fit in the input " + dims_str({p.in_h, p.in_w}));
  if (p.out_h <= 0 || p.out_w <= 0) args.fail("output size " + dims_str({p.out_h, p.out_w}) + " must be positive");
  return p;
}

// (planes, inH, inW, outH, outW, kernel [kh, kw], stride [sh, sw], pad [ph, pw]) from `first` on.
Pool2dParams window_params(const Args& args, size_t first) {
  Pool2dParams p;
  p.planes = positive(args, args.i64(first, "planes"), "planes");
  p.in_h = positive(args, args.i64(first + 1, "inH"), "inH");
  p.in_w = positive(args, args.i64(first + 2, "inW"), "inW");
  p.out_h = positive(args, args.i64(first + 3, "outH"), "outH");
  p.out_w = positive(args, args.i64(first + 4, "outW"), "outW");
  std::vector<int64_t> k = args.ints(first + 5, "kernel", 2), s = args.ints(first + 6, "stride", 2), pd = args.ints(first + 7, "padding", 2);
  for (int d = 0; d < 2; ++d) {
    if (k[d] <= 0 || k[d] > 1 << 20) args.fail("kernel " + dims_str({k[0], k[1]}) + " must be positive");
    if (s[d] <= 0 || s[d] > 1 << 20) args.fail("stride " + dims_str({s[0], s[1]}) + " must be positive");
    if (pd[d] < 0 || pd[d] * 2 > k[d]) args.fail("padding " + dims_str({pd[0], pd[1]}) + " must be between 0 and half the kernel " + dims_str({k[0], k[1]}));
  }
  p.kernel_h = int(k[0]); p.kernel_w = int(k[1]);
  p.stride_h = int(s[0]); p.stride_w = int(s[1]);
  p.pad_h = int(pd[0]); p.pad_w = int(pd[1]);
  // every window must start inside the (left/top-padded) input; (out - 1) * stride is computed
  // checked, since out may be as large as 2^53 here
  int64_t start_h = 0, start_w = 0;
  if (!mul_fits(p.out_h > 0 ? p.out_h - 1 : 0, p.stride_h, &start_h) || !mul_fits(p.out_w > 0 ? p.out_w - 1 : 0, p.stride_w, &start_w) ||
      (p.out_h > 0 && start_h - p.pad_h >= p.in_h) || (p.out_w > 0 && start_w - p.pad_w >= p.in_w))
    args.fail("output size " + dims_str({p.out_h, p.out_w}) + " has windows outside the input " + dims_str({p.in_h, p.in_w}));
  return p;
}
}  // namespace

// adaptiveAvgPool2dForward(x, y, planes, inH, inW, [top, left, cropH, cropW], [outH, outW])
SGI_NAPI(adaptiveAvgPool2dForward) {
  Args args(info, "adaptiveAvgPool2dForward");
  Storage *x = args.tensor(0, "x"), *y = args.tensor(1, "y");
  AdaptivePool2dParams p = adaptive_params(args, 2);
  args.data(x, args.numel({p.planes, p.in_h, p.in_w}, "x"), "x");
  args.data(y, args.numel({p.planes, p.out_h, p.out_w}, "y"), "y");
  if (p.planes == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, y}), adaptive_avg_pool2d_forward, p, x->data(), y->data());
  return info.Env().Undefined();
}

// adaptiveAvgPool2dBackward(gy, gx, planes, inH, inW, [top, left, cropH, cropW], [outH, outW])
SGI_NAPI(adaptiveAvgPool2dBackward) {
  Args args(info, "adaptiveAvgPool2dBackward");
  Storage *gy = args.tensor(0, "gy"), *gx = args.tensor(1, "gx");
  AdaptivePool2dParams p = adaptive_params(args, 2);
  args.data(gy, args.numel({p.planes, p.out_h, p.out_w}, "y"), "gy");
  args.data(gx, args.numel({p.planes, p.in_h, p.in_w}, "x"), "gx");
  if (p.planes == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({gy, gx}), adaptive_avg_pool2d_backward, p, gy->data(), gx->data());
  return info.Env().Undefined();
}

// maxPool2dForward(x, y, indices | null, planes, inH, inW, outH, outW, kernel, stride, padding)
SGI_NAPI(maxPool2dForward) {
  Args args(info, "maxPool2dForward");
  Storage *x = args.tensor(0, "x"), *y = args.tensor(1, "y"), *idx = args.optional_tensor(2, "indices");
  Pool2dParams p = window_params(args, 3);
  if (args.numel({p.in_h, p.in_w}, "input plane") > (size_t(1) << 24)) args.fail("input planes above 2^24 elements cannot store exact float indices");
  args.data(x, args.numel({p.planes, p.in_h, p.in_w}, "x"), "x");
  size_t n_out = args.numel({p.planes, p.out_h, p.out_w}, "y");
  args.data(y, n_out, "y");
  float* pi = args.data(idx, n_out, "indices");
  if (n_out == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, y, idx}), max_pool2d_forward, p, x->data(), y->data(), pi);
  return info.Env().Undefined();
}

// maxPool2dBackward(gy, indices, gx, planes, inH, inW, outH, outW, kernel, stride, padding)
SGI_NAPI(maxPool2dBackward) {
  Args args(info, "maxPool2dBackward");
  Storage *gy = args.tensor(0, "gy"), *idx = args.tensor(1, "indices"), *gx = args.tensor(2, "gx");
  Pool2dParams p = window_params(args, 3);
  size_t n_out = args.numel({p.planes, p.out_h, p.out_w}, "y");
  args.data(gy, n_out, "gy");
  args.data(idx, n_out, "indices");
  args.data(gx, args.numel({p.planes, p.in_h, p.in_w}, "x"), "gx");
  if (p.planes == 0 || p.in_h == 0 || p.in_w == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({gy, idx, gx}), max_pool2d_backward, p, gy->data(), idx->data(), gx->data());
  return info.Env().Undefined();
}

// avgPool2dForward(x, y, planes, inH, inW, outH, outW, kernel, stride, padding, countIncludePad)
SGI_NAPI(avgPool2dForward) {
  Args args(info, "avgPool2dForward");
  Storage *x = args.tensor(0, "x"), *y = args.tensor(1, "y");
  Pool2dParams p = window_params(args, 2);
  p.count_include_pad = args.flag(10, "countIncludePad");
  args.data(x, args.numel({p.planes, p.in_h, p.in_w}, "x"), "x");
  args.data(y, args.numel({p.planes, p.out_h, p.out_w}, "y"), "y");
  if (p.planes == 0 || p.out_h == 0 || p.out_w == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, y}), avg_pool2d_forward, p, x->data(), y->data());
  return info.Env().Undefined();
}

// avgPool2dBackward(gy, gx, planes, inH, inW, outH, outW, kernel, stride, padding, countIncludePad)
SGI_NAPI(avgPool2dBackward) {
  Args args(info, "avgPool2dBackward");
  Storage *gy = args.tensor(0, "gy"), *gx = args.tensor(1, "gx");
  Pool2dParams p = window_params(args, 2);
  p.count_include_pad = args.flag(10, "countIncludePad");
  args.data(gy, args.numel({p.planes, p.out_h, p.out_w}, "y"), "gy");
  args.data(gx, args.numel({p.planes, p.in_h, p.in_w}, "x"), "gx");
  if (p.planes == 0 || p.in_h == 0 || p.in_w == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({gy, gx}), avg_pool2d_backward, p, gy->data(), gx->data());
  return info.Env().Undefined();
}

}  // namespace sgi
