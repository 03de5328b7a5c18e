// Node-API glue for the loss family (see common/kernels/loss.h).
#include "common/kernels/loss.h"
#include "napi/registry.h"

namespace sgi {

// mseForward(a, b, out): out has one element
SGI_NAPI(mseForward) {
  Args args(info, "mseForward");
  Storage *a = args.tensor(0, "a"), *b = args.tensor(1, "b"), *out = args.tensor(2, "out");
  const size_t n = a->numel();
  args.data(b, n, "b");
  args.data(out, 1, "out");
  SGI_DISPATCH(args.device({a, b, out}), mse_forward, int64_t(n), a->data(), b->data(), out->data());
  return info.Env().Undefined();
}

// mseBackward(a, b, g, ga|null, gb|null): g has one element
SGI_NAPI(mseBackward) {
  Args args(info, "mseBackward");
  Storage *a = args.tensor(0, "a"), *b = args.tensor(1, "b"), *g = args.tensor(2, "g");
  Storage *ga = args.optional_tensor(3, "ga"), *gb = args.optional_tensor(4, "gb");
  const size_t n = a->numel();
  args.data(b, n, "b");
  args.data(g, 1, "g");
  args.data(ga, n, "ga");
  args.data(gb, n, "gb");
  if (n == 0 || (!ga && !gb)) return info.Env().Undefined();
  SGI_DISPATCH(args.device({a, b, g, ga, gb}), mse_backward, int64_t(n), a->data(), b->data(), g->data(),
               ga ? ga->data() : nullptr, gb ? gb->data() : nullptr);
  return info.Env().Undefined();
}

// cosineLossForward(a, b, stats, out, rows, d): a, b [rows, d]; stats [rows, 3]; out one element
SGI_NAPI(cosineLossForward) {
  Args args(info, "cosineLossForward");
  int64_t rows = args.i64(4, "rows"), d = args.i64(5, "d");
  if (rows < 0 || d < 0) args.fail("rows and d must be >= 0");
  Storage *a = args.tensor(0, "a"), *b = args.tensor(1, "b"), *stats = args.tensor(2, "stats"), *out = args.tensor(3, "out");
  const size_t n = args.numel({rows, d}, "a");  // overflow-checked
  args.data(a, n, "a");
  args.data(b, n, "b");
  args.data(stats, args.numel({rows, 3}, "stats"), "stats");
  args.data(out, 1, "out");
  SGI_DISPATCH(args.device({a, b, stats, out}), cosine_loss_forward, rows, d, a->data(), b->data(), stats->data(), out->data());
  return info.Env().Undefined();
}

// cosineLossBackward(a, b, stats, g, gb, rows, d): the gradient w.r.t. b only (a is the target)
SGI_NAPI(cosineLossBackward) {
  Args args(info, "cosineLossBackward");
  int64_t rows = args.i64(5, "rows"), d = args.i64(6, "d");
  if (rows < 0 || d < 0) args.fail("rows and d must be >= 0");
  Storage *a = args.tensor(0, "a"), *b = args.tensor(1, "b"), *stats = args.tensor(2, "stats");
  Storage *g = args.tensor(3, "g"), *gb = args.tensor(4, "gb");
  const size_t n = args.numel({rows, d}, "a");  // overflow-checked
  args.data(a, n, "a");
  args.data(b, n, "b");
  args.data(stats, args.numel({rows, 3}, "stats"), "stats");
  args.data(g, 1, "g");
  args.data(gb, n, "gb");
  if (n == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({a, b, stats, g, gb}), cosine_loss_backward, rows, d, a->data(), b->data(), stats->data(), g->data(), gb->data());
  return info.Env().Undefined();
}

}  // namespace sgi
