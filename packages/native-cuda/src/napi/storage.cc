#include "napi/storage.h"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>
#include <sys/mman.h>
#include <unistd.h>
#include "common/checked_size.h"

namespace sgi {

MemoryStats& memory_stats() {
  static MemoryStats s;
  return s;
}

// A caching allocator for CPU storages: freed blocks are kept by (rounded) size and handed out
// again, so a training loop that allocates the same shapes every step stops paying for mmap,
// munmap and first-touch page faults (at the paper's batch 4, with a 4 GiB cap, faulting its
// 1024x1024 activations in afresh every step took 15 of 33.5 s). Blocks are rounded to 64 bytes
// (small), 64 KiB (large) or 2 MiB (2 MiB and more: those are 2 MiB-aligned and advised as
// transparent huge pages, 512x fewer faults and TLB entries). The cache is capped (SGI_CPU_CACHE_MB,
// default: half the machine's memory) and emptied oldest-first beyond that; an allocation that
// fails empties it and tries again. On a miss the footprint (live + cached) is kept within the
// largest live total seen so far (for huge blocks): the process holds about its peak of live tensors.
namespace {
constexpr size_t kHuge = size_t(2) << 20;
size_t default_cache_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const size_t half = pages > 0 && page > 0 ? size_t(pages) * size_t(page) / 2 : size_t(4) << 30;
  return std::max(half, size_t(1) << 30);
}
struct CpuCache {
  size_t os_bytes = 0;       // bytes obtained from the system for blocks (live and cached)
  size_t reported_bytes = 0; // what V8 was last told (sync_external_memory)
  std::unordered_map<size_t, std::vector<void*>> free_blocks;
  std::vector<std::pair<size_t, void*>> order;  // insertion order, for eviction
  size_t cached_bytes = 0;
  size_t high_water = 0;  // the largest live + requested bytes seen at a miss (bounds the footprint)
  size_t limit = [] {
    const char* env = std::getenv("SGI_CPU_CACHE_MB");
    return env ? size_t(std::strtoull(env, nullptr, 10)) << 20 : default_cache_limit();
  }();
};
CpuCache& cpu_cache() {
  static CpuCache c;
  return c;
}
size_t round_block(size_t bytes) {
  const size_t big = size_t(64) << 10;
  if (bytes == 0) return 64;
  if (bytes >= kHuge) return (bytes + kHuge - 1) / kHuge * kHuge;
  return bytes >= big ? (bytes + big - 1) / big * big : (bytes + 63) / 64 * 64;
}
// OS memory for one block: blocks under 2 MiB from malloc; huge ones mapped directly, 2 MiB-aligned
// and advised as transparent huge pages, and unmapped when freed (malloc would keep some of them in
// its heap, out of our hands).
void* os_alloc_raw(size_t rounded) {
  if (rounded < kHuge) return std::aligned_alloc(64, rounded);
  const size_t span = rounded + kHuge;
  void* m = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  const uintptr_t start = uintptr_t(m), aligned = (start + kHuge - 1) & ~uintptr_t(kHuge - 1);
  const size_t head = aligned - start, tail = span - head - rounded;
  if (head) munmap(m, head);
  if (tail) munmap(reinterpret_cast<void*>(aligned + rounded), tail);
  madvise(reinterpret_cast<void*>(aligned), rounded, MADV_HUGEPAGE);  // advice: without THP nothing changes
  return reinterpret_cast<void*>(aligned);
}
void* os_alloc(size_t rounded) {
  void* p = os_alloc_raw(rounded);
  if (p) cpu_cache().os_bytes += rounded;
  return p;
}
void os_free(void* p, size_t rounded) {
  if (rounded < kHuge) std::free(p);
  else munmap(p, rounded);
  cpu_cache().os_bytes -= rounded;
}

// Drops the oldest cached block (of at least `min_size` bytes); false when there is none.
bool evict_oldest(CpuCache& c, size_t min_size = 0) {
  size_t at = 0;
  while (at < c.order.size() && c.order[at].first < min_size) ++at;
  if (at == c.order.size()) return false;
  auto [size, q] = c.order[at];
  c.order.erase(c.order.begin() + long(at));
  auto& list = c.free_blocks[size];
  for (size_t i = 0; i < list.size(); ++i) if (list[i] == q) { list.erase(list.begin() + long(i)); break; }
  c.cached_bytes -= size;
  os_free(q, size);
  return true;
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
  // A miss for a huge block: the footprint (live + cached) stays within the largest live total seen
  // at such a miss, cached huge blocks of other sizes going back oldest first, so the process holds
  // about its peak of live tensors, not that plus huge blocks of sizes it no longer asks for. (Small
  // blocks are cheap to keep and churn if evicted: with the rule on every size a tiny training
  // step measured up to 30% slower.)
  if (rounded >= kHuge) {
    const size_t live = memory_stats().cpu_bytes;
    c.high_water = std::max(c.high_water, live + rounded);
    while (live + c.cached_bytes + rounded > c.high_water && evict_oldest(c, kHuge)) {
    }
  }
  void* p = os_alloc(rounded);
  if (!p && c.cached_bytes > 0) {  // out of memory: everything cached goes back, then once more
    empty_cpu_cache();
    p = os_alloc(rounded);
  }
  return p;
}
void cpu_block_free(void* p, size_t rounded) {
  CpuCache& c = cpu_cache();
  if (rounded > c.limit) { os_free(p, rounded); return; }
  c.free_blocks[rounded].push_back(p);
  c.order.emplace_back(rounded, p);
  c.cached_bytes += rounded;
  while (c.cached_bytes > c.limit && evict_oldest(c)) {
  }
}
}  // namespace

size_t cpu_cached_bytes() { return cpu_cache().cached_bytes; }

// V8 is told the CPU bytes the allocator holds from the system (live + cached), not the live bytes:
// a released storage goes to the cache and changes nothing, so a forward pass that allocates and
// releases 300 MB no longer looks like 300 MB of new external memory each time (that started a
// major GC cycle about every 60 ms of an encoder forward). Garbage that is never released still raises the footprint through
// cache misses, and that still prompts the GC to finalise it.
namespace {
void sync_external_memory(Napi::Env env) {
  CpuCache& c = cpu_cache();
  if (!env || c.os_bytes == c.reported_bytes) return;
  Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(c.os_bytes) - int64_t(c.reported_bytes));
  c.reported_bytes = c.os_bytes;
}
}  // namespace

void empty_cpu_cache() {
  CpuCache& c = cpu_cache();
  for (auto& [size, list] : c.free_blocks) for (void* p : list) os_free(p, size);
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
    sync_external_memory(env);
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
    sync_external_memory(env);
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
