// Module entry: the Storage class, memory/device/thread queries, and every SGI_NAPI function.
#include <napi.h>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include "common/cpu_features.h"
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
  o.Set("cuda", c);
  Napi::Object dist = dist_info(env);
  o.Set("mpi", dist.Get("mpi"));
  o.Set("nccl", dist.Get("nccl"));
  return o;
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
  return exports;
}

}  // namespace sgi

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return sgi::Init(env, exports); }
NODE_API_MODULE(sgi_native, InitModule)
