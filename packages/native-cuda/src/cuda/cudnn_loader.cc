// Loads cuDNN at run time (dlopen) and runs its legacy convolution API (see cuda/cudnn.h).
// The build needs no cuDNN header: the few functions used are declared here with opaque
// handles (void*), enums as int with the values documented by cuDNN, and resolved with dlsym.
// cuDNN 8 and 9 ship libcudnn.so.N as a shim that forwards to its sub-libraries; if a symbol
// is missing from it we also look in the sub-library that defines the legacy convolution API.
//
// Per convolution shape we cache one plan: the tensor/filter/convolution descriptors and, per
// direction, the algorithm picked by cudnnGet*Algorithm_v7 (or cudnnFind*Algorithm when
// SGI_CUDNN_BENCHMARK=1) and its workspace size. One workspace buffer, grown on demand, is
// shared by every call. Every failure throws; cuda/conv2d.cu then runs the built-in kernels. Environment: SGI_CUDNN=0 disables cuDNN; SGI_CUDNN_TF32=1 allows TF32
// tensor-core math (off by default so results match the float32 CPU kernels).
#include "cuda/cudnn.h"

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <glob.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/device.h"
#include "cuda/cuda_check.h"

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
  cudnnStatus (*Create)(cudnnHandle*);
  cudnnStatus (*SetStream)(cudnnHandle, cudaStream_t);
  cudnnStatus (*CreateTensorDescriptor)(cudnnTensorDesc*);
  cudnnStatus (*SetTensor4dDescriptor)(cudnnTensorDesc, int format, int data_type, int n, int c, int h, int w);
  cudnnStatus (*CreateFilterDescriptor)(cudnnFilterDesc*);
  cudnnStatus (*SetFilter4dDescriptor)(cudnnFilterDesc, int data_type, int format, int k, int c, int h, int w);
  cudnnStatus (*CreateConvolutionDescriptor)(cudnnConvDesc*);
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

bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, value) == 0;
}
bool env_off(const char* name) {
  const char* v = std::getenv(name);
  return v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0 || std::strcmp(v, "OFF") == 0 ||
               std::strcmp(v, "false") == 0);
}

// dlsym in the main library, then in the sub-libraries that hold the legacy API.
void* find_symbol(const char* name) {
  if (void* p = dlsym(g_lib, name)) return p;
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

void check(cudnnStatus s, const char* what) {
  if (s != kStatusSuccess)
    throw std::runtime_error(std::string("cuDNN ") + what + " failed: " + status_text(s) + " (status " + std::to_string(s) + ")");
}

// ---- Handle, workspace, plans ----
std::mutex g_mutex;
cudnnHandle g_handle = nullptr;
void* g_workspace = nullptr;
size_t g_workspace_bytes = 0;

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
// The emulator has no cuDNN. SGI_CUDA_EMU_CUDNN_FAIL=status or =workspace makes it act as if
// cuDNN were loaded and every convolution call failed in that way, so that the fallback of
// cuda/conv2d.cu is tested: a cuDNN status error, or a workspace the device cannot hold.
const char* emulated_failure() {
  const char* v = std::getenv("SGI_CUDA_EMU_CUDNN_FAIL");
  return v && *v ? v : nullptr;
}
[[noreturn]] void fail_as_emulated(const char* call) {
  if (std::strcmp(emulated_failure(), "workspace") == 0) workspace(size_t(1) << 60);  // throws: the device is smaller
  check(kStatusExecutionFailed, call);
  throw std::logic_error("unreachable");
}
#define SGI_EMULATED_CUDNN_CALL(name) fail_as_emulated(name)
#else
#define SGI_EMULATED_CUDNN_CALL(name) ((void)0)
#endif

struct Algo {
  bool chosen = false;
  int algo = 0;
  int math_type = kMathFma;
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

bool allow_tf32() { return env_is("SGI_CUDNN_TF32", "1"); }
bool benchmark() { return env_is("SGI_CUDNN_BENCHMARK", "1"); }

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
  check(g_api.CreateTensorDescriptor(&p.x), "cudnnCreateTensorDescriptor");
  check(g_api.CreateTensorDescriptor(&p.y), "cudnnCreateTensorDescriptor");
  check(g_api.CreateFilterDescriptor(&p.w), "cudnnCreateFilterDescriptor");
  check(g_api.CreateConvolutionDescriptor(&p.conv), "cudnnCreateConvolutionDescriptor");
  check(g_api.SetTensor4dDescriptor(p.x, kTensorNCHW, kDataFloat, N, C, H, W), "cudnnSetTensor4dDescriptor(x)");
  check(g_api.SetFilter4dDescriptor(p.w, kDataFloat, kTensorNCHW, K, C / groups, kh, kw), "cudnnSetFilter4dDescriptor");
  check(g_api.SetConvolution2dDescriptor(p.conv, ph, pw, sh, sw, 1, 1, kCrossCorrelation, kDataFloat), "cudnnSetConvolution2dDescriptor");
  check(g_api.SetConvolutionGroupCount(p.conv, groups), "cudnnSetConvolutionGroupCount");
  if (g_api.SetConvolutionMathType) g_api.SetConvolutionMathType(p.conv, allow_tf32() ? kMathDefault : kMathFma);
  if (g_api.GetConvolution2dForwardOutputDim) {
    int n = 0, c = 0, h = 0, w = 0;
    check(g_api.GetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &n, &c, &h, &w), "cudnnGetConvolution2dForwardOutputDim");
    if (n != N || c != K || h != Ho || w != Wo)
      throw std::runtime_error("cudnn conv2d: cuDNN output shape [" + std::to_string(n) + ", " + std::to_string(c) + ", " +
                               std::to_string(h) + ", " + std::to_string(w) + "] differs from the expected one");
  }
  check(g_api.SetTensor4dDescriptor(p.y, kTensorNCHW, kDataFloat, N, K, Ho, Wo), "cudnnSetTensor4dDescriptor(y)");
  return g_plans.emplace(key, p).first->second;
}

// Picks the first algorithm (best first) that succeeded, fits the memory budget and uses an
// allowed math type; `bytes_of` asks cuDNN for that algorithm's exact workspace size.
template <typename Query, typename Bytes>
Algo choose(const char* what, Query query, Bytes bytes_of) {
  AlgoPerf perf[16];
  std::memset(perf, 0, sizeof(perf));
  int count = 0;
  check(query(16, &count, perf), what);
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) { cudaGetLastError(); free_bytes = size_t(1) << 30; }
  const size_t budget = std::max(free_bytes / 2, g_workspace_bytes);
  const bool tf32 = allow_tf32();
  for (int i = 0; i < count; ++i) {
    const AlgoPerf& p = perf[i];
    if (p.status != kStatusSuccess) continue;
    if (!tf32 && (p.math_type == kMathTensorOp || p.math_type == kMathTensorOpConversion)) continue;
    size_t bytes = 0;
    if (bytes_of(p.algo, &bytes) != kStatusSuccess) continue;
    bytes = std::max(bytes, p.memory);
    if (bytes > budget) continue;
    Algo a;
    a.chosen = true;
    a.algo = p.algo;
    a.math_type = tf32 ? p.math_type : kMathFma;
    a.bytes = bytes;
    return a;
  }
  throw std::runtime_error(std::string("cuDNN ") + what + ": no usable algorithm for this convolution");
}

void set_math(const Plan& p, const Algo& a) {
  if (g_api.SetConvolutionMathType) g_api.SetConvolutionMathType(p.conv, a.math_type);
}

bool g_handle_tried = false;
bool g_handle_ok = false;

}  // namespace

bool cudnn_load(std::string* reason) {
  if (env_off("SGI_CUDNN")) {
    *reason = "cuDNN disabled by SGI_CUDNN=0: convolutions use the built-in CUDA kernels";
    return false;
  }
  // SGI_CUDNN_PATH (a folder) first, then the loader's search path, then the folders where the
  // NVIDIA Python wheels (nvidia-cudnn-cu12/cu13) put the library
  std::vector<std::string> names;
  if (const char* dir = std::getenv("SGI_CUDNN_PATH"); dir && *dir) names.push_back(std::string(dir) + "/libcudnn.so.9");
  for (const char* n : {"libcudnn.so.9", "libcudnn.so.8", "libcudnn.so"}) names.push_back(n);
  for (const char* pattern : {"/usr/local/lib/python3*/dist-packages/nvidia/cudnn/lib/libcudnn.so.9",
                              "/usr/lib/python3*/dist-packages/nvidia/cudnn/lib/libcudnn.so.9",
                              "/opt/*/.venv/lib/python3*/site-packages/nvidia/cudnn/lib/libcudnn.so.9",
                              "/usr/local/lib/python3*/site-packages/nvidia/cudnn/lib/libcudnn.so.9"}) {
    glob_t g{};
    if (glob(pattern, 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) names.push_back(g.gl_pathv[i]);
    globfree(&g);
  }
  std::string tried;
  for (const std::string& n : names) {
    g_lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (g_lib) { g_lib_name = n; break; }
    tried += tried.empty() ? n : ", " + n;
  }
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
  // Optional: math type (cuDNN >= 7), output-shape check, benchmarking search.
  resolve(g_api.SetConvolutionMathType, "cudnnSetConvolutionMathType", nullptr);
  resolve(g_api.GetConvolution2dForwardOutputDim, "cudnnGetConvolution2dForwardOutputDim", nullptr);
  resolve(g_api.FindConvolutionForwardAlgorithm, "cudnnFindConvolutionForwardAlgorithm", nullptr);
  resolve(g_api.FindConvolutionBackwardDataAlgorithm, "cudnnFindConvolutionBackwardDataAlgorithm", nullptr);
  resolve(g_api.FindConvolutionBackwardFilterAlgorithm, "cudnnFindConvolutionBackwardFilterAlgorithm", nullptr);
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

bool cudnn_conv_available() {
#ifdef SGI_CUDA_EMU
  if (emulated_failure()) return true;
#endif
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_handle_tried) return g_handle_ok;
  g_handle_tried = true;
  CudaStatus s = status();  // loads cuDNN once when a device is present
  if (!s.available || !s.cudnn || !g_api.Create) return false;
  cudnnHandle h = nullptr;
  if (g_api.Create(&h) != kStatusSuccess || !h) return false;
  if (g_api.SetStream(h, nullptr) != kStatusSuccess) return false;  // the default stream, like our kernels
  g_handle = h;
  g_handle_ok = true;
  return true;
}

static void require_handle(const char* fn) {
  if (!cudnn_conv_available()) throw std::runtime_error(std::string(fn) + ": cuDNN is not available");
}

void cudnn_conv2d_forward(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                          const float* x, const float* w, float* y) {
  require_handle("cudnn_conv2d_forward");
  std::lock_guard<std::mutex> lock(g_mutex);
  SGI_EMULATED_CUDNN_CALL("cudnnConvolutionForward");
  Plan& p = plan_for(N, C, H, W, K, kh, kw, sh, sw, ph, pw, groups);
  if (!p.fwd.chosen) {
    FindFwdFn q = benchmark() && g_api.FindConvolutionForwardAlgorithm ? g_api.FindConvolutionForwardAlgorithm
                                                                      : g_api.GetConvolutionForwardAlgorithm_v7;
    p.fwd = choose("forward algorithm search",
                   [&](int n, int* c, AlgoPerf* r) { return q(g_handle, p.x, p.w, p.conv, p.y, n, c, r); },
                   [&](int a, size_t* b) { return g_api.GetConvolutionForwardWorkspaceSize(g_handle, p.x, p.w, p.conv, p.y, a, b); });
  }
  set_math(p, p.fwd);
  const float one = 1.f, zero = 0.f;
  void* ws = workspace(p.fwd.bytes);
  check(g_api.ConvolutionForward(g_handle, &one, p.x, x, p.w, w, p.conv, p.fwd.algo, ws, p.fwd.bytes, &zero, p.y, y),
        "cudnnConvolutionForward");
}

void cudnn_conv2d_backward_data(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                                const float* w, const float* gy, float* gx) {
  require_handle("cudnn_conv2d_backward_data");
  std::lock_guard<std::mutex> lock(g_mutex);
  SGI_EMULATED_CUDNN_CALL("cudnnConvolutionBackwardData");
  Plan& p = plan_for(N, C, H, W, K, kh, kw, sh, sw, ph, pw, groups);
  if (!p.bwd_data.chosen) {
    FindBwdDataFn q = benchmark() && g_api.FindConvolutionBackwardDataAlgorithm ? g_api.FindConvolutionBackwardDataAlgorithm
                                                                              : g_api.GetConvolutionBackwardDataAlgorithm_v7;
    p.bwd_data = choose("backward-data algorithm search",
                        [&](int n, int* c, AlgoPerf* r) { return q(g_handle, p.w, p.y, p.conv, p.x, n, c, r); },
                        [&](int a, size_t* b) { return g_api.GetConvolutionBackwardDataWorkspaceSize(g_handle, p.w, p.y, p.conv, p.x, a, b); });
  }
  set_math(p, p.bwd_data);
  const float one = 1.f, zero = 0.f;
  void* ws = workspace(p.bwd_data.bytes);
  check(g_api.ConvolutionBackwardData(g_handle, &one, p.w, w, p.y, gy, p.conv, p.bwd_data.algo, ws, p.bwd_data.bytes, &zero, p.x, gx),
        "cudnnConvolutionBackwardData");
}

void cudnn_conv2d_backward_filter(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                                  const float* x, const float* gy, float* gw) {
  require_handle("cudnn_conv2d_backward_filter");
  std::lock_guard<std::mutex> lock(g_mutex);
  SGI_EMULATED_CUDNN_CALL("cudnnConvolutionBackwardFilter");
  Plan& p = plan_for(N, C, H, W, K, kh, kw, sh, sw, ph, pw, groups);
  if (!p.bwd_filter.chosen) {
    FindBwdFilterFn q = benchmark() && g_api.FindConvolutionBackwardFilterAlgorithm ? g_api.FindConvolutionBackwardFilterAlgorithm
                                                                                  : g_api.GetConvolutionBackwardFilterAlgorithm_v7;
    p.bwd_filter = choose("backward-filter algorithm search",
                          [&](int n, int* c, AlgoPerf* r) { return q(g_handle, p.x, p.y, p.conv, p.w, n, c, r); },
                          [&](int a, size_t* b) { return g_api.GetConvolutionBackwardFilterWorkspaceSize(g_handle, p.x, p.y, p.conv, p.w, a, b); });
  }
  set_math(p, p.bwd_filter);
  const float one = 1.f, zero = 0.f;
  void* ws = workspace(p.bwd_filter.bytes);
  check(g_api.ConvolutionBackwardFilter(g_handle, &one, p.x, x, p.y, gy, p.conv, p.bwd_filter.algo, ws, p.bwd_filter.bytes, &zero, p.w, gw),
        "cudnnConvolutionBackwardFilter");
}

}  // namespace sgi::cuda
