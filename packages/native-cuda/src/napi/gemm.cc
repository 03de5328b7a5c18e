// Node-API glue for the GEMM family (see common/kernels/gemm.h): argument checks and device
// dispatch only. Matrices are contiguous row-major storages; shapes come from TS.
#include <string>
#include "common/kernels/gemm.h"
#include "napi/registry.h"

namespace sgi {

namespace {
int64_t dim(const Args& args, size_t i, const char* name) {
  int64_t v = args.i64(i, name);
  if (v < 0 || v > (int64_t(1) << 40)) args.fail(std::string("'") + name + "' must be a non-negative size, got " + std::to_string(v));
  return v;
}
std::string mat(int64_t r, int64_t c) { return "[" + std::to_string(r) + ", " + std::to_string(c) + "]"; }
}  // namespace

// gemm(a, b, c, M, N, K, transA, transB, alpha, beta): c[M,N] = alpha op(a) op(b) + beta c with
// op(a) [M,K] (a stored [K,M] when transA) and op(b) [K,N] (b stored [N,K] when transB).
SGI_NAPI(gemm) {
  Args args(info, "gemm");
  Storage *a = args.tensor(0, "a"), *b = args.tensor(1, "b"), *c = args.tensor(2, "c");
  const int64_t M = dim(args, 3, "M"), N = dim(args, 4, "N"), K = dim(args, 5, "K");
  const bool ta = args.flag(6, "transA"), tb = args.flag(7, "transB");
  const float alpha = float(args.f64(8, "alpha")), beta = float(args.f64(9, "beta"));
  // Products of sizes up to 2^40 overflow int64: every element count is computed checked.
  const size_t ma = args.numel({M, K}, "a"), mb = args.numel({K, N}, "b"), mc = args.numel({M, N}, "c");
  if (a->numel() != ma) args.fail("a has " + std::to_string(a->numel()) + " elements, expected " + (ta ? mat(K, M) : mat(M, K)));
  if (b->numel() != mb) args.fail("b has " + std::to_string(b->numel()) + " elements, expected " + (tb ? mat(N, K) : mat(K, N)));
  if (c->numel() != mc) args.fail("c has " + std::to_string(c->numel()) + " elements, expected " + mat(M, N));
  const Device dev = args.device({a, b, c});
  if (M == 0 || N == 0) return info.Env().Undefined();
  SGI_DISPATCH(dev, gemm, ta, tb, M, N, K, alpha, a->data(), ta ? M : K, b->data(), tb ? K : N, beta, c->data(), N);
  return info.Env().Undefined();
}

// gemmBatched(a, b, c, count, M, N, K, transA, transB, alpha, beta): `count` GEMMs; a (or b) may
// hold a single matrix shared by every GEMM of the batch.
SGI_NAPI(gemmBatched) {
  Args args(info, "gemmBatched");
  Storage *a = args.tensor(0, "a"), *b = args.tensor(1, "b"), *c = args.tensor(2, "c");
  const int64_t count = dim(args, 3, "count"), M = dim(args, 4, "M"), N = dim(args, 5, "N"), K = dim(args, 6, "K");
  const bool ta = args.flag(7, "transA"), tb = args.flag(8, "transB");
  const float alpha = float(args.f64(9, "alpha")), beta = float(args.f64(10, "beta"));
  const size_t ma = args.numel({M, K}, "a"), mb = args.numel({K, N}, "b"), mc = args.numel({M, N}, "c");
  const size_t ma_all = args.numel({count, M, K}, "a"), mb_all = args.numel({count, K, N}, "b"), mc_all = args.numel({count, M, N}, "c");
  if (a->numel() != ma && a->numel() != ma_all)
    args.fail("a has " + std::to_string(a->numel()) + " elements, expected " + std::to_string(count) + " x " + (ta ? mat(K, M) : mat(M, K)) + " or one matrix");
  if (b->numel() != mb && b->numel() != mb_all)
    args.fail("b has " + std::to_string(b->numel()) + " elements, expected " + std::to_string(count) + " x " + (tb ? mat(N, K) : mat(K, N)) + " or one matrix");
  if (c->numel() != mc_all) args.fail("c has " + std::to_string(c->numel()) + " elements, expected " + std::to_string(count) + " x " + mat(M, N));
  const Device dev = args.device({a, b, c});
  if (M == 0 || N == 0 || count == 0) return info.Env().Undefined();
  const int64_t sa = a->numel() == ma_all && count > 1 ? int64_t(ma) : 0;
  const int64_t sb = b->numel() == mb_all && count > 1 ? int64_t(mb) : 0;
  SGI_DISPATCH(dev, gemm_batched, ta, tb, M, N, K, alpha, a->data(), ta ? M : K, sa, b->data(), tb ? K : N, sb, beta, c->data(), N,
               int64_t(mc), count);
  return info.Env().Undefined();
}

// addBiasRows(c, bias, M, N): c[i, :] += bias
SGI_NAPI(addBiasRows) {
  Args args(info, "addBiasRows");
  Storage *c = args.tensor(0, "c"), *bias = args.tensor(1, "bias");
  const int64_t M = dim(args, 2, "M"), N = dim(args, 3, "N");
  args.data(c, args.numel({M, N}, "c"), "c");
  args.data(bias, size_t(N), "bias");
  const Device dev = args.device({c, bias});
  if (M == 0 || N == 0) return info.Env().Undefined();
  SGI_DISPATCH(dev, add_bias_rows, M, N, bias->data(), c->data());
  return info.Env().Undefined();
}

// sumRows(g, out, M, N): out[j] = sum_i g[i, j]
SGI_NAPI(sumRows) {
  Args args(info, "sumRows");
  Storage *g = args.tensor(0, "g"), *out = args.tensor(1, "out");
  const int64_t M = dim(args, 2, "M"), N = dim(args, 3, "N");
  args.data(g, args.numel({M, N}, "g"), "g");
  args.data(out, size_t(N), "out");
  const Device dev = args.device({g, out});
  if (N == 0) return info.Env().Undefined();
  SGI_DISPATCH(dev, sum_rows, M, N, g->data(), out->data());
  return info.Env().Undefined();
}

// gemmKernel() -> the CPU micro-kernel in use ("avx512-14x32", "avx2-6x16" or "generic-4x8")
SGI_NAPI(gemmKernel) { return Napi::String::New(info.Env(), cpu::gemm_kernel_name()); }

// precision(name?) -> 'float32' | 'bf16', the precision of the CPU's GEMMs and convolutions; with a
// name, sets it first ('bf16' needs AVX-512 BF16 and throws elsewhere, naming what the CPU has).
SGI_NAPI_SETTING(precision) {
  Args args(info, "precision");
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsString()) args.fail("argument 'name' must be 'float32' or 'bf16'");
    const std::string s = info[0].As<Napi::String>().Utf8Value();
    if (s != "float32" && s != "bf16") args.fail("unknown precision '" + s + "' (expected 'float32' or 'bf16')");
    if (!cpu::set_bf16(s == "bf16"))
      args.fail(std::string("bf16 needs a CPU with AVX-512 BF16 (vdpbf16ps); this one runs the ") + cpu::gemm_kernel_name() +
                " kernel without it");
  }
  return Napi::String::New(info.Env(), cpu::bf16_enabled() ? "bf16" : "float32");
}

// fmaPeak(seconds = 0.5): the float32 FMA peak of the kernel threads, GFLOP/s, measured (not a kernel).
SGI_NAPI_SETTING(fmaPeak) {
  Args args(info, "fmaPeak");
  const double seconds = info.Length() > 0 && !info[0].IsUndefined() ? args.f64(0, "seconds") : 0.5;
  if (!(seconds > 0 && seconds <= 60)) args.fail("'seconds' must be in (0, 60]");
  return Napi::Number::New(info.Env(), cpu::fma_peak_gflops(seconds));
}

}  // namespace sgi
