// The emulated cuDNN (libsgi_emu_cudnn.so; see emu_vendor.h): the subset of cuDNN's legacy
// convolution API that src/cuda/cudnn_loader.cc resolves, with cuDNN 9's status codes, reporting
// itself as cuDNN 9.8.0:
//   - descriptors: 4-D NCHW float tensors and filters; 2-D convolutions with padding, strides,
//     dilation, cross-correlation or convolution mode, FLOAT compute type, a group count and a math
//     type; cudnnGetConvolution2dForwardOutputDim; invalid values are CUDNN_STATUS_BAD_PARAM;
//   - cudnnGet*Algorithm_v7 and cudnnFind*Algorithm list several algorithms per pass, best first,
//     in cuDNN's AlgoPerf layout: the first listed is CUDNN_NON_DETERMINISTIC, one needs TF32 tensor
//     ops (math type CUDNN_TENSOR_OP_MATH), one is CUDNN_STATUS_NOT_SUPPORTED, and one deterministic
//     FMA algorithm needs a workspace (cudnnGet*WorkspaceSize tells how much);
//   - cudnnConvolutionForward / BackwardData / BackwardFilter: y = alpha conv(x, w) + beta y (and the
//     two gradients likewise), the output not read when beta == 0; an unknown or unsupported
//     algorithm is CUDNN_STATUS_NOT_SUPPORTED, a workspace smaller than the algorithm needs is
//     CUDNN_STATUS_BAD_PARAM, descriptors that do not fit together are CUDNN_STATUS_BAD_PARAM;
//   - the algorithms really differ as cuDNN's do: a non-deterministic one adds its terms in an
//     order that changes from call to call (as atomics would), so its results vary in the last bits;
//     a tensor-op one rounds its inputs to TF32 unless the convolution's math type is
//     CUDNN_FMA_MATH; a workspace one computes into the workspace and then writes the output.
// Terms are accumulated in float with fmaf.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "emu_vendor.h"

namespace {

using sgi::emu_vendor::failing;
using sgi::emu_vendor::on_device;
using sgi::emu_vendor::tf32;

// cuDNN 9 status codes
constexpr int kSuccess = 0, kNotInitialized = 1001, kSublibraryLoadingFailed = 1008, kBadParam = 2000, kBadParamNull = 2002,
              kNotSupported = 3000;
constexpr int kNCHW = 0, kFloat = 0, kConvolution = 0, kCrossCorrelation = 1;
constexpr int kDefaultMath = 0, kTensorOpMath = 1, kFmaMath = 3;
constexpr int kNonDeterministic = 0, kDeterministic = 1;
constexpr const char* kLib = "sgi emulated cuDNN";

thread_local std::string g_last_error;

int fail(int status, const std::string& message) {
  g_last_error = message;
  return status;
}

enum Kind : unsigned { kHandle = 0x0d1a0001, kTensorKind, kFilterKind, kConvKind };

struct Handle { unsigned magic = kHandle; void* stream = nullptr; };
struct TensorDesc { unsigned magic = kTensorKind; bool set = false; int n = 0, c = 0, h = 0, w = 0; };
struct FilterDesc { unsigned magic = kFilterKind; bool set = false; int k = 0, c = 0, h = 0, w = 0; };
struct ConvDesc {
  unsigned magic = kConvKind;
  bool set = false;
  int ph = 0, pw = 0, sh = 1, sw = 1, dh = 1, dw = 1, mode = kCrossCorrelation, groups = 1, math = kDefaultMath;
};

template <typename T>
T* as(void* p, unsigned kind) {
  T* t = static_cast<T*>(p);
  return t && t->magic == kind ? t : nullptr;
}

// cudnnConvolution*AlgoPerf_t
struct AlgoPerf {
  int algo;
  int status;
  float time;
  size_t memory;
  int determinism;
  int math_type;
  int reserved[3];
};
static_assert(sizeof(AlgoPerf) == 48, "cudnnConvolution*AlgoPerf_t layout");

enum Pass { kForward = 0, kBackwardData = 1, kBackwardFilter = 2 };

struct AlgoSpec {
  int algo;
  bool supported;
  bool deterministic;
  bool tensor_op;
  bool workspace;
};

// Per pass, best first (algorithm numbers as in cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t).
const std::vector<AlgoSpec>& algorithms(Pass pass) {
  static const std::vector<AlgoSpec> fwd = {
      {1, true, false, false, false},   // IMPLICIT_PRECOMP_GEMM, emulated as non-deterministic
      {6, true, true, true, false},     // WINOGRAD with tensor ops
      {4, false, true, false, false},   // FFT: not supported
      {2, true, true, false, true},     // GEMM, with a workspace
      {0, true, true, false, false},    // IMPLICIT_GEMM
  };
  static const std::vector<AlgoSpec> bwd_data = {
      {0, true, false, false, false},   // ALGO_0 (non-deterministic, as in cuDNN)
      {4, true, true, true, false},     // WINOGRAD with tensor ops
      {2, false, true, false, false},   // FFT: not supported
      {1, true, true, false, true},     // ALGO_1, with a workspace
  };
  static const std::vector<AlgoSpec> bwd_filter = {
      {0, true, false, false, false},   // ALGO_0 (non-deterministic, as in cuDNN)
      {5, true, true, true, false},     // WINOGRAD_NONFUSED with tensor ops
      {2, false, true, false, false},   // FFT: not supported
      {1, true, true, false, true},     // ALGO_1, with a workspace
      {3, true, false, false, false},   // ALGO_3 (non-deterministic)
  };
  return pass == kForward ? fwd : pass == kBackwardData ? bwd_data : bwd_filter;
}

const AlgoSpec* find_algo(Pass pass, int algo) {
  for (const AlgoSpec& a : algorithms(pass))
    if (a.algo == algo) return &a;
  return nullptr;
}

// The geometry of one convolution, checked.
struct Geometry {
  int N, C, H, W, K, Cg, Kg, kh, kw, Ho, Wo;
  ConvDesc conv;
  size_t x_elems() const { return size_t(N) * C * H * W; }
  size_t w_elems() const { return size_t(K) * Cg * kh * kw; }
  size_t y_elems() const { return size_t(N) * K * Ho * Wo; }
};

int output_dims(const ConvDesc& c, const TensorDesc& x, const FilterDesc& f, int* ho, int* wo) {
  if (x.c != f.c * c.groups || f.k % c.groups != 0) return fail(kBadParam, "the input's channels are not the filter's channels x groups, or the filters do not divide into the groups");
  const int eh = (f.h - 1) * c.dh + 1, ew = (f.w - 1) * c.dw + 1;
  if (x.h + 2 * c.ph < eh || x.w + 2 * c.pw < ew) return fail(kBadParam, "the filter is larger than the padded input");
  *ho = (x.h + 2 * c.ph - eh) / c.sh + 1;
  *wo = (x.w + 2 * c.pw - ew) / c.sw + 1;
  return kSuccess;
}

int geometry(void* xd, void* wd, void* cd, void* yd, Geometry* g) {
  TensorDesc* x = as<TensorDesc>(xd, kTensorKind);
  FilterDesc* f = as<FilterDesc>(wd, kFilterKind);
  ConvDesc* c = as<ConvDesc>(cd, kConvKind);
  TensorDesc* y = as<TensorDesc>(yd, kTensorKind);
  if (!x || !f || !c || !y || !x->set || !f->set || !c->set || !y->set) return fail(kBadParam, "a descriptor is missing, of the wrong kind or not set");
  int ho = 0, wo = 0;
  if (int s = output_dims(*c, *x, *f, &ho, &wo)) return s;
  if (y->n != x->n || y->c != f->k || y->h != ho || y->w != wo) return fail(kBadParam, "the output descriptor does not match the convolution's output");
  *g = Geometry{x->n, x->c, x->h, x->w, f->k, f->c, f->k / c->groups, f->h, f->w, ho, wo, *c};
  return kSuccess;
}

size_t workspace_bytes(const Geometry& g, Pass pass, const AlgoSpec& a) {
  if (!a.workspace) return 0;
  const size_t out = pass == kForward ? g.y_elems() : pass == kBackwardData ? g.x_elems() : g.w_elems();
  return out * sizeof(float);
}

int query(void* handle, void* xd, void* wd, void* cd, void* yd, Pass pass, int requested, int* returned, AlgoPerf* perf) {
  if (!as<Handle>(handle, kHandle)) return fail(kBadParam, "invalid handle");
  if (!returned || !perf || requested < 1) return fail(kBadParamNull, "null results or a requested count below 1");
  Geometry g;
  if (int s = geometry(xd, wd, cd, yd, &g)) return s;
  const std::vector<AlgoSpec>& list = algorithms(pass);
  int n = 0;
  for (const AlgoSpec& a : list) {
    if (n == requested) break;
    AlgoPerf& p = perf[n];
    p = AlgoPerf{};
    p.algo = a.algo;
    p.status = a.supported ? kSuccess : kNotSupported;
    p.time = a.supported ? 0.1f * float(n + 1) : -1.f;
    p.memory = a.supported ? workspace_bytes(g, pass, a) : 0;
    p.determinism = a.deterministic ? kDeterministic : kNonDeterministic;
    p.math_type = a.tensor_op ? kTensorOpMath : kFmaMath;
    ++n;
  }
  *returned = n;
  return kSuccess;
}

int workspace_query(void* handle, void* xd, void* wd, void* cd, void* yd, Pass pass, int algo, size_t* bytes) {
  if (!as<Handle>(handle, kHandle)) return fail(kBadParam, "invalid handle");
  if (!bytes) return fail(kBadParamNull, "null size");
  Geometry g;
  if (int s = geometry(xd, wd, cd, yd, &g)) return s;
  const AlgoSpec* a = find_algo(pass, algo);
  if (!a || !a->supported) return fail(kNotSupported, "algorithm " + std::to_string(algo) + " is not supported for this convolution");
  *bytes = workspace_bytes(g, pass, *a);
  return kSuccess;
}

std::atomic<uint64_t> g_calls{0};

// Runs one pass. The terms of each output element are collected, then accumulated in an order that
// is fixed for a deterministic algorithm and rotated from call to call for a non-deterministic one.
int run(const char* fn, void* handle, Pass pass, const void* alpha_p, void* xd, const float* x, void* wd, const float* w,
        void* cd, void* yd, const float* y, int algo, void* ws, size_t ws_bytes, const void* beta_p, float* out) {
  if (!as<Handle>(handle, kHandle)) return fail(kBadParam, std::string(fn) + ": invalid handle");
  if (!alpha_p || !beta_p) return fail(kBadParamNull, std::string(fn) + ": null alpha or beta");
  Geometry g;
  if (int s = geometry(xd, wd, cd, yd, &g)) return s;
  const AlgoSpec* a = find_algo(pass, algo);
  if (!a || !a->supported) return fail(kNotSupported, std::string(fn) + ": algorithm " + std::to_string(algo) + " is not supported for this convolution");
  const size_t need = workspace_bytes(g, pass, *a);
  if (need && (!ws || ws_bytes < need))
    return fail(kBadParam, std::string(fn) + ": the workspace (" + std::to_string(ws_bytes) + " bytes) is smaller than the " +
                               std::to_string(need) + " bytes algorithm " + std::to_string(algo) + " needs");
  static const char* pass_tokens[] = {"cudnn-forward", "cudnn-backward-data", "cudnn-backward-filter"};
  if (failing(pass_tokens[pass]))
    return fail(kSublibraryLoadingFailed, std::string(fn) + ": the sub-library libcudnn_engines_precompiled.so.9 could not be loaded (emulated by SGI_EMU_VENDOR_FAIL=" +
                                              pass_tokens[pass] + ")");
  const size_t nx = g.x_elems(), nw = g.w_elems(), ny = g.y_elems();
  const size_t n_out = pass == kForward ? ny : pass == kBackwardData ? nx : nw;
  // inputs: forward x, w; backward-data w, dy (passed as y); backward-filter x, dy
  const bool ok = (pass == kBackwardData || on_device(kLib, fn, "x", x, nx * sizeof(float))) &&
                  (pass == kBackwardFilter || on_device(kLib, fn, "w", w, nw * sizeof(float))) &&
                  (pass == kForward || on_device(kLib, fn, "dy", y, ny * sizeof(float))) &&
                  on_device(kLib, fn, "the output", out, n_out * sizeof(float)) && on_device(kLib, fn, "the workspace", ws, need);
  if (!ok) return fail(kBadParam, std::string(fn) + ": an operand is not device memory");
  const float alpha = *static_cast<const float*>(alpha_p), beta = *static_cast<const float*>(beta_p);
  const ConvDesc& c = g.conv;
  const bool round = a->tensor_op && c.math != kFmaMath;
  const auto in = [&](float v) { return round ? tf32(v) : v; };
  const uint64_t call = g_calls.fetch_add(1);
  const auto wy_of = [&](int ky) { return c.mode == kConvolution ? g.kh - 1 - ky : ky; };
  const auto wx_of = [&](int kx) { return c.mode == kConvolution ? g.kw - 1 - kx : kx; };
  std::vector<float> result(n_out);
  std::vector<std::pair<float, float>> terms;
  const auto sum = [&](size_t index) {
    float acc = 0.f;
    const size_t n = terms.size();
    const size_t start = a->deterministic || n == 0 ? 0 : size_t((call * 7919u + index * 31u) % n);
    for (size_t t = 0; t < n; ++t) {
      const auto& [u, v] = terms[(start + t) % n];
      acc = std::fmaf(in(u), in(v), acc);
    }
    return acc;
  };
  if (pass == kForward) {
    for (int n = 0; n < g.N; ++n)
      for (int k = 0; k < g.K; ++k)
        for (int oy = 0; oy < g.Ho; ++oy)
          for (int ox = 0; ox < g.Wo; ++ox) {
            terms.clear();
            const int grp = k / g.Kg;
            for (int cc = 0; cc < g.Cg; ++cc)
              for (int ky = 0; ky < g.kh; ++ky)
                for (int kx = 0; kx < g.kw; ++kx) {
                  const int iy = oy * c.sh - c.ph + ky * c.dh, ix = ox * c.sw - c.pw + kx * c.dw;
                  if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                  terms.emplace_back(x[((size_t(n) * g.C + grp * g.Cg + cc) * g.H + iy) * g.W + ix],
                                     w[((size_t(k) * g.Cg + cc) * g.kh + wy_of(ky)) * g.kw + wx_of(kx)]);
                }
            const size_t yi = ((size_t(n) * g.K + k) * g.Ho + oy) * g.Wo + ox;
            result[yi] = sum(yi);
          }
  } else if (pass == kBackwardData) {
    for (int n = 0; n < g.N; ++n)
      for (int ci = 0; ci < g.C; ++ci)
        for (int iy = 0; iy < g.H; ++iy)
          for (int ix = 0; ix < g.W; ++ix) {
            terms.clear();
            const int grp = ci / g.Cg, cc = ci % g.Cg;
            for (int kk = 0; kk < g.Kg; ++kk)
              for (int ky = 0; ky < g.kh; ++ky)
                for (int kx = 0; kx < g.kw; ++kx) {
                  const int ty = iy + c.ph - ky * c.dh, tx = ix + c.pw - kx * c.dw;
                  if (ty < 0 || tx < 0 || ty % c.sh || tx % c.sw) continue;
                  const int oy = ty / c.sh, ox = tx / c.sw;
                  if (oy >= g.Ho || ox >= g.Wo) continue;
                  const int k = grp * g.Kg + kk;
                  terms.emplace_back(w[((size_t(k) * g.Cg + cc) * g.kh + wy_of(ky)) * g.kw + wx_of(kx)],
                                     y[((size_t(n) * g.K + k) * g.Ho + oy) * g.Wo + ox]);
                }
            const size_t xi = ((size_t(n) * g.C + ci) * g.H + iy) * g.W + ix;
            result[xi] = sum(xi);
          }
  } else {
    for (int k = 0; k < g.K; ++k)
      for (int cc = 0; cc < g.Cg; ++cc)
        for (int wy = 0; wy < g.kh; ++wy)
          for (int wx = 0; wx < g.kw; ++wx) {
            terms.clear();
            const int grp = k / g.Kg, ky = wy_of(wy), kx = wx_of(wx);  // the flip is its own inverse
            for (int n = 0; n < g.N; ++n)
              for (int oy = 0; oy < g.Ho; ++oy)
                for (int ox = 0; ox < g.Wo; ++ox) {
                  const int iy = oy * c.sh - c.ph + ky * c.dh, ix = ox * c.sw - c.pw + kx * c.dw;
                  if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                  terms.emplace_back(x[((size_t(n) * g.C + grp * g.Cg + cc) * g.H + iy) * g.W + ix],
                                     y[((size_t(n) * g.K + k) * g.Ho + oy) * g.Wo + ox]);
                }
            const size_t wi = ((size_t(k) * g.Cg + cc) * g.kh + wy) * g.kw + wx;
            result[wi] = sum(wi);
          }
  }
  // a workspace algorithm stages its result in the workspace
  float* staged = result.data();
  if (need) {
    std::copy(result.begin(), result.end(), static_cast<float*>(ws));
    staged = static_cast<float*>(ws);
  }
  for (size_t i = 0; i < n_out; ++i) out[i] = beta == 0.f ? alpha * staged[i] : alpha * staged[i] + beta * out[i];
  static const char* wrong_tokens[] = {"cudnn-forward-wrong", "cudnn-backward-data-wrong", "cudnn-backward-filter-wrong"};
  if (failing(wrong_tokens[pass]) && n_out) out[0] += 1.f;
  return kSuccess;
}

}  // namespace

SGI_EMU_EXPORT int sgiEmuVendorAttach(int (*check)(const void*, size_t)) {
  sgi::emu_vendor::device_check() = check;
  return 1;
}

SGI_EMU_EXPORT size_t cudnnGetVersion() { return 90800; }

SGI_EMU_EXPORT const char* cudnnGetErrorString(int status) {
  switch (status) {
    case kSuccess: return "CUDNN_STATUS_SUCCESS";
    case kNotInitialized: return "CUDNN_STATUS_NOT_INITIALIZED";
    case kSublibraryLoadingFailed: return "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED";
    case kBadParam: return "CUDNN_STATUS_BAD_PARAM";
    case kBadParamNull: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case kNotSupported: return "CUDNN_STATUS_NOT_SUPPORTED";
  }
  return "CUDNN_STATUS_UNKNOWN";
}

SGI_EMU_EXPORT void cudnnGetLastErrorString(char* message, size_t max_size) {
  if (!message || max_size == 0) return;
  const size_t n = std::min(max_size - 1, g_last_error.size());
  std::memcpy(message, g_last_error.data(), n);
  message[n] = 0;
}

SGI_EMU_EXPORT int cudnnCreate(void** handle) {
  if (!handle) return fail(kBadParamNull, "cudnnCreate: null handle pointer");
  *handle = nullptr;
  if (failing("cudnn-create")) return fail(kNotInitialized, "cudnnCreate: emulated failure (SGI_EMU_VENDOR_FAIL=cudnn-create)");
  *handle = new (std::nothrow) Handle();
  return *handle ? kSuccess : fail(kNotInitialized, "cudnnCreate: out of host memory");
}

SGI_EMU_EXPORT int cudnnDestroy(void* handle) {
  Handle* h = as<Handle>(handle, kHandle);
  if (!h) return fail(kBadParam, "cudnnDestroy: invalid handle");
  h->magic = 0;
  delete h;
  return kSuccess;
}

SGI_EMU_EXPORT int cudnnSetStream(void* handle, void* stream) {
  Handle* h = as<Handle>(handle, kHandle);
  if (!h) return fail(kBadParam, "cudnnSetStream: invalid handle");
  h->stream = stream;
  return kSuccess;
}

SGI_EMU_EXPORT int cudnnCreateTensorDescriptor(void** d) {
  if (!d) return fail(kBadParamNull, "cudnnCreateTensorDescriptor: null pointer");
  *d = new TensorDesc();
  return kSuccess;
}
SGI_EMU_EXPORT int cudnnDestroyTensorDescriptor(void* d) {
  TensorDesc* t = as<TensorDesc>(d, kTensorKind);
  if (t) { t->magic = 0; delete t; }
  return kSuccess;
}
SGI_EMU_EXPORT int cudnnSetTensor4dDescriptor(void* d, int format, int data_type, int n, int c, int h, int w) {
  TensorDesc* t = as<TensorDesc>(d, kTensorKind);
  if (!t) return fail(kBadParam, "cudnnSetTensor4dDescriptor: not a tensor descriptor");
  if (format != kNCHW || data_type != kFloat) return fail(kNotSupported, "cudnnSetTensor4dDescriptor: only NCHW float tensors are emulated");
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return fail(kBadParam, "cudnnSetTensor4dDescriptor: dimensions must be positive");
  *t = TensorDesc{kTensorKind, true, n, c, h, w};
  return kSuccess;
}

SGI_EMU_EXPORT int cudnnCreateFilterDescriptor(void** d) {
  if (!d) return fail(kBadParamNull, "cudnnCreateFilterDescriptor: null pointer");
  *d = new FilterDesc();
  return kSuccess;
}
SGI_EMU_EXPORT int cudnnDestroyFilterDescriptor(void* d) {
  FilterDesc* f = as<FilterDesc>(d, kFilterKind);
  if (f) { f->magic = 0; delete f; }
  return kSuccess;
}
SGI_EMU_EXPORT int cudnnSetFilter4dDescriptor(void* d, int data_type, int format, int k, int c, int h, int w) {
  FilterDesc* f = as<FilterDesc>(d, kFilterKind);
  if (!f) return fail(kBadParam, "cudnnSetFilter4dDescriptor: not a filter descriptor");
  if (format != kNCHW || data_type != kFloat) return fail(kNotSupported, "cudnnSetFilter4dDescriptor: only NCHW float filters are emulated");
  if (k <= 0 || c <= 0 || h <= 0 || w <= 0) return fail(kBadParam, "cudnnSetFilter4dDescriptor: dimensions must be positive");
  *f = FilterDesc{kFilterKind, true, k, c, h, w};
  return kSuccess;
}

SGI_EMU_EXPORT int cudnnCreateConvolutionDescriptor(void** d) {
  if (!d) return fail(kBadParamNull, "cudnnCreateConvolutionDescriptor: null pointer");
  *d = new ConvDesc();
  return kSuccess;
}
SGI_EMU_EXPORT int cudnnDestroyConvolutionDescriptor(void* d) {
  ConvDesc* c = as<ConvDesc>(d, kConvKind);
  if (c) { c->magic = 0; delete c; }
  return kSuccess;
}
SGI_EMU_EXPORT int cudnnSetConvolution2dDescriptor(void* d, int ph, int pw, int sh, int sw, int dh, int dw, int mode, int compute) {
  ConvDesc* c = as<ConvDesc>(d, kConvKind);
  if (!c) return fail(kBadParam, "cudnnSetConvolution2dDescriptor: not a convolution descriptor");
  if (ph < 0 || pw < 0 || sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0 || (mode != kConvolution && mode != kCrossCorrelation))
    return fail(kBadParam, "cudnnSetConvolution2dDescriptor: invalid padding, stride, dilation or mode");
  if (compute != kFloat) return fail(kNotSupported, "cudnnSetConvolution2dDescriptor: only the FLOAT compute type is emulated");
  c->ph = ph; c->pw = pw; c->sh = sh; c->sw = sw; c->dh = dh; c->dw = dw; c->mode = mode;
  c->set = true;
  return kSuccess;
}
SGI_EMU_EXPORT int cudnnSetConvolutionGroupCount(void* d, int groups) {
  ConvDesc* c = as<ConvDesc>(d, kConvKind);
  if (!c || groups < 1) return fail(kBadParam, "cudnnSetConvolutionGroupCount: invalid descriptor or group count");
  c->groups = groups;
  return kSuccess;
}
SGI_EMU_EXPORT int cudnnSetConvolutionMathType(void* d, int math) {
  ConvDesc* c = as<ConvDesc>(d, kConvKind);
  if (!c || math < 0 || math > 3) return fail(kBadParam, "cudnnSetConvolutionMathType: invalid descriptor or math type");
  c->math = math;
  return kSuccess;
}
SGI_EMU_EXPORT int cudnnGetConvolution2dForwardOutputDim(void* cd, void* xd, void* wd, int* n, int* c, int* h, int* w) {
  ConvDesc* conv = as<ConvDesc>(cd, kConvKind);
  TensorDesc* x = as<TensorDesc>(xd, kTensorKind);
  FilterDesc* f = as<FilterDesc>(wd, kFilterKind);
  if (!conv || !x || !f || !conv->set || !x->set || !f->set) return fail(kBadParam, "cudnnGetConvolution2dForwardOutputDim: invalid descriptor");
  if (!n || !c || !h || !w) return fail(kBadParamNull, "cudnnGetConvolution2dForwardOutputDim: null output");
  int ho = 0, wo = 0;
  if (int s = output_dims(*conv, *x, *f, &ho, &wo)) return s;
  *n = x->n;
  *c = f->k;
  *h = ho;
  *w = wo;
  return kSuccess;
}

SGI_EMU_EXPORT int cudnnGetConvolutionForwardAlgorithm_v7(void* h, void* x, void* w, void* conv, void* y, int requested, int* returned,
                                                         AlgoPerf* perf) {
  return query(h, x, w, conv, y, kForward, requested, returned, perf);
}
SGI_EMU_EXPORT int cudnnGetConvolutionBackwardDataAlgorithm_v7(void* h, void* w, void* dy, void* conv, void* dx, int requested,
                                                              int* returned, AlgoPerf* perf) {
  return query(h, dx, w, conv, dy, kBackwardData, requested, returned, perf);
}
SGI_EMU_EXPORT int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void* h, void* x, void* dy, void* conv, void* dw, int requested,
                                                                int* returned, AlgoPerf* perf) {
  return query(h, x, dw, conv, dy, kBackwardFilter, requested, returned, perf);
}
// cudnnFind*: the same lists (the emulator has no timings worth measuring)
SGI_EMU_EXPORT int cudnnFindConvolutionForwardAlgorithm(void* h, void* x, void* w, void* conv, void* y, int requested, int* returned,
                                                       AlgoPerf* perf) {
  return query(h, x, w, conv, y, kForward, requested, returned, perf);
}
SGI_EMU_EXPORT int cudnnFindConvolutionBackwardDataAlgorithm(void* h, void* w, void* dy, void* conv, void* dx, int requested,
                                                            int* returned, AlgoPerf* perf) {
  return query(h, dx, w, conv, dy, kBackwardData, requested, returned, perf);
}
SGI_EMU_EXPORT int cudnnFindConvolutionBackwardFilterAlgorithm(void* h, void* x, void* dy, void* conv, void* dw, int requested,
                                                              int* returned, AlgoPerf* perf) {
  return query(h, x, dw, conv, dy, kBackwardFilter, requested, returned, perf);
}

SGI_EMU_EXPORT int cudnnGetConvolutionForwardWorkspaceSize(void* h, void* x, void* w, void* conv, void* y, int algo, size_t* bytes) {
  return workspace_query(h, x, w, conv, y, kForward, algo, bytes);
}
SGI_EMU_EXPORT int cudnnGetConvolutionBackwardDataWorkspaceSize(void* h, void* w, void* dy, void* conv, void* dx, int algo, size_t* bytes) {
  return workspace_query(h, dx, w, conv, dy, kBackwardData, algo, bytes);
}
SGI_EMU_EXPORT int cudnnGetConvolutionBackwardFilterWorkspaceSize(void* h, void* x, void* dy, void* conv, void* dw, int algo, size_t* bytes) {
  return workspace_query(h, x, dw, conv, dy, kBackwardFilter, algo, bytes);
}

SGI_EMU_EXPORT int cudnnConvolutionForward(void* h, const void* alpha, void* xd, const void* x, void* wd, const void* w, void* conv,
                                          int algo, void* ws, size_t ws_bytes, const void* beta, void* yd, void* y) {
  return run("cudnnConvolutionForward", h, kForward, alpha, xd, static_cast<const float*>(x), wd, static_cast<const float*>(w), conv, yd,
             nullptr, algo, ws, ws_bytes, beta, static_cast<float*>(y));
}
SGI_EMU_EXPORT int cudnnConvolutionBackwardData(void* h, const void* alpha, void* wd, const void* w, void* dyd, const void* dy, void* conv,
                                               int algo, void* ws, size_t ws_bytes, const void* beta, void* dxd, void* dx) {
  return run("cudnnConvolutionBackwardData", h, kBackwardData, alpha, dxd, nullptr, wd, static_cast<const float*>(w), conv, dyd,
             static_cast<const float*>(dy), algo, ws, ws_bytes, beta, static_cast<float*>(dx));
}
SGI_EMU_EXPORT int cudnnConvolutionBackwardFilter(void* h, const void* alpha, void* xd, const void* x, void* dyd, const void* dy,
                                                 void* conv, int algo, void* ws, size_t ws_bytes, const void* beta, void* dwd, void* dw) {
  return run("cudnnConvolutionBackwardFilter", h, kBackwardFilter, alpha, xd, static_cast<const float*>(x), dwd, nullptr, conv, dyd,
             static_cast<const float*>(dy), algo, ws, ws_bytes, beta, static_cast<float*>(dw));
}
