// Node-API glue for the fused optimizer step (see common/kernels/optimizer.h).
#include <cmath>
#include "common/kernels/optimizer.h"
#include "napi/registry.h"

namespace sgi {

namespace {
float finite(const Args& args, size_t i, const char* name) {
  double v = args.f64(i, name);
  if (!std::isfinite(v)) args.fail(std::string("argument '") + name + "' must be finite");
  return float(v);
}
}  // namespace

// optimizerStep(p, g, m, v, slow|null, rows, centralize, mode, beta1, beta2, oneMinusBeta1,
//               oneMinusBeta2, eps, step, denomDiv, l2, decay, sync, alpha)
// Updates p, m, v (and slow when sync) in place. rows = the size of the first dimension when
// centralize (the gradient mean is taken over the other dimensions), else 1.
SGI_NAPI(optimizerStep) {
  Args args(info, "optimizerStep");
  Storage *p = args.tensor(0, "p"), *g = args.tensor(1, "g"), *m = args.tensor(2, "m"), *v = args.tensor(3, "v");
  Storage* slow = args.optional_tensor(4, "slow");
  const size_t n = p->numel();
  OptimStep s;
  s.rows = args.i64(5, "rows");
  s.centralize = args.flag(6, "centralize");
  int mode = int(args.i64(7, "mode"));
  if (mode < 0 || mode > int(OptimMode::Momentum)) args.fail("unknown mode " + std::to_string(mode));
  s.mode = OptimMode(mode);
  s.beta1 = finite(args, 8, "beta1");
  s.beta2 = finite(args, 9, "beta2");
  s.one_minus_beta1 = finite(args, 10, "oneMinusBeta1");
  s.one_minus_beta2 = finite(args, 11, "oneMinusBeta2");
  s.eps = finite(args, 12, "eps");
  s.step = finite(args, 13, "step");
  s.denom_div = finite(args, 14, "denomDiv");
  s.l2 = finite(args, 15, "l2");
  s.decay = finite(args, 16, "decay");
  s.sync = args.flag(17, "sync");
  s.alpha = finite(args, 18, "alpha");
  if (s.denom_div <= 0.f) args.fail("argument 'denomDiv' must be positive");
  if (s.rows < 1) args.fail("argument 'rows' must be at least 1");
  if (n % size_t(s.rows) != 0) args.fail("'rows' (" + std::to_string(s.rows) + ") does not divide the parameter size " + std::to_string(n));
  if (!s.centralize && s.rows != 1) args.fail("'rows' must be 1 without centralization");
  s.cols = int64_t(n) / s.rows;
  args.data(g, n, "g");
  args.data(m, n, "m");
  args.data(v, n, "v");
  if (s.sync && !slow) args.fail("a Lookahead sync needs the slow weights");
  args.data(slow, n, "slow");
  if (p == g || p == m || p == v || g == m || g == v || m == v || (slow && (slow == p || slow == g || slow == m || slow == v)))
    args.fail("p, g, m, v and slow must be distinct storages");
  if (n == 0) return info.Env().Undefined();
  SGI_DISPATCH(args.device({p, g, m, v, slow}), optim_step, s, p->data(), g->data(), m->data(), v->data(),
               slow ? slow->data() : nullptr);
  return info.Env().Undefined();
}

}  // namespace sgi
