// Node-API glue for the resampling family (see common/kernels/resample.h): argument checks and
// device dispatch only. Output sizes are recomputed here from the parameters and checked
// against the storages the caller allocated.
#include <string>
#include "common/kernels/resample.h"
#include "napi/registry.h"

namespace sgi {

namespace {
// (planes, inH, inW, [kh, kw], [upX, upY], [downX, downY], [padX0, padX1, padY0, padY1]) from `first` on.
Upfirdn2dParams upfirdn_params(const Args& args, size_t first) {
  Upfirdn2dParams p;
  p.planes = args.i64(first, "planes");
  p.in_h = args.i64(first + 1, "inH");
  p.in_w = args.i64(first + 2, "inW");
  if (p.planes < 0 || p.in_h <= 0 || p.in_w <= 0) args.fail("input planes x size " + dims_str({p.planes, p.in_h, p.in_w}) + " must be positive");
  std::vector<int64_t> k = args.ints(first + 3, "kernelSize", 2), up = args.ints(first + 4, "up", 2),
                       down = args.ints(first + 5, "down", 2), pad = args.ints(first + 6, "pad", 4);
  for (int d = 0; d < 2; ++d) {
    if (k[d] <= 0 || k[d] > 4096) args.fail("kernel size " + dims_str({k[0], k[1]}) + " must be positive");
    if (up[d] <= 0 || up[d] > 4096 || down[d] <= 0 || down[d] > 4096)
      args.fail("up " + dims_str({up[0], up[1]}) + " and down " + dims_str({down[0], down[1]}) + " must be positive");
  }
  for (int64_t v : pad)
    if (v < -(int64_t(1) << 30) || v > (int64_t(1) << 30)) args.fail("pad out of range");
  p.kernel_h = int(k[0]); p.kernel_w = int(k[1]);
  p.up_x = int(up[0]); p.up_y = int(up[1]);
  p.down_x = int(down[0]); p.down_y = int(down[1]);
  p.pad_x0 = int(pad[0]); p.pad_x1 = int(pad[1]); p.pad_y0 = int(pad[2]); p.pad_y1 = int(pad[3]);
  // in * up is computed checked: in may be as large as 2^53 here and up as large as 4096.
  int64_t up_h = 0, up_w = 0;
  if (!mul_fits(p.in_h, p.up_y, &up_h) || !mul_fits(p.in_w, p.up_x, &up_w) || up_h > kMaxNumel || up_w > kMaxNumel)
    args.fail("input " + dims_str({p.in_h, p.in_w}) + " upsampled by " + dims_str({up[0], up[1]}) + " is too large");
  const int64_t span_h = up_h + p.pad_y0 + p.pad_y1 - p.kernel_h;
  const int64_t span_w = up_w + p.pad_x0 + p.pad_x1 - p.kernel_w;
  if (span_h < 0 || span_w < 0)
    args.fail("kernel " + dims_str({k[0], k[1]}) + " is larger than the upsampled, padded input " +
              dims_str({span_h + p.kernel_h, span_w + p.kernel_w}));
  p.out_h = span_h / p.down_y + 1;
  p.out_w = span_w / p.down_x + 1;
  return p;
}

// (planes, inH, inW, outH, outW, alignCorners) from `first` on.
Bilinear2dParams bilinear_params(const Args& args, size_t first) {
  Bilinear2dParams p;
  p.planes = args.i64(first, "planes");
  p.in_h = args.i64(first + 1, "inH");
  p.in_w = args.i64(first + 2, "inW");
  p.out_h = args.i64(first + 3, "outH");
  p.out_w = args.i64(first + 4, "outW");
  p.align_corners = args.flag(first + 5, "alignCorners");
  if (p.planes < 0 || p.in_h <= 0 || p.in_w <= 0 || p.out_h <= 0 || p.out_w <= 0)
    args.fail("sizes must be positive: input " + dims_str({p.in_h, p.in_w}) + ", output " + dims_str({p.out_h, p.out_w}));
  return p;
}
}  // namespace

// upfirdn2dForward(x, kernel, y, planes, inH, inW, [kh, kw], [upX, upY], [downX, downY], [padX0, padX1, padY0, padY1])
SGI_NAPI(upfirdn2dForward) {
  Args args(info, "upfirdn2dForward");
  Storage *x = args.tensor(0, "x"), *k = args.tensor(1, "kernel"), *y = args.tensor(2, "y");
  Upfirdn2dParams p = upfirdn_params(args, 3);
  args.data(x, args.numel({p.planes, p.in_h, p.in_w}, "x"), "x");
  args.data(k, args.numel({p.kernel_h, p.kernel_w}, "kernel"), "kernel");
  args.data(y, args.numel({p.planes, p.out_h, p.out_w}, "y"), "y");
  if (p.planes == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, k, y}), upfirdn2d_forward, p, x->data(), k->data(), y->data());
  return info.Env().Undefined();
}

// upfirdn2dBackward(gy, kernel, gx, planes, inH, inW, [kh, kw], [upX, upY], [downX, downY], [padX0, padX1, padY0, padY1])
SGI_NAPI(upfirdn2dBackward) {
  Args args(info, "upfirdn2dBackward");
  Storage *gy = args.tensor(0, "gy"), *k = args.tensor(1, "kernel"), *gx = args.tensor(2, "gx");
  Upfirdn2dParams p = upfirdn_params(args, 3);
  args.data(gy, args.numel({p.planes, p.out_h, p.out_w}, "y"), "gy");
  args.data(k, args.numel({p.kernel_h, p.kernel_w}, "kernel"), "kernel");
  args.data(gx, args.numel({p.planes, p.in_h, p.in_w}, "x"), "gx");
  if (p.planes == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({gy, k, gx}), upfirdn2d_backward, p, gy->data(), k->data(), gx->data());
  return info.Env().Undefined();
}

// bilinear2dForward(x, y, planes, inH, inW, outH, outW, alignCorners)
SGI_NAPI(bilinear2dForward) {
  Args args(info, "bilinear2dForward");
  Storage *x = args.tensor(0, "x"), *y = args.tensor(1, "y");
  Bilinear2dParams p = bilinear_params(args, 2);
  args.data(x, args.numel({p.planes, p.in_h, p.in_w}, "x"), "x");
  args.data(y, args.numel({p.planes, p.out_h, p.out_w}, "y"), "y");
  if (p.planes == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, y}), bilinear2d_forward, p, x->data(), y->data());
  return info.Env().Undefined();
}

// bilinear2dBackward(gy, gx, planes, inH, inW, outH, outW, alignCorners)
SGI_NAPI(bilinear2dBackward) {
  Args args(info, "bilinear2dBackward");
  Storage *gy = args.tensor(0, "gy"), *gx = args.tensor(1, "gx");
  Bilinear2dParams p = bilinear_params(args, 2);
  args.data(gy, args.numel({p.planes, p.out_h, p.out_w}, "y"), "gy");
  args.data(gx, args.numel({p.planes, p.in_h, p.in_w}, "x"), "gx");
  if (p.planes == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({gy, gx}), bilinear2d_backward, p, gy->data(), gx->data());
  return info.Env().Undefined();
}

}  // namespace sgi
