// Node-API glue for the element-wise family (see common/kernels/elementwise.h).
#include "common/kernels/elementwise.h"
#include "napi/registry.h"

namespace sgi {

namespace {
// Checks that a walk of `shape` with `strides` from `offset` stays inside a storage of `numel`
// elements. The extent sum((shape[d] - 1) * strides[d]) is computed with overflow checks: in
// plain int64 arithmetic a stride of 2^62 over 5 elements wraps to 0 and would pass.
void check_walk(const Args& args, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, int64_t offset,
                size_t numel, const char* operand) {
  const std::string where = std::string(operand) + " walk of shape " + dims_str(shape) + ", strides " + dims_str(strides) +
                            ", offset " + std::to_string(offset);
  int64_t last = offset, step = 0;
  bool ok = offset >= 0;
  for (size_t d = 0; ok && d < shape.size(); ++d)
    ok = mul_fits(shape[d] - 1, strides[d], &step) && add_fits(last, step, &last);
  if (!ok) args.fail(where + " overflows: its extent does not fit in 64 bits");
  if (size_t(last) >= numel)
    args.fail(where + " reaches element " + std::to_string(last) + " but the storage has " + std::to_string(numel) + " elements");
}

// Builds an N-d walk from JS arrays and checks that it stays inside both storages.
StridedShape make_walk(const Args& args, const std::vector<int64_t>& shape, const std::vector<int64_t>& sa,
                       const std::vector<int64_t>& sb, int64_t off_a, size_t numel_a, int64_t off_b, size_t numel_b,
                       const char* name_a = "a", const char* name_b = "b") {
  if (shape.size() > size_t(kMaxDims)) args.fail("more than 8 dimensions");
  if (sa.size() != shape.size() || sb.size() != shape.size()) args.fail("shape and strides differ in length");
  const size_t n = args.numel(shape, "the walk");  // overflow-checked element count
  StridedShape s;
  s.ndim = int(shape.size());
  for (int d = 0; d < s.ndim; ++d) {
    if (sa[d] < 0 || sb[d] < 0) args.fail("negative stride in " + dims_str(sa) + " / " + dims_str(sb));
    s.shape[d] = shape[d];
    s.stride_a[d] = sa[d];
    s.stride_b[d] = sb[d];
  }
  if (n > 0) {
    check_walk(args, shape, sa, off_a, numel_a, name_a);
    check_walk(args, shape, sb, off_b, numel_b, name_b);
  }
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
  StridedShape s = make_walk(args, args.ints(4, "shape"), args.ints(5, "srcStrides"), args.ints(6, "dstStrides"), so, src->numel(), dof,
                             dst->numel(), "src", "dst");
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
  const size_t n = args.numel(shape, "x");  // overflow-checked; the kept count divides it
  size_t kept = 1;
  uint8_t red[kMaxDims] = {};
  for (size_t d = 0; d < shape.size(); ++d) {
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
