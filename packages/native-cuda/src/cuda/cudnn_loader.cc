// Loads cuDNN at run time (dlopen) and runs its legacy convolution API (see cuda/cudnn.h).
// The build needs no cuDNN header: the few functions used are declared here with opaque
// handles (void*), enums as int with the values documented by cuDNN, and resolved with dlsym.
// cuDNN 8 and 9 ship libcudnn.so.N as a shim that forwards to its sub-libraries; if a symbol
// is missing from it we also look in the sub-library that defines the legacy convolution API.
//
// At load (status(), once): open the library (cuda/vendor_library.h), resolve the functions, create
// the handle on the default stream and run the probe: forward, backward-data and backward-filter of
// three tiny convolutions on values that make every sum exact, compared with a direct computation
// on the host, the outputs starting as NaN (beta = 0 must not read them). A cuDNN whose sub-library
// cannot be loaded fails here, once, with a reason naming the pass, the function and the
// sub-library, instead of on every convolution of a run; and a wrong result is never used.
//
// Per convolution shape we cache one plan: the tensor/filter/convolution descriptors and, per
// direction, the algorithm picked by cudnnGet*Algorithm_v7 (or cudnnFind*Algorithm when
// SGI_CUDNN_BENCHMARK=1) and its workspace size. The choice follows the options (common/device.h
// CudaOptions): with deterministic (the default) an algorithm whose AlgoPerf.determinism is not
// CUDNN_DETERMINISTIC is skipped, and TF32 tensor-op algorithms only run with tf32; changing the
// options drops every cached choice (cudnn_drop_choices). One workspace buffer, grown on demand, is
// shared by every call. Every failure throws; cuda/conv2d.cu then runs the built-in kernels.
// Environment: SGI_CUDNN=0 disables cuDNN; SGI_CUDNN_PATH names its folder; SGI_CUDNN_TF32=1 sets
// the initial tf32 option.
#include "cuda/cudnn.h"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/device.h"
#include "cuda/cuda_check.h"
#include "cuda/vendor_library.h"

namespace sgi::cuda {

namespace {

// ---- Our own declarations of the cuDNN C API subset (no cudnn.h needed) ----
using cudnnStatus = int;
using cudnnHandle = void*;
using cudnnTensorDesc = void*;
using cudnnFilterDesc = void*;
using cudnnConvDesc = void*;

constexpr int kStatusSuccess = 0;           // CUDNN_STATUS_SUCCESS
constexpr int kStatusExecutionFailed = 8;   // CUDNN_STATUS_EXECUTION_FAILED of cuDNN 8 (the emulated failures)
constexpr int kTensorNCHW = 0;              // CUDNN_TENSOR_NCHW
constexpr int kDataFloat = 0;               // CUDNN_DATA_FLOAT
constexpr int kCrossCorrelation = 1;        // CUDNN_CROSS_CORRELATION
constexpr int kMathDefault = 0;             // CUDNN_DEFAULT_MATH
constexpr int kMathTensorOp = 1;            // CUDNN_TENSOR_OP_MATH
constexpr int kMathTensorOpConversion = 2;  // CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
constexpr int kMathFma = 3;                 // CUDNN_FMA_MATH (cuDNN >= 8)
constexpr int kDeterministic = 1;           // CUDNN_DETERMINISTIC (CUDNN_NON_DETERMINISTIC is 0)

// cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t share this layout.
struct AlgoPerf {
  int algo;
  cudnnStatus status;
  float time;
  size_t memory;
  int determinism;
  int math_type;
  int reserved[3];
};
static_assert(sizeof(AlgoPerf) == 48, "cudnnConvolution*AlgoPerf_t layout");

using FindFwdFn = cudnnStatus (*)(cudnnHandle, cudnnTensorDesc, cudnnFilterDesc, cudnnConvDesc, cudnnTensorDesc, int, int*, AlgoPerf*);
using FindBwdDataFn = cudnnStatus (*)(cudnnHandle, cudnnFilterDesc, cudnnTensorDesc, cudnnConvDesc, cudnnTensorDesc, int, int*, AlgoPerf*);
using FindBwdFilterFn = cudnnStatus (*)(cudnnHandle, cudnnTensorDesc, cudnnTensorDesc, cudnnConvDesc, cudnnFilterDesc, int, int*, AlgoPerf*);

struct Api {
  size_t (*GetVersion)();
  const char* (*GetErrorString)(cudnnStatus);
  void (*GetLastErrorString)(char* message, size_t max_size);  // optional (cuDNN >= 9)
  cudnnStatus (*Create)(cudnnHandle*);
  cudnnStatus (*Destroy)(cudnnHandle);                          // optional
  cudnnStatus (*SetStream)(cudnnHandle, cudaStream_t);
  cudnnStatus (*CreateTensorDescriptor)(cudnnTensorDesc*);
  cudnnStatus (*DestroyTensorDescriptor)(cudnnTensorDesc);      // optional
  cudnnStatus (*SetTensor4dDescriptor)(cudnnTensorDesc, int format, int data_type, int n, int c, int h, int w);
  cudnnStatus (*CreateFilterDescriptor)(cudnnFilterDesc*);
  cudnnStatus (*DestroyFilterDescriptor)(cudnnFilterDesc);      // optional
  cudnnStatus (*SetFilter4dDescriptor)(cudnnFilterDesc, int data_type, int format, int k, int c, int h, int w);
  cudnnStatus (*CreateConvolutionDescriptor)(cudnnConvDesc*);
  cudnnStatus (*DestroyConvolutionDescriptor)(cudnnConvDesc);   // optional
  cudnnStatus (*SetConvolution2dDescriptor)(cudnnConvDesc, int pad_h, int pad_w, int u, int v, int dilation_h, int dilation_w,
                                            int mode, int compute_type);
  cudnnStatus (*SetConvolutionGroupCount)(cudnnConvDesc, int groups);
  cudnnStatus (*SetConvolutionMathType)(cudnnConvDesc, int math_type);
  cudnnStatus (*GetConvolution2dForwardOutputDim)(cudnnConvDesc, cudnnTensorDesc, cudnnFilterDesc, int* n, int* c, int* h, int* w);
  FindFwdFn GetConvolutionForwardAlgorithm_v7;
  FindBwdDataFn GetConvolutionBackwardDataAlgorithm_v7;
  FindBwdFilterFn GetConvolutionBackwardFilterAlgorithm_v7;
  FindFwdFn FindConvolutionForwardAlgorithm;              // optional (SGI_CUDNN_BENCHMARK=1)
  FindBwdDataFn FindConvolutionBackwardDataAlgorithm;     // optional
  FindBwdFilterFn FindConvolutionBackwardFilterAlgorithm; // optional
  cudnnStatus (*GetConvolutionForwardWorkspaceSize)(cudnnHandle, cudnnTensorDesc x, cudnnFilterDesc w, cudnnConvDesc,
                                                    cudnnTensorDesc y, int algo, size_t* bytes);
  cudnnStatus (*GetConvolutionBackwardDataWorkspaceSize)(cudnnHandle, cudnnFilterDesc w, cudnnTensorDesc dy, cudnnConvDesc,
                                                         cudnnTensorDesc dx, int algo, size_t* bytes);
  cudnnStatus (*GetConvolutionBackwardFilterWorkspaceSize)(cudnnHandle, cudnnTensorDesc x, cudnnTensorDesc dy, cudnnConvDesc,
                                                           cudnnFilterDesc dw, int algo, size_t* bytes);
  cudnnStatus (*ConvolutionForward)(cudnnHandle, const void* alpha, cudnnTensorDesc, const void* x, cudnnFilterDesc,
                                    const void* w, cudnnConvDesc, int algo, void* ws, size_t ws_bytes, const void* beta,
                                    cudnnTensorDesc, void* y);
  cudnnStatus (*ConvolutionBackwardData)(cudnnHandle, const void* alpha, cudnnFilterDesc, const void* w, cudnnTensorDesc,
                                         const void* dy, cudnnConvDesc, int algo, void* ws, size_t ws_bytes,
                                         const void* beta, cudnnTensorDesc, void* dx);
  cudnnStatus (*ConvolutionBackwardFilter)(cudnnHandle, const void* alpha, cudnnTensorDesc, const void* x, cudnnTensorDesc,
                                           const void* dy, cudnnConvDesc, int algo, void* ws, size_t ws_bytes,
                                           const void* beta, cudnnFilterDesc, void* dw);
};

Api g_api{};
void* g_lib = nullptr;
std::string g_lib_name;
size_t g_version = 0;

// dlsym in the main library, then in the sub-libraries that hold the legacy API.
void* find_symbol(const char* name) {
  if (void* p = dlsym(g_lib, name)) return p;
#ifdef SGI_CUDA_EMU
  return nullptr;  // the emulated cuDNN is one library (and a real sub-library must not be loaded)
#else
  // Only the sub-libraries of the same major version as the library that was loaded.
  static const char* subs[] = {"libcudnn_cnn.so.9", "libcudnn_ops.so.9", "libcudnn_graph.so.9",
                               "libcudnn_cnn_train.so.8", "libcudnn_cnn_infer.so.8", "libcudnn_ops_infer.so.8"};
  const bool v9 = g_lib_name.find(".so.9") != std::string::npos, v8 = g_lib_name.find(".so.8") != std::string::npos;
  for (const char* s : subs) {
    const bool sub_v9 = std::strstr(s, ".so.9") != nullptr;
    if ((v9 && !sub_v9) || (v8 && sub_v9)) continue;
    if (void* h = dlopen(s, RTLD_NOW | RTLD_LOCAL)) {
      if (void* p = dlsym(h, name)) return p;
    }
  }
  return nullptr;
#endif
}

template <typename Fn>
bool resolve(Fn& slot, const char* name, std::string* missing) {
  slot = reinterpret_cast<Fn>(find_symbol(name));
  if (!slot && missing) *missing += (missing->empty() ? "" : ", ") + std::string(name);
  return slot != nullptr;
}

const char* status_text(cudnnStatus s) {
  const char* t = g_api.GetErrorString ? g_api.GetErrorString(s) : nullptr;
  return t ? t : "unknown cuDNN status";
}

// A failed call: its status and, with cuDNN 9, the library's own account of the latest error
// (which names a sub-library that could not be loaded).
std::string failure_text(cudnnStatus s, const char* what) {
  std::string msg = std::string("cuDNN ") + what + " failed: " + status_text(s) + " (status " + std::to_string(s) + ")";
  if (g_api.GetLastErrorString) {
    char last[512] = {0};
    g_api.GetLastErrorString(last, sizeof(last));
    last[sizeof(last) - 1] = 0;
    if (last[0]) msg += std::string(": ") + last;
  }
  return msg;
}

void check(cudnnStatus s, const char* what) {
  if (s != kStatusSuccess) throw std::runtime_error(failure_text(s, what));
}

// ---- Handle, workspace, plans ----
std::mutex g_mutex;
cudnnHandle g_handle = nullptr;
void* g_workspace = nullptr;
size_t g_workspace_bytes = 0;
std::atomic<bool> g_ready{false};
std::atomic<uint64_t> g_forward_calls{0}, g_backward_data_calls{0}, g_backward_filter_calls{0};

// From the caching allocator (cuda_runtime.cu), which frees its cached blocks and retries before
// it gives up; the old buffer goes back to its cache (the next owner is queued after cuDNN's use).
void* workspace(size_t bytes) {
  if (bytes <= g_workspace_bytes) return g_workspace;
  release(static_cast<float*>(g_workspace));
  g_workspace = nullptr;
  g_workspace_bytes = 0;
  const auto floats = [](size_t b) { return b / sizeof(float) + 1; };
  size_t grown = bytes + bytes / 4;  // some headroom so nearby shapes do not regrow
  try {
    g_workspace = alloc(floats(grown));
  } catch (const std::exception&) {
    grown = bytes;
    try {
      g_workspace = alloc(floats(grown));
    } catch (const std::exception& e) {
      throw std::runtime_error("cuDNN workspace: cannot allocate " + std::to_string(bytes) + " bytes (" + e.what() + ")");
    }
  }
  g_workspace_bytes = grown;
  return g_workspace;
}

#ifdef SGI_CUDA_EMU
// Without an emulated cuDNN loaded (SGI_CUDNN_PATH), SGI_CUDA_EMU_CUDNN_FAIL=status or =workspace
// makes the emulator act as if cuDNN were loaded and every convolution call failed in that way, so
// that the fallback of cuda/conv2d.cu is tested: a cuDNN status error, or a workspace the device
// cannot hold.
const char* emulated_failure() {
  const char* v = std::getenv("SGI_CUDA_EMU_CUDNN_FAIL");
  return v && *v ? v : nullptr;
}
[[noreturn]] void fail_as_emulated(const char* call) {
  if (std::strcmp(emulated_failure(), "workspace") == 0) workspace(size_t(1) << 60);  // throws: the device is smaller
  check(kStatusExecutionFailed, call);
  throw std::logic_error("unreachable");
}
// (only while no emulated cuDNN is loaded)
#define SGI_CUDNN_EMULATED_FAILURE(name) \
  if (!g_lib && emulated_failure()) fail_as_emulated(name)
#else
#define SGI_CUDNN_EMULATED_FAILURE(name) ((void)0)
#endif

struct Algo {
  bool chosen = false;
  int algo = 0;
  int math_type = kMathFma;
  bool deterministic = false;
  size_t bytes = 0;
};

struct Plan {
  cudnnTensorDesc x = nullptr, y = nullptr;
  cudnnFilterDesc w = nullptr;
  cudnnConvDesc conv = nullptr;
  Algo fwd, bwd_data, bwd_filter;
};

using Key = std::array<int, 12>;
std::map<Key, Plan> g_plans;

bool benchmark() { return vendor::env_is("SGI_CUDNN_BENCHMARK", "1"); }

void destroy_descriptors(Plan& p) {
  if (p.x && g_api.DestroyTensorDescriptor) g_api.DestroyTensorDescriptor(p.x);
  if (p.y && g_api.DestroyTensorDescriptor) g_api.DestroyTensorDescriptor(p.y);
  if (p.w && g_api.DestroyFilterDescriptor) g_api.DestroyFilterDescriptor(p.w);
  if (p.conv && g_api.DestroyConvolutionDescriptor) g_api.DestroyConvolutionDescriptor(p.conv);
  p = Plan{};
}

Plan& plan_for(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups) {
  Key key{N, C, H, W, K, kh, kw, sh, sw, ph, pw, groups};
  auto it = g_plans.find(key);
  if (it != g_plans.end()) return it->second;
  if (N <= 0 || C <= 0 || H <= 0 || W <= 0 || K <= 0 || kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || ph < 0 || pw < 0 || groups <= 0)
    throw std::runtime_error("cudnn conv2d: invalid sizes");
  if (C % groups || K % groups) throw std::runtime_error("cudnn conv2d: channels are not divisible by groups");
  const int Ho = (H + 2 * ph - kh) / sh + 1, Wo = (W + 2 * pw - kw) / sw + 1;
  if (H + 2 * ph < kh || W + 2 * pw < kw || Ho <= 0 || Wo <= 0) throw std::runtime_error("cudnn conv2d: kernel larger than the padded input");
  Plan p;
  try {
    check(g_api.CreateTensorDescriptor(&p.x), "cudnnCreateTensorDescriptor");
    check(g_api.CreateTensorDescriptor(&p.y), "cudnnCreateTensorDescriptor");
    check(g_api.CreateFilterDescriptor(&p.w), "cudnnCreateFilterDescriptor");
    check(g_api.CreateConvolutionDescriptor(&p.conv), "cudnnCreateConvolutionDescriptor");
    check(g_api.SetTensor4dDescriptor(p.x, kTensorNCHW, kDataFloat, N, C, H, W), "cudnnSetTensor4dDescriptor(x)");
    check(g_api.SetFilter4dDescriptor(p.w, kDataFloat, kTensorNCHW, K, C / groups, kh, kw), "cudnnSetFilter4dDescriptor");
    check(g_api.SetConvolution2dDescriptor(p.conv, ph, pw, sh, sw, 1, 1, kCrossCorrelation, kDataFloat), "cudnnSetConvolution2dDescriptor");
    check(g_api.SetConvolutionGroupCount(p.conv, groups), "cudnnSetConvolutionGroupCount");
    if (g_api.SetConvolutionMathType) g_api.SetConvolutionMathType(p.conv, options().tf32 ? kMathDefault : kMathFma);
    if (g_api.GetConvolution2dForwardOutputDim) {
      int n = 0, c = 0, h = 0, w = 0;
      check(g_api.GetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &n, &c, &h, &w), "cudnnGetConvolution2dForwardOutputDim");
      if (n != N || c != K || h != Ho || w != Wo)
        throw std::runtime_error("cudnn conv2d: cuDNN output shape [" + std::to_string(n) + ", " + std::to_string(c) + ", " +
                                 std::to_string(h) + ", " + std::to_string(w) + "] differs from the expected one");
    }
    check(g_api.SetTensor4dDescriptor(p.y, kTensorNCHW, kDataFloat, N, K, Ho, Wo), "cudnnSetTensor4dDescriptor(y)");
  } catch (...) {
    destroy_descriptors(p);
    throw;
  }
  return g_plans.emplace(key, p).first->second;
}

// Picks the first algorithm (best first) that succeeded, is deterministic when the deterministic
// option is on, uses an allowed math type and fits the memory budget; `bytes_of` asks cuDNN for
// that algorithm's exact workspace size.
template <typename Query, typename Bytes>
Algo choose(const char* what, Query query, Bytes bytes_of) {
  AlgoPerf perf[16];
  std::memset(perf, 0, sizeof(perf));
  int count = 0;
  check(query(16, &count, perf), what);
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) { cudaGetLastError(); free_bytes = size_t(1) << 30; }
  const size_t budget = std::max(free_bytes / 2, g_workspace_bytes);
  const CudaOptions o = options();
  int skipped_nondeterministic = 0;
  for (int i = 0; i < std::min(count, 16); ++i) {
    const AlgoPerf& p = perf[i];
    if (p.status != kStatusSuccess) continue;
    if (!o.tf32 && (p.math_type == kMathTensorOp || p.math_type == kMathTensorOpConversion)) continue;
    if (o.deterministic && p.determinism != kDeterministic) { ++skipped_nondeterministic; continue; }
    size_t bytes = 0;
    if (bytes_of(p.algo, &bytes) != kStatusSuccess) continue;
    bytes = std::max(bytes, p.memory);
    if (bytes > budget) continue;
    Algo a;
    a.chosen = true;
    a.algo = p.algo;
    a.math_type = o.tf32 ? p.math_type : kMathFma;
    a.deterministic = p.determinism == kDeterministic;
    a.bytes = bytes;
    return a;
  }
  throw std::runtime_error(std::string("cuDNN ") + what + ": no usable algorithm for this convolution" +
                           (skipped_nondeterministic ? " (" + std::to_string(skipped_nondeterministic) +
                                                           " non-deterministic ones skipped: the deterministic option is on)"
                                                     : std::string()));
}

void set_math(const Plan& p, const Algo& a) {
  if (g_api.SetConvolutionMathType) g_api.SetConvolutionMathType(p.conv, a.math_type);
}

// A device buffer of at least `bytes` for cuDNN's workspace: workspace() on ordinary calls, plain
// cudaMalloc during the load-time probe.
using Workspace = void* (*)(size_t);

// The three passes on a plan; the caller holds g_mutex.
void forward_locked(Plan& p, const float* x, const float* w, float* y, Workspace ws) {
  if (!p.fwd.chosen) {
    FindFwdFn q = benchmark() && g_api.FindConvolutionForwardAlgorithm ? g_api.FindConvolutionForwardAlgorithm
                                                                      : g_api.GetConvolutionForwardAlgorithm_v7;
    p.fwd = choose("forward algorithm search",
                   [&](int n, int* c, AlgoPerf* r) { return q(g_handle, p.x, p.w, p.conv, p.y, n, c, r); },
                   [&](int a, size_t* b) { return g_api.GetConvolutionForwardWorkspaceSize(g_handle, p.x, p.w, p.conv, p.y, a, b); });
  }
  set_math(p, p.fwd);
  const float one = 1.f, zero = 0.f;
  void* buf = ws(p.fwd.bytes);
  check(g_api.ConvolutionForward(g_handle, &one, p.x, x, p.w, w, p.conv, p.fwd.algo, buf, p.fwd.bytes, &zero, p.y, y),
        "cudnnConvolutionForward");
}

void backward_data_locked(Plan& p, const float* w, const float* gy, float* gx, Workspace ws) {
  if (!p.bwd_data.chosen) {
    FindBwdDataFn q = benchmark() && g_api.FindConvolutionBackwardDataAlgorithm ? g_api.FindConvolutionBackwardDataAlgorithm
                                                                              : g_api.GetConvolutionBackwardDataAlgorithm_v7;
    p.bwd_data = choose("backward-data algorithm search",
                        [&](int n, int* c, AlgoPerf* r) { return q(g_handle, p.w, p.y, p.conv, p.x, n, c, r); },
                        [&](int a, size_t* b) { return g_api.GetConvolutionBackwardDataWorkspaceSize(g_handle, p.w, p.y, p.conv, p.x, a, b); });
  }
  set_math(p, p.bwd_data);
  const float one = 1.f, zero = 0.f;
  void* buf = ws(p.bwd_data.bytes);
  check(g_api.ConvolutionBackwardData(g_handle, &one, p.w, w, p.y, gy, p.conv, p.bwd_data.algo, buf, p.bwd_data.bytes, &zero, p.x, gx),
        "cudnnConvolutionBackwardData");
}

void backward_filter_locked(Plan& p, const float* x, const float* gy, float* gw, Workspace ws) {
  if (!p.bwd_filter.chosen) {
    FindBwdFilterFn q = benchmark() && g_api.FindConvolutionBackwardFilterAlgorithm ? g_api.FindConvolutionBackwardFilterAlgorithm
                                                                                  : g_api.GetConvolutionBackwardFilterAlgorithm_v7;
    p.bwd_filter = choose("backward-filter algorithm search",
                          [&](int n, int* c, AlgoPerf* r) { return q(g_handle, p.x, p.y, p.conv, p.w, n, c, r); },
                          [&](int a, size_t* b) { return g_api.GetConvolutionBackwardFilterWorkspaceSize(g_handle, p.x, p.y, p.conv, p.w, a, b); });
  }
  set_math(p, p.bwd_filter);
  const float one = 1.f, zero = 0.f;
  void* buf = ws(p.bwd_filter.bytes);
  check(g_api.ConvolutionBackwardFilter(g_handle, &one, p.x, x, p.y, gy, p.conv, p.bwd_filter.algo, buf, p.bwd_filter.bytes, &zero, p.w, gw),
        "cudnnConvolutionBackwardFilter");
}

// ---- The load-time probe ----
struct ProbeShape {
  int N, C, H, W, K, kh, kw, sh, sw, ph, pw, groups;
  int ho() const { return (H + 2 * ph - kh) / sh + 1; }
  int wo() const { return (W + 2 * pw - kw) / sw + 1; }
};

vendor::ProbeBuffers* g_probe_buffers = nullptr;  // set while the probe runs
void* probe_workspace(size_t bytes) { return bytes ? g_probe_buffers->alloc(bytes) : nullptr; }

// Direct convolution on the host, all three passes at once (every product of the loop feeds y, gx
// and gw), in double.
void reference(const ProbeShape& s, const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& gy,
               std::vector<double>& y, std::vector<double>& gx, std::vector<double>& gw) {
  const int Cg = s.C / s.groups, Kg = s.K / s.groups, Ho = s.ho(), Wo = s.wo();
  y.assign(size_t(s.N) * s.K * Ho * Wo, 0.0);
  gx.assign(x.size(), 0.0);
  gw.assign(w.size(), 0.0);
  for (int n = 0; n < s.N; ++n)
    for (int k = 0; k < s.K; ++k)
      for (int oy = 0; oy < Ho; ++oy)
        for (int ox = 0; ox < Wo; ++ox)
          for (int cc = 0; cc < Cg; ++cc)
            for (int ky = 0; ky < s.kh; ++ky)
              for (int kx = 0; kx < s.kw; ++kx) {
                const int c = (k / Kg) * Cg + cc, iy = oy * s.sh - s.ph + ky, ix = ox * s.sw - s.pw + kx;
                if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                const size_t xi = ((size_t(n) * s.C + c) * s.H + iy) * s.W + ix, wi = ((size_t(k) * Cg + cc) * s.kh + ky) * s.kw + kx;
                const size_t yi = ((size_t(n) * s.K + k) * Ho + oy) * Wo + ox;
                y[yi] += double(x[xi]) * w[wi];
                gx[xi] += double(w[wi]) * gy[yi];
                gw[wi] += double(x[xi]) * gy[yi];
              }
}

// "" or the first element that differs (the outputs started as NaN: one left unwritten shows).
std::string compare(const std::vector<float>& got, const std::vector<double>& want) {
  double scale = 1;
  for (double v : want) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= 1e-5 * scale))
      return "element " + std::to_string(i) + " is " + std::to_string(got[i]) + ", the host computes " + std::to_string(want[i]);
  return "";
}

// Where the legacy convolution API lives in this cuDNN.
std::string sublibrary(bool forward) {
  if (g_version >= 90000) return "libcudnn_cnn.so.9";
  if (g_version >= 8000) return forward ? "libcudnn_cnn_infer.so.8" : "libcudnn_cnn_train.so.8";
  return g_lib_name;
}

// Runs the probe; the caller holds g_mutex. "" when every pass of every shape matches the host.
std::string probe_locked() {
  static const ProbeShape shapes[] = {
      {1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1},
      {1, 2, 5, 5, 3, 3, 3, 2, 2, 1, 1, 1},
      {1, 2, 5, 5, 4, 3, 3, 1, 1, 1, 1, 2},
  };
  static const char* pass_names[] = {"forward", "backward-data", "backward-filter"};
  static const char* functions[] = {"cudnnConvolutionForward", "cudnnConvolutionBackwardData", "cudnnConvolutionBackwardFilter"};
  for (const ProbeShape& s : shapes) {
    const std::string shape = "a " + std::to_string(s.kh) + "x" + std::to_string(s.kw) + " convolution of input [" + std::to_string(s.N) +
                              ", " + std::to_string(s.C) + ", " + std::to_string(s.H) + ", " + std::to_string(s.W) + "] to " +
                              std::to_string(s.K) + " channels, stride " + std::to_string(s.sh) + ", padding " + std::to_string(s.ph) +
                              ", groups " + std::to_string(s.groups);
    vendor::ProbeBuffers buffers;
    g_probe_buffers = &buffers;
    struct Reset { ~Reset() { g_probe_buffers = nullptr; } } reset;
    const int pass_count = 3;
    int pass = -1;
    try {
      Plan& p = plan_for(s.N, s.C, s.H, s.W, s.K, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.groups);
      const size_t nx = size_t(s.N) * s.C * s.H * s.W, nw = size_t(s.K) * (s.C / s.groups) * s.kh * s.kw,
                   ny = size_t(s.N) * s.K * s.ho() * s.wo();
      const std::vector<float> x = vendor::probe_values(nx, 5), w = vendor::probe_values(nw, 7), gy = vendor::probe_values(ny, 9);
      std::vector<double> y_ref, gx_ref, gw_ref;
      reference(s, x, w, gy, y_ref, gx_ref, gw_ref);
      const std::vector<float> nan_y(ny, std::nanf("")), nan_x(nx, std::nanf("")), nan_w(nw, std::nanf(""));
      const float *dx = buffers.upload(x), *dw = buffers.upload(w), *dgy = buffers.upload(gy);
      float *dy = buffers.upload(nan_y), *dgx = buffers.upload(nan_x), *dgw = buffers.upload(nan_w);
      for (pass = 0; pass < pass_count; ++pass) {
        std::string bad;
        if (pass == 0) {
          forward_locked(p, dx, dw, dy, &probe_workspace);
          bad = compare(buffers.download(dy, ny), y_ref);
        } else if (pass == 1) {
          backward_data_locked(p, dw, dgy, dgx, &probe_workspace);
          bad = compare(buffers.download(dgx, nx), gx_ref);
        } else {
          backward_filter_locked(p, dx, dgy, dgw, &probe_workspace);
          bad = compare(buffers.download(dgw, nw), gw_ref);
        }
        if (!bad.empty())
          return "the " + std::string(pass_names[pass]) + " pass (" + functions[pass] + ", in " + sublibrary(pass == 0) + ") of " + shape +
                 " gave wrong results: " + bad;
      }
    } catch (const std::exception& e) {
      cudaGetLastError();
      if (pass < 0) return "setting up the descriptors of " + shape + " failed: " + e.what();
      return "the " + std::string(pass_names[pass]) + " pass (" + functions[pass] + ", in " + sublibrary(pass == 0) + ") of " + shape +
             " failed: " + e.what();
    }
  }
  return "";
}

}  // namespace

// Opens and resolves the library; false with `reason` (the caller adds nothing).
static bool cudnn_load(std::string* reason) {
  if (vendor::env_off("SGI_CUDNN")) {
    *reason = "cuDNN disabled by SGI_CUDNN=0: convolutions use the built-in CUDA kernels";
    return false;
  }
  std::string tried;
  vendor::Candidates c{"SGI_CUDNN_PATH",
                       {"libcudnn.so.9", "libcudnn.so.8"},
                       {"libcudnn.so.9", "libcudnn.so.8", "libcudnn.so"},
                       {"nvidia/cudnn/lib"},
                       {"libcudnn.so.9"},
                       "libsgi_emu_cudnn.so"};
  g_lib = vendor::open_library(c, &g_lib_name, &tried);
  if (!g_lib) {
    *reason = "cuDNN was not found (tried " + tried + "; SGI_CUDNN_PATH names its folder): convolutions use the built-in CUDA kernels";
    return false;
  }
  std::string missing;
  bool ok = true;
  ok &= resolve(g_api.GetVersion, "cudnnGetVersion", &missing);
  ok &= resolve(g_api.GetErrorString, "cudnnGetErrorString", &missing);
  ok &= resolve(g_api.Create, "cudnnCreate", &missing);
  ok &= resolve(g_api.SetStream, "cudnnSetStream", &missing);
  ok &= resolve(g_api.CreateTensorDescriptor, "cudnnCreateTensorDescriptor", &missing);
  ok &= resolve(g_api.SetTensor4dDescriptor, "cudnnSetTensor4dDescriptor", &missing);
  ok &= resolve(g_api.CreateFilterDescriptor, "cudnnCreateFilterDescriptor", &missing);
  ok &= resolve(g_api.SetFilter4dDescriptor, "cudnnSetFilter4dDescriptor", &missing);
  ok &= resolve(g_api.CreateConvolutionDescriptor, "cudnnCreateConvolutionDescriptor", &missing);
  ok &= resolve(g_api.SetConvolution2dDescriptor, "cudnnSetConvolution2dDescriptor", &missing);
  ok &= resolve(g_api.SetConvolutionGroupCount, "cudnnSetConvolutionGroupCount", &missing);
  ok &= resolve(g_api.GetConvolutionForwardAlgorithm_v7, "cudnnGetConvolutionForwardAlgorithm_v7", &missing);
  ok &= resolve(g_api.GetConvolutionBackwardDataAlgorithm_v7, "cudnnGetConvolutionBackwardDataAlgorithm_v7", &missing);
  ok &= resolve(g_api.GetConvolutionBackwardFilterAlgorithm_v7, "cudnnGetConvolutionBackwardFilterAlgorithm_v7", &missing);
  ok &= resolve(g_api.GetConvolutionForwardWorkspaceSize, "cudnnGetConvolutionForwardWorkspaceSize", &missing);
  ok &= resolve(g_api.GetConvolutionBackwardDataWorkspaceSize, "cudnnGetConvolutionBackwardDataWorkspaceSize", &missing);
  ok &= resolve(g_api.GetConvolutionBackwardFilterWorkspaceSize, "cudnnGetConvolutionBackwardFilterWorkspaceSize", &missing);
  ok &= resolve(g_api.ConvolutionForward, "cudnnConvolutionForward", &missing);
  ok &= resolve(g_api.ConvolutionBackwardData, "cudnnConvolutionBackwardData", &missing);
  ok &= resolve(g_api.ConvolutionBackwardFilter, "cudnnConvolutionBackwardFilter", &missing);
  // Optional: math type (cuDNN >= 7), output-shape check, benchmarking search, clean-up, error detail.
  resolve(g_api.SetConvolutionMathType, "cudnnSetConvolutionMathType", nullptr);
  resolve(g_api.GetConvolution2dForwardOutputDim, "cudnnGetConvolution2dForwardOutputDim", nullptr);
  resolve(g_api.FindConvolutionForwardAlgorithm, "cudnnFindConvolutionForwardAlgorithm", nullptr);
  resolve(g_api.FindConvolutionBackwardDataAlgorithm, "cudnnFindConvolutionBackwardDataAlgorithm", nullptr);
  resolve(g_api.FindConvolutionBackwardFilterAlgorithm, "cudnnFindConvolutionBackwardFilterAlgorithm", nullptr);
  resolve(g_api.Destroy, "cudnnDestroy", nullptr);
  resolve(g_api.DestroyTensorDescriptor, "cudnnDestroyTensorDescriptor", nullptr);
  resolve(g_api.DestroyFilterDescriptor, "cudnnDestroyFilterDescriptor", nullptr);
  resolve(g_api.DestroyConvolutionDescriptor, "cudnnDestroyConvolutionDescriptor", nullptr);
  resolve(g_api.GetLastErrorString, "cudnnGetLastErrorString", nullptr);
  if (!ok) {
    *reason = g_lib_name + " lacks " + missing + ": convolutions use the built-in CUDA kernels";
    g_api = Api{};
    return false;
  }
  g_version = g_api.GetVersion();
  if (g_version < 7000) {
    *reason = g_lib_name + " is cuDNN " + std::to_string(g_version) + " (7.0 or newer needed): convolutions use the built-in CUDA kernels";
    g_api = Api{};
    return false;
  }
  return true;
}

bool cudnn_init(std::string* reason, std::string* library) {
  if (!cudnn_load(reason)) return false;
  *library = g_lib_name;
  const std::string fallback = ": convolutions use the built-in CUDA kernels";
  std::lock_guard<std::mutex> lock(g_mutex);
  cudnnHandle h = nullptr;
  const cudnnStatus created = g_api.Create(&h);
  if (created != kStatusSuccess || !h) {
    *reason = g_lib_name + ": " + (created != kStatusSuccess ? failure_text(created, "cudnnCreate") : "cudnnCreate gave no handle") + fallback;
    return false;
  }
  g_handle = h;
  std::string bad;
  try {
    check(g_api.SetStream(g_handle, nullptr), "cudnnSetStream");  // the default stream, like our kernels
    bad = probe_locked();
  } catch (const std::exception& e) {
    bad = e.what();
  }
  if (!bad.empty()) {
    *reason = "cuDNN (" + g_lib_name + ", version " + std::to_string(g_version) + ") failed its load-time probe: " + bad + fallback;
    for (auto& [key, plan] : g_plans) destroy_descriptors(plan);
    g_plans.clear();
    if (g_api.Destroy) g_api.Destroy(g_handle);
    g_handle = nullptr;
    return false;
  }
  g_ready = true;
  return true;
}

bool cudnn_conv_available() {
#ifdef SGI_CUDA_EMU
  if (emulated_failure() && !g_lib) return true;
#endif
  static const bool loaded = (status(), true);  // loads and probes cuDNN once when a device is present
  (void)loaded;
  return g_ready.load(std::memory_order_acquire);
}

static void require_handle(const char* fn) {
  if (!cudnn_conv_available()) throw std::runtime_error(std::string(fn) + ": cuDNN is not available");
}

void cudnn_conv2d_forward(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                          const float* x, const float* w, float* y) {
  require_handle("cudnn_conv2d_forward");
  std::lock_guard<std::mutex> lock(g_mutex);
  SGI_CUDNN_EMULATED_FAILURE("cudnnConvolutionForward");
  forward_locked(plan_for(N, C, H, W, K, kh, kw, sh, sw, ph, pw, groups), x, w, y, &workspace);
  g_forward_calls.fetch_add(1, std::memory_order_relaxed);
}

void cudnn_conv2d_backward_data(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                                const float* w, const float* gy, float* gx) {
  require_handle("cudnn_conv2d_backward_data");
  std::lock_guard<std::mutex> lock(g_mutex);
  SGI_CUDNN_EMULATED_FAILURE("cudnnConvolutionBackwardData");
  backward_data_locked(plan_for(N, C, H, W, K, kh, kw, sh, sw, ph, pw, groups), w, gy, gx, &workspace);
  g_backward_data_calls.fetch_add(1, std::memory_order_relaxed);
}

void cudnn_conv2d_backward_filter(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                                  const float* x, const float* gy, float* gw) {
  require_handle("cudnn_conv2d_backward_filter");
  std::lock_guard<std::mutex> lock(g_mutex);
  SGI_CUDNN_EMULATED_FAILURE("cudnnConvolutionBackwardFilter");
  backward_filter_locked(plan_for(N, C, H, W, K, kh, kw, sh, sw, ph, pw, groups), x, gy, gw, &workspace);
  g_backward_filter_calls.fetch_add(1, std::memory_order_relaxed);
}

void cudnn_drop_choices() {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (auto& [key, plan] : g_plans) plan.fwd = plan.bwd_data = plan.bwd_filter = Algo{};
}

void cudnn_fill_info(CudaLibrariesInfo* info) {
  std::lock_guard<std::mutex> lock(g_mutex);
  info->cudnn_version = int64_t(g_version);
  info->cudnn_forward_calls = g_forward_calls.load();
  info->cudnn_backward_data_calls = g_backward_data_calls.load();
  info->cudnn_backward_filter_calls = g_backward_filter_calls.load();
  const auto describe = [](const Algo& a) {
    CudnnAlgoInfo i;
    i.chosen = a.chosen;
    i.algo = a.algo;
    i.deterministic = a.deterministic;
    i.math_type = a.math_type;
    i.workspace_bytes = a.bytes;
    return i;
  };
  for (const auto& [key, plan] : g_plans) {
    CudnnPlanInfo p;
    p.shape = key;
    p.forward = describe(plan.fwd);
    p.backward_data = describe(plan.bwd_data);
    p.backward_filter = describe(plan.bwd_filter);
    info->cudnn_plans.push_back(p);
  }
}

}  // namespace sgi::cuda
