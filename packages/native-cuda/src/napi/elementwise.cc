// Node-API glue for the element-wise family (see common/kernels/elementwise.h).
#include "common/kernels/elementwise.h"
#include "napi/registry.h"

namespace sgi {

namespace {
// Builds an N-d walk from JS arrays and checks that it stays inside both storages.
StridedShape make_walk(const Args& args, const std::vector<int64_t>& shape, const std::vector<int64_t>& sa,
                       const std::vector<int64_t>& sb, int64_t off_a, size_t numel_a, int64_t off_b, size_t numel_b) {
  if (shape.size() > size_t(kMaxDims)) args.fail("more than 8 dimensions");
  if (sa.size() != shape.size() || sb.size() != shape.size()) args.fail("shape and strides differ in length");
  StridedShape s;
  s.ndim = int(shape.size());
  int64_t max_a = off_a, max_b = off_b, n = 1;
  for (int d = 0; d < s.ndim; ++d) {
    if (shape[d] < 0 || sa[d] < 0 || sb[d] < 0) args.fail("negative shape or stride");
    s.shape[d] = shape[d];
    s.stride_a[d] = sa[d];
    s.stride_b[d] = sb[d];
    n *= shape[d];
    if (shape[d] > 0) { max_a += (shape[d] - 1) * sa[d]; max_b += (shape[d] - 1) * sb[d]; }
  }
  if (n > 0 && (off_a < 0 || off_b < 0 || size_t(max_a) >= numel_a || size_t(max_b) >= numel_b))
    args.fail("strided access falls outside the tensor storage");
  return s;
}
}  // namespace

// binaryForward(op, a, b, out, shape, stridesA, stridesB)
SGI_NAPI(binaryForward) {
  Args args(info, "binaryForward");
  int op = int(args.i64(0, "op"));
  if (op < 0 || op > int(BinaryOp::Minimum)) args.fail("unknown binary op " + std::to_string(op));
  Storage *a = args.tensor(1, "a"), *b = args.tensor(2, "b"), *out = args.tensor(3, "out");
  StridedShape s = make_walk(args, args.ints(4, "shape"), args.ints(5, "stridesA"), args.ints(6, "stridesB"), 0, a->numel(), 0, b->numel());
  float* po = args.data(out, size_t(s.numel()), "out");
  if (s.numel() == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({a, b, out}), binary_forward, BinaryOp(op), s, a->data(), b->data(), po);
  return info.Env().Undefined();
}

// unaryForward(op, x, y, alpha)
SGI_NAPI(unaryForward) {
  Args args(info, "unaryForward");
  int op = int(args.i64(0, "op"));
  if (op < 0 || op > int(UnaryOp::Reciprocal)) args.fail("unknown unary op " + std::to_string(op));
  Storage *x = args.tensor(1, "x"), *y = args.tensor(2, "y");
  size_t n = x->numel();
  float* py = args.data(y, n, "y");
  SGI_DISPATCH(args.device({x, y}), unary_forward, UnaryOp(op), int64_t(n), x->data(), float(args.f64(3, "alpha")), py);
  return info.Env().Undefined();
}

// unaryBackward(op, x|null, y|null, gy, gx, alpha)
SGI_NAPI(unaryBackward) {
  Args args(info, "unaryBackward");
  int op = int(args.i64(0, "op"));
  if (op < 0 || op > int(UnaryOp::Reciprocal)) args.fail("unknown unary op " + std::to_string(op));
  Storage *x = args.optional_tensor(1, "x"), *y = args.optional_tensor(2, "y");
  Storage *gy = args.tensor(3, "gy"), *gx = args.tensor(4, "gx");
  size_t n = gy->numel();
  SGI_DISPATCH(args.device({x, y, gy, gx}), unary_backward, UnaryOp(op), int64_t(n), args.data(x, n, "x"), args.data(y, n, "y"),
               gy->data(), float(args.f64(5, "alpha")), args.data(gx, n, "gx"));
  return info.Env().Undefined();
}

// stridedCopy(src, srcOffset, dst, dstOffset, shape, srcStrides, dstStrides, accumulate)
SGI_NAPI(stridedCopy) {
  Args args(info, "stridedCopy");
  Storage *src = args.tensor(0, "src"), *dst = args.tensor(2, "dst");
  int64_t so = args.i64(1, "srcOffset"), dof = args.i64(3, "dstOffset");
  StridedShape s = make_walk(args, args.ints(4, "shape"), args.ints(5, "srcStrides"), args.ints(6, "dstStrides"), so, src->numel(), dof, dst->numel());
  if (s.numel() == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({src, dst}), strided_copy, s, src->data(), so, dst->data(), dof, args.flag(7, "accumulate"));
  return info.Env().Undefined();
}

// sumReduce(x, out, shape, reduceMask)
SGI_NAPI(sumReduce) {
  Args args(info, "sumReduce");
  Storage *x = args.tensor(0, "x"), *out = args.tensor(1, "out");
  std::vector<int64_t> shape = args.ints(2, "shape"), mask = args.ints(3, "reduce");
  if (shape.size() != mask.size() || shape.size() > size_t(kMaxDims)) args.fail("shape and reduce mask differ in length (or > 8 dims)");
  size_t n = 1, kept = 1;
  uint8_t red[kMaxDims] = {};
  for (size_t d = 0; d < shape.size(); ++d) {
    n *= size_t(shape[d]);
    red[d] = mask[d] ? 1 : 0;
    if (!mask[d]) kept *= size_t(shape[d]);
  }
  args.data(x, n, "x");
  args.data(out, kept, "out");
  SGI_DISPATCH(args.device({x, out}), sum_reduce, int(shape.size()), shape.data(), red, x->data(), out->data());
  return info.Env().Undefined();
}

// fill(out, value)
SGI_NAPI(fill) {
  Args args(info, "fill");
  Storage* out = args.tensor(0, "out");
  SGI_DISPATCH(out->device(), fill, int64_t(out->numel()), float(args.f64(1, "value")), out->data());
  return info.Env().Undefined();
}

}  // namespace sgi
