// Module entry: the Storage class, memory/device/thread queries, the CUDA options and vendor-library
// state (setCudaOptions, cudaLibraries: non-enumerable exports, see SGI_NAPI_SETTING in
// registry.h), and every SGI_NAPI function.
#include <napi.h>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include "common/cpu_features.h"
#include "common/kernels/gemm.h"
#include "common/parallel.h"
#include "napi/registry.h"
#include "napi/storage.h"

namespace sgi {

Napi::Object dist_info(Napi::Env env);  // napi/collectives.cc: MPI and NCCL

// fromArray(Float32Array, device) -> Storage (a copy)
SGI_NAPI(fromArray) {
  Args args(info, "fromArray");
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    args.fail("argument 'data' must be a Float32Array");
  Napi::Float32Array a = info[0].As<Napi::Float32Array>();
  Device dev = args.i64(1, "device") == 1 ? Device::CUDA : Device::CPU;
  Napi::Object obj = Storage::Create(info.Env(), a.ElementLength(), dev);
  Storage* s = Storage::Unwrap(obj);
  if (a.ElementLength() == 0) return obj;
  if (dev == Device::CUDA) cuda::copy_to_device(s->data(), a.Data(), a.ElementLength());
  else std::memcpy(s->data(), a.Data(), a.ElementLength() * sizeof(float));
  return obj;
}

// toArray(storage) -> Float32Array (a copy on the host)
SGI_NAPI(toArray) {
  Args args(info, "toArray");
  Storage* s = args.tensor(0, "storage");
  Napi::Float32Array out = Napi::Float32Array::New(info.Env(), s->numel());
  if (s->numel() == 0) return out;
  if (s->device() == Device::CUDA) cuda::copy_to_host(out.Data(), s->data(), s->numel());
  else std::memcpy(out.Data(), s->data(), s->numel() * sizeof(float));
  return out;
}

// copyInto(dst, src): same element count; host<->device transfers included.
SGI_NAPI(copyInto) {
  Args args(info, "copyInto");
  Storage* dst = args.tensor(0, "dst");
  Storage* src = args.tensor(1, "src");
  if (dst->numel() != src->numel()) args.fail("dst and src have different element counts");
  size_t n = src->numel();
  if (n == 0) return info.Env().Undefined();
  if (dst->device() == Device::CPU && src->device() == Device::CPU) std::memcpy(dst->data(), src->data(), n * sizeof(float));
  else if (dst->device() == Device::CUDA && src->device() == Device::CPU) cuda::copy_to_device(dst->data(), src->data(), n);
  else if (dst->device() == Device::CPU && src->device() == Device::CUDA) cuda::copy_to_host(dst->data(), src->data(), n);
  else cuda::copy_device(dst->data(), src->data(), n);
  return info.Env().Undefined();
}

SGI_NAPI(memory) {
  MemoryStats& m = memory_stats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("cpuBytes", double(m.cpu_bytes));
  o.Set("cpuPeakBytes", double(m.cpu_peak));
  o.Set("cudaBytes", double(m.cuda_bytes));
  o.Set("cudaPeakBytes", double(m.cuda_peak));
  o.Set("liveStorages", double(m.live_storages));
  o.Set("allocations", double(m.allocations));
  o.Set("cpuCachedBytes", double(cpu_cached_bytes()));
  o.Set("cudaCachedBytes", double(cuda::cached_bytes()));
  return o;
}

SGI_NAPI(emptyCache) {
  empty_cpu_cache();
  cuda::empty_cache();
  return info.Env().Undefined();
}

SGI_NAPI(resetPeakMemory) {
  MemoryStats& m = memory_stats();
  m.cpu_peak = m.cpu_bytes;
  m.cuda_peak = m.cuda_bytes;
  return info.Env().Undefined();
}

SGI_NAPI(info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("isa", cpu_isa());
  cpu.Set("threads", num_threads());
  cpu.Set("bf16", cpu::bf16_supported());  // AVX-512 BF16: native.precision('bf16') is available
  o.Set("cpu", cpu);
  CudaStatus st = cuda::status();
  Napi::Object c = Napi::Object::New(env);
  c.Set("compiled", st.compiled);
  c.Set("available", st.available);
  c.Set("deviceCount", st.device_count);
  if (!st.device_name.empty()) c.Set("deviceName", st.device_name);
  if (!st.reason.empty()) c.Set("reason", st.reason);
  c.Set("cudnn", st.cudnn);
  if (!st.cudnn_reason.empty()) c.Set("cudnnReason", st.cudnn_reason);
  if (!st.cudnn_library.empty()) c.Set("cudnnLibrary", st.cudnn_library);
  c.Set("cublas", st.cublas);
  if (!st.cublas_reason.empty()) c.Set("cublasReason", st.cublas_reason);
  if (!st.cublas_library.empty()) c.Set("cublasLibrary", st.cublas_library);
  o.Set("cuda", c);
  Napi::Object dist = dist_info(env);
  o.Set("mpi", dist.Get("mpi"));
  o.Set("nccl", dist.Get("nccl"));
  return o;
}

namespace {
Napi::Object options_object(Napi::Env env, const CudaOptions& o) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("deterministic", o.deterministic);
  out.Set("tf32", o.tf32);
  return out;
}
}  // namespace

// setCudaOptions({ deterministic?, tf32? }) -> the options in force after the call (no argument:
// just read them). Process-wide; a change drops the cuDNN algorithms cached per convolution shape
// and sets cuBLAS's math and atomics modes (common/device.h CudaOptions).
SGI_NAPI_SETTING(setCudaOptions) {
  Args args(info, "setCudaOptions");
  CudaOptions o = cuda::options();
  if (info.Length() >= 1 && !info[0].IsUndefined()) {
    if (!info[0].IsObject() || info[0].IsArray() || info[0].IsNull()) args.fail("argument 'options' must be an object { deterministic?, tf32? }");
    Napi::Object given = info[0].As<Napi::Object>();
    Napi::Array keys = given.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      const std::string key = keys.Get(i).ToString().Utf8Value();
      Napi::Value v = given.Get(key);
      if (v.IsUndefined()) continue;
      if (key != "deterministic" && key != "tf32") args.fail("unknown option '" + key + "' (deterministic, tf32)");
      if (!v.IsBoolean()) args.fail("option '" + key + "' must be a boolean");
      (key == "deterministic" ? o.deterministic : o.tf32) = v.As<Napi::Boolean>().Value();
    }
    cuda::set_options(o);
  }
  return options_object(info.Env(), cuda::options());
}

// cudaLibraries() -> what cuBLAS and cuDNN are doing: versions, cuBLAS's modes and GEMM count,
// cuDNN's call counts and, per cached convolution shape, the algorithm chosen for each pass.
SGI_NAPI_SETTING(cudaLibraries) {
  Napi::Env env = info.Env();
  const CudaStatus st = cuda::status();
  const CudaLibrariesInfo li = cuda::libraries_info();
  Napi::Object out = Napi::Object::New(env);
  Napi::Object cublas = Napi::Object::New(env);
  cublas.Set("loaded", st.cublas);
  cublas.Set("version", double(li.cublas_version));
  cublas.Set("mathMode", li.cublas_math_mode);
  cublas.Set("atomicsMode", li.cublas_atomics_mode);
  cublas.Set("gemmCalls", double(li.cublas_gemm_calls));
  out.Set("cublas", cublas);
  Napi::Object cudnn = Napi::Object::New(env);
  cudnn.Set("loaded", st.cudnn);
  cudnn.Set("version", double(li.cudnn_version));
  Napi::Object calls = Napi::Object::New(env);
  calls.Set("forward", double(li.cudnn_forward_calls));
  calls.Set("backwardData", double(li.cudnn_backward_data_calls));
  calls.Set("backwardFilter", double(li.cudnn_backward_filter_calls));
  cudnn.Set("calls", calls);
  const auto algo = [&](const CudnnAlgoInfo& a) -> Napi::Value {
    if (!a.chosen) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("algo", a.algo);
    o.Set("deterministic", a.deterministic);
    o.Set("mathType", a.math_type);
    o.Set("workspaceBytes", double(a.workspace_bytes));
    return o;
  };
  Napi::Array plans = Napi::Array::New(env, li.cudnn_plans.size());
  for (size_t i = 0; i < li.cudnn_plans.size(); ++i) {
    const CudnnPlanInfo& p = li.cudnn_plans[i];
    Napi::Object o = Napi::Object::New(env);
    Napi::Array shape = Napi::Array::New(env, p.shape.size());
    for (size_t k = 0; k < p.shape.size(); ++k) shape.Set(uint32_t(k), p.shape[k]);
    o.Set("shape", shape);
    o.Set("forward", algo(p.forward));
    o.Set("backwardData", algo(p.backward_data));
    o.Set("backwardFilter", algo(p.backward_filter));
    plans.Set(uint32_t(i), o);
  }
  cudnn.Set("plans", plans);
  out.Set("cudnn", cudnn);
  return out;
}

SGI_NAPI(setNumThreads) {
  Args args(info, "setNumThreads");
  set_num_threads(int(args.i64(0, "threads")));
  return info.Env().Undefined();
}

SGI_NAPI(synchronize) {
  if (cuda::status().available) cuda::synchronize();
  return info.Env().Undefined();
}

// debugThrow(kind): throws a C++ exception of `kind` ('bad_alloc', 'runtime_error' or anything else
// for a non-std exception) from inside a native function, as a failing allocation or CUDA check
// would; 'cuda_launch' makes a real failing kernel launch on the CUDA device. Tests use it to
// check that such exceptions reach JS as Errors instead of aborting Node.
SGI_NAPI(debugThrow) {
  Args args(info, "debugThrow");
  if (info.Length() < 1 || !info[0].IsString()) args.fail("argument 'kind' must be a string");
  const std::string kind = info[0].As<Napi::String>().Utf8Value();
  if (kind == "bad_alloc") throw std::bad_alloc();
  if (kind == "runtime_error") throw std::runtime_error("CUDA error: out of memory (simulated by debugThrow)");
  if (kind == "cuda_launch") { cuda::debug_bad_launch(); return info.Env().Undefined(); }
  throw 42;  // not a std::exception at all
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Storage", Storage::Define(env));
  for (auto& [name, fn] : napi_functions()) exports.Set(name, Napi::Function::New(env, fn, name));
  for (auto& [name, fn] : napi_setting_functions())
    exports.DefineProperty(Napi::PropertyDescriptor::Value(name, Napi::Function::New(env, fn, name),
                                                           static_cast<napi_property_attributes>(napi_writable | napi_configurable)));
  return exports;
}

}  // namespace sgi

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return sgi::Init(env, exports); }
NODE_API_MODULE(sgi_native, InitModule)
