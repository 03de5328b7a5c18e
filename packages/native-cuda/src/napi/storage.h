// Storage: a float32 buffer owned by the addon, on the CPU or a CUDA device.
// JS holds it as an object; release() frees it at once, the GC finalizer is the safety net.
#pragma once
#include <napi.h>
#include <cstddef>
#include "common/device.h"

namespace sgi {

struct MemoryStats {
  size_t cpu_bytes = 0, cpu_peak = 0, cuda_bytes = 0, cuda_peak = 0;
  size_t live_storages = 0, allocations = 0;
};
MemoryStats& memory_stats();
// Bytes held by the CPU caching allocator for reuse, and a way to give them back to the system.
size_t cpu_cached_bytes();
void empty_cpu_cache();

class Storage : public Napi::ObjectWrap<Storage> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::FunctionReference constructor;
  // Allocates a new storage object from C++ (uninitialised contents).
  static Napi::Object Create(Napi::Env env, size_t numel, Device device);
  static bool Is(const Napi::Value& v);

  explicit Storage(const Napi::CallbackInfo& info);
  ~Storage() override;

  float* data() const { return data_; }
  size_t numel() const { return numel_; }
  Device device() const { return device_; }
  bool released() const { return released_; }

 private:
  void Allocate(Napi::Env env, size_t numel, Device device);
  void Free(Napi::Env env);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value GetNumel(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetReleased(const Napi::CallbackInfo& info);

  float* data_ = nullptr;
  size_t numel_ = 0;
  Device device_ = Device::CPU;
  bool released_ = false;
};

}  // namespace sgi
