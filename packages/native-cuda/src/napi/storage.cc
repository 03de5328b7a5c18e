#include "napi/storage.h"
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>
#include "common/checked_size.h"

namespace sgi {

MemoryStats& memory_stats() {
  static MemoryStats s;
  return s;
}

// A caching allocator for CPU storages: freed blocks are kept by (rounded) size and handed out
// again, so a training loop that allocates the same shapes every step stops paying for mmap,
// munmap and first-touch page faults. Blocks are rounded to 64 bytes (small) or 64 KiB (large);
// the cache is capped (SGI_CPU_CACHE_MB, default 4096) and emptied oldest-first beyond that.
namespace {
struct CpuCache {
  std::unordered_map<size_t, std::vector<void*>> free_blocks;
  std::vector<std::pair<size_t, void*>> order;  // insertion order, for eviction
  size_t cached_bytes = 0;
  size_t limit = [] {
    const char* env = std::getenv("SGI_CPU_CACHE_MB");
    return (env ? size_t(std::strtoull(env, nullptr, 10)) : size_t(4096)) << 20;
  }();
};
CpuCache& cpu_cache() {
  static CpuCache c;
  return c;
}
size_t round_block(size_t bytes) {
  const size_t big = size_t(64) << 10;
  if (bytes == 0) return 64;
  return bytes >= big ? (bytes + big - 1) / big * big : (bytes + 63) / 64 * 64;
}
void* cpu_block_alloc(size_t rounded) {
  CpuCache& c = cpu_cache();
  auto it = c.free_blocks.find(rounded);
  if (it != c.free_blocks.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    c.cached_bytes -= rounded;
    for (size_t i = c.order.size(); i-- > 0;) {
      if (c.order[i].second == p) { c.order.erase(c.order.begin() + long(i)); break; }
    }
    return p;
  }
  return std::aligned_alloc(64, rounded);
}
void cpu_block_free(void* p, size_t rounded) {
  CpuCache& c = cpu_cache();
  if (rounded > c.limit) { std::free(p); return; }
  c.free_blocks[rounded].push_back(p);
  c.order.emplace_back(rounded, p);
  c.cached_bytes += rounded;
  size_t drop = 0;
  while (c.cached_bytes > c.limit && drop < c.order.size()) {
    auto [size, q] = c.order[drop++];
    auto& list = c.free_blocks[size];
    for (size_t i = 0; i < list.size(); ++i) if (list[i] == q) { list.erase(list.begin() + long(i)); break; }
    c.cached_bytes -= size;
    std::free(q);
  }
  if (drop) c.order.erase(c.order.begin(), c.order.begin() + long(drop));
}
}  // namespace

size_t cpu_cached_bytes() { return cpu_cache().cached_bytes; }

void empty_cpu_cache() {
  CpuCache& c = cpu_cache();
  for (auto& [size, list] : c.free_blocks) for (void* p : list) std::free(p);
  c.free_blocks.clear();
  c.order.clear();
  c.cached_bytes = 0;
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

namespace {
// A JS number for messages: integers in full (2^62 prints as 4611686018427387904), others as %g.
std::string number_str(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e21 ? "%.0f" : "%g", v);
  return buf;
}
}  // namespace

// new Storage(numel, device): device 0 = cpu, 1 = cuda. Contents are uninitialised.
Storage::Storage(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Storage>(info) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
    throw Napi::TypeError::New(info.Env(), "Storage(numel, device): numel and device must be numbers");
  double n = info[0].As<Napi::Number>().DoubleValue();
  // Checked as a double before any conversion: casting NaN, infinities or values >= 2^64 to size_t
  // is undefined, and a count above 2^53 - 1 is not even exact in JS.
  if (!(n >= 0) || n != std::floor(n) || n > double(kMaxNumel))
    throw Napi::RangeError::New(info.Env(), "Storage: numel must be an integer between 0 and 2^53 - 1, got " + number_str(n));
  int dev = info[1].As<Napi::Number>().Int32Value();
  Allocate(info.Env(), size_t(n), dev == 1 ? Device::CUDA : Device::CPU);
}

Napi::Object Storage::Create(Napi::Env env, size_t numel, Device device) {
  return constructor.New({Napi::Number::New(env, double(numel)), Napi::Number::New(env, device == Device::CUDA ? 1 : 0)});
}

void Storage::Allocate(Napi::Env env, size_t numel, Device device) {
  // numel * sizeof(float) must not wrap: 2^62 elements would otherwise become a 0-byte block that
  // every kernel then overruns. Checked before numel_ is set, so a refused storage frees nothing.
  size_t bytes = 0;
  if (numel > size_t(kMaxNumel) || !checked_bytes(int64_t(numel), sizeof(float), &bytes))
    throw Napi::RangeError::New(env, "Storage: " + std::to_string(numel) + " float32 elements exceed the largest storage (2^53 - 1 elements)");
  device_ = device;
  numel_ = numel;
  MemoryStats& m = memory_stats();
  if (device == Device::CUDA) {
    try {
      data_ = numel ? cuda::alloc(numel) : nullptr;
    } catch (const std::exception& e) {
      // The runtime's message comes first (callers match on it); the size follows.
      throw Napi::Error::New(env, std::string(e.what()) + " (Storage of " + std::to_string(numel) + " float32 elements, " +
                                      std::to_string(bytes) + " bytes, on cuda)");
    }
    m.cuda_bytes += bytes;
    if (m.cuda_bytes > m.cuda_peak) m.cuda_peak = m.cuda_bytes;
    // Reported to V8 like host bytes: a JS object that holds device memory weighs on the GC's
    // decisions, so unreachable tensors are finalised (and their blocks reused) before the
    // device fills up.
    Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(bytes));
  } else {
    data_ = static_cast<float*>(cpu_block_alloc(round_block(bytes)));
    if (!data_)
      throw Napi::Error::New(env, "Storage: out of memory allocating " + std::to_string(numel) + " float32 elements (" +
                                      std::to_string(bytes) + " bytes) on cpu");
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
    if (data_) cuda::release(data_);  // back to the device cache: no cudaFree, no wait
    m.cuda_bytes -= bytes;
    if (env) Napi::MemoryManagement::AdjustExternalMemory(env, -int64_t(bytes));
  } else {
    cpu_block_free(data_, round_block(bytes));
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
