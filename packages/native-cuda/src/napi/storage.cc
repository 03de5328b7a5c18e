#include "napi/storage.h"
#include <cstdlib>
#include <cstring>
#include <string>

namespace sgi {

MemoryStats& memory_stats() {
  static MemoryStats s;
  return s;
}

Napi::FunctionReference Storage::constructor;

Napi::Function Storage::Define(Napi::Env env) {
  Napi::Function f = DefineClass(env, "Storage",
                                 {InstanceMethod("release", &Storage::Release),
                                  InstanceAccessor("numel", &Storage::GetNumel, nullptr),
                                  InstanceAccessor("device", &Storage::GetDevice, nullptr),
                                  InstanceAccessor("released", &Storage::GetReleased, nullptr)});
  constructor = Napi::Persistent(f);
  constructor.SuppressDestruct();
  return f;
}

bool Storage::Is(const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(constructor.Value());
}

// new Storage(numel, device): device 0 = cpu, 1 = cuda. Contents are uninitialised.
Storage::Storage(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Storage>(info) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
    throw Napi::TypeError::New(info.Env(), "Storage(numel, device): numel and device must be numbers");
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (n < 0 || n != double(size_t(n))) throw Napi::RangeError::New(info.Env(), "Storage: numel must be a non-negative integer");
  int dev = info[1].As<Napi::Number>().Int32Value();
  Allocate(info.Env(), size_t(n), dev == 1 ? Device::CUDA : Device::CPU);
}

Napi::Object Storage::Create(Napi::Env env, size_t numel, Device device) {
  return constructor.New({Napi::Number::New(env, double(numel)), Napi::Number::New(env, device == Device::CUDA ? 1 : 0)});
}

void Storage::Allocate(Napi::Env env, size_t numel, Device device) {
  device_ = device;
  numel_ = numel;
  size_t bytes = numel * sizeof(float);
  MemoryStats& m = memory_stats();
  if (device == Device::CUDA) {
    try {
      data_ = numel ? cuda::alloc(numel) : nullptr;
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    m.cuda_bytes += bytes;
    if (m.cuda_bytes > m.cuda_peak) m.cuda_peak = m.cuda_bytes;
  } else {
    size_t rounded = ((bytes + 63) / 64) * 64;
    data_ = static_cast<float*>(std::aligned_alloc(64, rounded ? rounded : 64));
    if (!data_) throw Napi::Error::New(env, "out of memory allocating " + std::to_string(bytes) + " bytes");
    m.cpu_bytes += bytes;
    if (m.cpu_bytes > m.cpu_peak) m.cpu_peak = m.cpu_bytes;
    Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(bytes));
  }
  m.live_storages++;
  m.allocations++;
}

void Storage::Free(Napi::Env env) {
  if (released_) return;
  released_ = true;
  size_t bytes = numel_ * sizeof(float);
  MemoryStats& m = memory_stats();
  if (device_ == Device::CUDA) {
    if (data_) cuda::release(data_);
    m.cuda_bytes -= bytes;
  } else {
    std::free(data_);
    m.cpu_bytes -= bytes;
    if (env) Napi::MemoryManagement::AdjustExternalMemory(env, -int64_t(bytes));
  }
  m.live_storages--;
  data_ = nullptr;
}

Storage::~Storage() { Free(Env()); }

Napi::Value Storage::Release(const Napi::CallbackInfo& info) {
  Free(info.Env());
  return info.Env().Undefined();
}
Napi::Value Storage::GetNumel(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(numel_)); }
Napi::Value Storage::GetDevice(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), device_name(device_)); }
Napi::Value Storage::GetReleased(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), released_); }

}  // namespace sgi
