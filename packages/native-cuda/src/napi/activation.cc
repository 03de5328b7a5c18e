// Node-API glue for the activation family (see common/kernels/activation.h).
#include "common/kernels/activation.h"
#include "napi/registry.h"

namespace sgi {

// preluForward(x, weight, y, n, c, s): weight has c elements
SGI_NAPI(preluForward) {
  Args args(info, "preluForward");
  int64_t n = args.dim(3, "n"), c = args.dim(4, "c"), s = args.dim(5, "s");
  const size_t numel = args.numel({n, c, s}, "x");  // overflow-checked
  Storage *x = args.tensor(0, "x"), *w = args.tensor(1, "weight"), *y = args.tensor(2, "y");
  args.data(x, numel, "x");
  args.data(w, size_t(c), "weight");
  args.data(y, numel, "y");
  if (numel == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, w, y}), prelu_forward, n, c, s, x->data(), w->data(), y->data());
  return info.Env().Undefined();
}

// scaleChannelsAdd(x, scale, residual, y, n, c, s): y = x * scale[n, c] + residual (CPU only)
SGI_NAPI(scaleChannelsAdd) {
  Args args(info, "scaleChannelsAdd");
  int64_t n = args.dim(4, "n"), c = args.dim(5, "c"), s = args.dim(6, "s");
  const size_t numel = args.numel({n, c, s}, "x");
  Storage *x = args.tensor(0, "x"), *sc = args.tensor(1, "scale"), *r = args.tensor(2, "residual"), *y = args.tensor(3, "y");
  args.data(x, numel, "x");
  args.data(sc, size_t(n * c), "scale");
  args.data(r, numel, "residual");
  args.data(y, numel, "y");
  args.require_cpu({x, sc, r, y});
  if (numel > 0) cpu::scale_channels_add(n, c, s, x->data(), sc->data(), r->data(), y->data());
  return info.Env().Undefined();
}

// preluBackward(x, weight, gy, gx|null, gweight|null, n, c, s)
SGI_NAPI(preluBackward) {
  Args args(info, "preluBackward");
  int64_t n = args.dim(5, "n"), c = args.dim(6, "c"), s = args.dim(7, "s");
  const size_t numel = args.numel({n, c, s}, "x");  // overflow-checked
  Storage *x = args.tensor(0, "x"), *w = args.tensor(1, "weight"), *gy = args.tensor(2, "gy");
  Storage *gx = args.optional_tensor(3, "gx"), *gw = args.optional_tensor(4, "gweight");
  args.data(x, numel, "x");
  args.data(w, size_t(c), "weight");
  args.data(gy, numel, "gy");
  args.data(gx, numel, "gx");
  args.data(gw, size_t(c), "gweight");
  if (c == 0 || (!gx && !gw)) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, w, gy, gx, gw}), prelu_backward, n, c, s, x->data(), w->data(), gy->data(),
               gx ? gx->data() : nullptr, gw ? gw->data() : nullptr);
  return info.Env().Undefined();
}

// fusedLeakyReluForward(x, bias|null, y, n, c, s, slope, gain)
SGI_NAPI(fusedLeakyReluForward) {
  Args args(info, "fusedLeakyReluForward");
  int64_t n = args.dim(3, "n"), c = args.dim(4, "c"), s = args.dim(5, "s");
  float slope = float(args.f64(6, "slope")), gain = float(args.f64(7, "gain"));
  const size_t numel = args.numel({n, c, s}, "x");  // overflow-checked
  Storage *x = args.tensor(0, "x"), *b = args.optional_tensor(1, "bias"), *y = args.tensor(2, "y");
  args.data(x, numel, "x");
  args.data(b, size_t(c), "bias");
  args.data(y, numel, "y");
  if (numel == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, b, y}), fused_leaky_relu_forward, n, c, s, x->data(), b ? b->data() : nullptr, slope, gain, y->data());
  return info.Env().Undefined();
}

// fusedLeakyReluBackward(x, bias|null, gy, gx|null, gbias|null, n, c, s, slope, gain)
SGI_NAPI(fusedLeakyReluBackward) {
  Args args(info, "fusedLeakyReluBackward");
  int64_t n = args.dim(5, "n"), c = args.dim(6, "c"), s = args.dim(7, "s");
  float slope = float(args.f64(8, "slope")), gain = float(args.f64(9, "gain"));
  const size_t numel = args.numel({n, c, s}, "x");  // overflow-checked
  Storage *x = args.tensor(0, "x"), *b = args.optional_tensor(1, "bias"), *gy = args.tensor(2, "gy");
  Storage *gx = args.optional_tensor(3, "gx"), *gb = args.optional_tensor(4, "gbias");
  args.data(x, numel, "x");
  args.data(b, size_t(c), "bias");
  args.data(gy, numel, "gy");
  args.data(gx, numel, "gx");
  args.data(gb, size_t(c), "gbias");
  if (c == 0 || (!gx && !gb)) return info.Env().Undefined();
  SGI_DISPATCH(args.device({x, b, gy, gx, gb}), fused_leaky_relu_backward, n, c, s, x->data(), b ? b->data() : nullptr,
               gy->data(), slope, gain, gx ? gx->data() : nullptr, gb ? gb->data() : nullptr);
  return info.Env().Undefined();
}

}  // namespace sgi
