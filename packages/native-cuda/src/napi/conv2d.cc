// Node-API glue for the convolution family (see common/kernels/conv2d.h): argument checks and
// device dispatch only. Every function takes the geometry as one array
//   params = [n, c, h, w, k, kh, kw, sh, sw, ph, pw, groups]
// (input [n, c, h, w], weight [k, c/groups, kh, kw]); the output size is derived here and every
// storage is checked against it, so a wrong call throws instead of reading out of bounds.
#include <string>
#include "common/kernels/conv2d.h"
#include "napi/registry.h"

namespace sgi {

namespace {
// Element counts, overflow-checked: each size is below 2^31 but a product of four is not.
size_t x_numel(const Args& a, const Conv2dParams& p) { return a.numel({p.n, p.c, p.h, p.w}, "input x"); }
size_t w_numel(const Args& a, const Conv2dParams& p) { return a.numel({p.k, p.c / p.groups, p.kh, p.kw}, "weight w"); }
size_t y_numel(const Args& a, const Conv2dParams& p) { return a.numel({p.n, p.k, p.oh, p.ow}, "output y"); }

Conv2dParams conv_params(const Args& args, size_t i) {
  std::vector<int64_t> v = args.ints(i, "params");
  if (v.size() != 12) args.fail("'params' must be [n, c, h, w, k, kh, kw, sh, sw, ph, pw, groups]");
  const int64_t lim = int64_t(1) << 31;
  for (int64_t e : v)
    if (e < 0 || e >= lim) args.fail("params " + std::to_string(e) + " out of range (sizes must be non-negative)");
  Conv2dParams p;
  p.n = v[0]; p.c = v[1]; p.h = v[2]; p.w = v[3]; p.k = v[4];
  p.kh = int(v[5]); p.kw = int(v[6]); p.sh = int(v[7]); p.sw = int(v[8]); p.ph = int(v[9]); p.pw = int(v[10]); p.groups = int(v[11]);
  const std::string in = "input " + dims_str({p.n, p.c, p.h, p.w});
  if (p.groups < 1) args.fail("groups must be >= 1, got " + std::to_string(p.groups));
  if (p.kh < 1 || p.kw < 1) args.fail("kernel size " + dims_str({p.kh, p.kw}) + " must be positive");
  if (p.sh < 1 || p.sw < 1) args.fail("stride " + dims_str({p.sh, p.sw}) + " must be positive");
  if (p.c % p.groups != 0) args.fail(in + ": " + std::to_string(p.c) + " input channels are not divisible by groups " + std::to_string(p.groups));
  if (p.k % p.groups != 0) args.fail(std::to_string(p.k) + " output channels are not divisible by groups " + std::to_string(p.groups));
  if (p.h + 2 * p.ph < p.kh || p.w + 2 * p.pw < p.kw)
    args.fail(in + " with padding " + dims_str({p.ph, p.pw}) + " is smaller than the kernel " + dims_str({p.kh, p.kw}));
  p.oh = (p.h + 2 * p.ph - p.kh) / p.sh + 1;
  p.ow = (p.w + 2 * p.pw - p.kw) / p.sw + 1;
  // Every element count the call implies must fit before any storage is compared with it, the
  // im2col-style workspace of (c / groups) * kh * kw * oh * ow elements the kernels size included.
  x_numel(args, p);
  w_numel(args, p);
  y_numel(args, p);
  args.numel({p.c / p.groups, p.kh, p.kw, p.oh, p.ow}, "the convolution workspace");
  return p;
}
}  // namespace

// conv2dForward(x, w, b | null, y, params)
SGI_NAPI(conv2dForward) {
  Args args(info, "conv2dForward");
  Storage *x = args.tensor(0, "x"), *w = args.tensor(1, "w"), *b = args.optional_tensor(2, "b"), *y = args.tensor(3, "y");
  const Conv2dParams p = conv_params(args, 4);
  args.data(x, x_numel(args, p), "x");
  args.data(w, w_numel(args, p), "w");
  args.data(b, size_t(p.k), "b");
  args.data(y, y_numel(args, p), "y");
  const Device dev = args.device({x, w, b, y});
  SGI_DISPATCH(dev, conv2d_forward, p, x->data(), w->data(), b ? b->data() : nullptr, y->data());
  return info.Env().Undefined();
}

// conv2dBackwardInput(w, gy, gx, params)
SGI_NAPI(conv2dBackwardInput) {
  Args args(info, "conv2dBackwardInput");
  Storage *w = args.tensor(0, "w"), *gy = args.tensor(1, "gy"), *gx = args.tensor(2, "gx");
  const Conv2dParams p = conv_params(args, 3);
  args.data(w, w_numel(args, p), "w");
  args.data(gy, y_numel(args, p), "gy");
  args.data(gx, x_numel(args, p), "gx");
  const Device dev = args.device({w, gy, gx});
  SGI_DISPATCH(dev, conv2d_backward_input, p, w->data(), gy->data(), gx->data());
  return info.Env().Undefined();
}

// conv2dBackwardWeight(x, gy, gw, params)
SGI_NAPI(conv2dBackwardWeight) {
  Args args(info, "conv2dBackwardWeight");
  Storage *x = args.tensor(0, "x"), *gy = args.tensor(1, "gy"), *gw = args.tensor(2, "gw");
  const Conv2dParams p = conv_params(args, 3);
  args.data(x, x_numel(args, p), "x");
  args.data(gy, y_numel(args, p), "gy");
  args.data(gw, w_numel(args, p), "gw");
  const Device dev = args.device({x, gy, gw});
  SGI_DISPATCH(dev, conv2d_backward_weight, p, x->data(), gy->data(), gw->data());
  return info.Env().Undefined();
}

// conv2dBackwardBias(gy, gb, params)
SGI_NAPI(conv2dBackwardBias) {
  Args args(info, "conv2dBackwardBias");
  Storage *gy = args.tensor(0, "gy"), *gb = args.tensor(1, "gb");
  const Conv2dParams p = conv_params(args, 2);
  args.data(gy, y_numel(args, p), "gy");
  args.data(gb, size_t(p.k), "gb");
  const Device dev = args.device({gy, gb});
  SGI_DISPATCH(dev, conv2d_backward_bias, p, gy->data(), gb->data());
  return info.Env().Undefined();
}

// conv2dWinogradWeights(w, params) -> a new storage holding w transformed for the Winograd forward
// pass of params (CPU, for the micro-kernel in use), or null when that pass would not use Winograd.
SGI_NAPI(conv2dWinogradWeights) {
  Args args(info, "conv2dWinogradWeights");
  Storage* w = args.tensor(0, "w");
  const Conv2dParams p = conv_params(args, 1);
  args.data(w, w_numel(args, p), "w");
  args.require_cpu({w});
  const int64_t size = cpu::conv2d_winograd_weights_size(p);
  if (size == 0) return info.Env().Null();
  Napi::Object out = Storage::Create(info.Env(), size_t(size), Device::CPU);
  cpu::conv2d_winograd_weights(p, w->data(), Storage::Unwrap(out)->data());
  return out;
}

// conv2dUsesWinograd(params) -> whether the CPU forward pass of params runs Winograd now (so that
// weights prepared by conv2dWinogradWeights apply); not a kernel.
SGI_NAPI_SETTING(conv2dUsesWinograd) {
  Args args(info, "conv2dUsesWinograd");
  return Napi::Boolean::New(info.Env(), cpu::conv2d_winograd_weights_size(conv_params(args, 0)) > 0);
}

// conv2dForwardFused(x, w, prepared | null, b | null, inScale | null, inShift | null, slope | null, y, params, sums?):
// y = prelu(conv(pad(x * inScale + inShift), w) + b, slope) on the CPU (common/kernels/conv2d.h);
// prepared: conv2dWinogradWeights(w, params), used instead of transforming w again; sums [n, k]
// (optional): each output channel's sum, written as the output is stored.
SGI_NAPI(conv2dForwardFused) {
  Args args(info, "conv2dForwardFused");
  Storage *x = args.tensor(0, "x"), *w = args.tensor(1, "w"), *u = args.optional_tensor(2, "prepared"), *b = args.optional_tensor(3, "b");
  Storage *sc = args.optional_tensor(4, "inScale"), *sh = args.optional_tensor(5, "inShift"), *sl = args.optional_tensor(6, "slope");
  Storage* y = args.tensor(7, "y");
  const Conv2dParams p = conv_params(args, 8);
  Storage* sums = args.optional_tensor(9, "sums");
  args.data(sums, size_t(p.n * p.k), "sums");
  args.data(x, x_numel(args, p), "x");
  args.data(w, w_numel(args, p), "w");
  args.data(b, size_t(p.k), "b");
  args.data(sc, size_t(p.c), "inScale");
  args.data(sh, size_t(p.c), "inShift");
  args.data(sl, size_t(p.k), "slope");
  args.data(y, y_numel(args, p), "y");
  args.require_cpu({x, w, u, b, sc, sh, sl, y, sums});
  if (u) {
    const int64_t size = cpu::conv2d_winograd_weights_size(p);
    if (size == 0) args.fail("'prepared' was given but this convolution " + dims_str({p.n, p.c, p.h, p.w, p.k, p.kh, p.kw, p.sh, p.sw}) + " does not run Winograd");
    args.data(u, size_t(size), "prepared");
  }
  cpu::ConvFusion f;
  f.prepared = u ? u->data() : nullptr;
  f.in_scale = sc ? sc->data() : nullptr;
  f.in_shift = sh ? sh->data() : nullptr;
  f.slope = sl ? sl->data() : nullptr;
  f.channel_sums = sums ? sums->data() : nullptr;
  cpu::conv2d_forward_fused(p, x->data(), w->data(), b ? b->data() : nullptr, y->data(), f);
  return info.Env().Undefined();
}

// conv2dAlgorithm(name?) -> the CPU forward algorithm in force ('auto' | 'gemm' | 'winograd');
// with a name, sets it first (tests and benchmarks compare the paths).
SGI_NAPI(conv2dAlgorithm) {
  Args args(info, "conv2dAlgorithm");
  static const char* names[] = {"auto", "gemm", "winograd"};
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsString()) args.fail("argument 'name' must be 'auto', 'gemm' or 'winograd'");
    const std::string s = info[0].As<Napi::String>().Utf8Value();
    int found = -1;
    for (int i = 0; i < 3; ++i)
      if (s == names[i]) found = i;
    if (found < 0) args.fail("unknown algorithm '" + s + "' (expected 'auto', 'gemm' or 'winograd')");
    cpu::conv2d_set_algorithm(ConvAlgo(found));
  }
  return Napi::String::New(info.Env(), names[int(cpu::conv2d_algorithm())]);
}

}  // namespace sgi
