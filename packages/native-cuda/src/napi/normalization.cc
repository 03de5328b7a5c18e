// Node-API glue for the normalization family (see common/kernels/normalization.h).
#include "common/kernels/normalization.h"
#include "napi/registry.h"

namespace sgi {

// batchNormForward(x, weight|null, bias|null, runningMean|null, runningVar|null, y, saveMean, saveInvstd,
//                  n, c, s, training, momentum, eps)
SGI_NAPI(batchNormForward) {
  Args args(info, "batchNormForward");
  BatchNormParams p;
  p.n = args.dim(8, "n");
  p.c = args.dim(9, "c");
  p.s = args.dim(10, "s");
  p.training = args.flag(11, "training");
  p.momentum = float(args.f64(12, "momentum"));
  p.eps = float(args.f64(13, "eps"));
  const size_t numel = args.numel({p.n, p.c, p.s}, "x"), C = size_t(p.c);  // overflow-checked
  Storage *x = args.tensor(0, "x"), *w = args.optional_tensor(1, "weight"), *b = args.optional_tensor(2, "bias");
  Storage *rm = args.optional_tensor(3, "runningMean"), *rv = args.optional_tensor(4, "runningVar");
  Storage *y = args.tensor(5, "y"), *sm = args.tensor(6, "saveMean"), *si = args.tensor(7, "saveInvstd");
  args.data(x, numel, "x");
  args.data(y, numel, "y");
  args.data(w, C, "weight");
  args.data(b, C, "bias");
  args.data(rm, C, "runningMean");
  args.data(rv, C, "runningVar");
  args.data(sm, C, "saveMean");
  args.data(si, C, "saveInvstd");
  if (!p.training && (!rm || !rv)) args.fail("evaluation mode needs runningMean and runningVar");
  if (p.training && (p.n == 0 || p.s == 0) && C > 0) args.fail("training mode needs at least one value per channel");
  if (!(p.eps > 0.f)) args.fail("eps must be > 0");
  if (numel == 0 && C == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, w, b, rm, rv, y, sm, si}), batch_norm_forward, p, x->data(), w ? w->data() : nullptr,
               b ? b->data() : nullptr, rm ? rm->data() : nullptr, rv ? rv->data() : nullptr, y->data(), sm->data(), si->data());
  return info.Env().Undefined();
}

// batchNormBackward(x, gy, weight|null, saveMean, saveInvstd, gx|null, gweight|null, gbias|null, n, c, s, training)
SGI_NAPI(batchNormBackward) {
  Args args(info, "batchNormBackward");
  BatchNormParams p;
  p.n = args.dim(8, "n");
  p.c = args.dim(9, "c");
  p.s = args.dim(10, "s");
  p.training = args.flag(11, "training");
  const size_t numel = args.numel({p.n, p.c, p.s}, "x"), C = size_t(p.c);  // overflow-checked
  Storage *x = args.tensor(0, "x"), *gy = args.tensor(1, "gy"), *w = args.optional_tensor(2, "weight");
  Storage *sm = args.tensor(3, "saveMean"), *si = args.tensor(4, "saveInvstd");
  Storage *gx = args.optional_tensor(5, "gx"), *gw = args.optional_tensor(6, "gweight"), *gb = args.optional_tensor(7, "gbias");
  args.data(x, numel, "x");
  args.data(gy, numel, "gy");
  args.data(w, C, "weight");
  args.data(sm, C, "saveMean");
  args.data(si, C, "saveInvstd");
  args.data(gx, numel, "gx");
  args.data(gw, C, "gweight");
  args.data(gb, C, "gbias");
  if (C == 0 || (!gx && !gw && !gb)) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, gy, w, sm, si, gx, gw, gb}), batch_norm_backward, p, x->data(), gy->data(),
               w ? w->data() : nullptr, sm->data(), si->data(), gx ? gx->data() : nullptr, gw ? gw->data() : nullptr,
               gb ? gb->data() : nullptr);
  return info.Env().Undefined();
}

// pixelNormForward(x, y, inv, n, c, s, eps): inv holds n*s factors
SGI_NAPI(pixelNormForward) {
  Args args(info, "pixelNormForward");
  int64_t n = args.dim(3, "n"), c = args.dim(4, "c"), s = args.dim(5, "s");
  float eps = float(args.f64(6, "eps"));
  const size_t numel = args.numel({n, c, s}, "x");  // overflow-checked
  Storage *x = args.tensor(0, "x"), *y = args.tensor(1, "y"), *inv = args.tensor(2, "inv");
  args.data(x, numel, "x");
  args.data(y, numel, "y");
  args.data(inv, args.numel({n, s}, "inv"), "inv");
  if (c == 0) args.fail("x has no channels");
  if (numel == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, y, inv}), pixel_norm_forward, n, c, s, x->data(), eps, y->data(), inv->data());
  return info.Env().Undefined();
}

// pixelNormBackward(x, inv, gy, gx, n, c, s)
SGI_NAPI(pixelNormBackward) {
  Args args(info, "pixelNormBackward");
  int64_t n = args.dim(4, "n"), c = args.dim(5, "c"), s = args.dim(6, "s");
  const size_t numel = args.numel({n, c, s}, "x");  // overflow-checked
  Storage *x = args.tensor(0, "x"), *inv = args.tensor(1, "inv"), *gy = args.tensor(2, "gy"), *gx = args.tensor(3, "gx");
  args.data(x, numel, "x");
  args.data(inv, args.numel({n, s}, "inv"), "inv");
  args.data(gy, numel, "gy");
  args.data(gx, numel, "gx");
  if (numel == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, inv, gy, gx}), pixel_norm_backward, n, c, s, x->data(), inv->data(), gy->data(), gx->data());
  return info.Env().Undefined();
}

}  // namespace sgi
