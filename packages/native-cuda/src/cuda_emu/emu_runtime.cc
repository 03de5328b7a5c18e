// The CUDA emulator's runtime (see cuda_runtime.h in this folder): the grid scheduler, the
// fibers that run the threads of a block, barriers and warp exchanges, and the runtime API calls
// the backend makes, with device memory as counted host memory (is_device_memory: the check that
// the emulated cuBLAS and cuDNN of ./vendor receive).
#include "cuda_runtime.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#if !defined(__x86_64__)
#error "the CUDA emulator's fibers are written for x86-64"
#endif

// AddressSanitizer (build-emu-asan, SGI_SANITIZE=address) must be told of every fiber switch: it
// keeps the bounds of the stack the thread runs on (for its reports, and for the stack it unpoisons
// when an exception is thrown) and a fake stack per context (detect_stack_use_after_return).
#if defined(__SANITIZE_ADDRESS__)
#define SGI_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SGI_EMU_ASAN 1
#endif
#endif
#ifdef SGI_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace sgi::emu {
struct Fiber;
}
extern "C" void sgi_emu_switch(void** save_sp, void* load_sp);
extern "C" void sgi_emu_fiber_start();
extern "C" void sgi_emu_fiber_main(sgi::emu::Fiber* f);

// A fiber switch saves the callee-saved registers on the current stack, stores the stack pointer
// in *save_sp and resumes the stack at load_sp. (MXCSR and the x87 control word are not switched:
// kernels never change them, and every fiber of an OS thread shares that thread's.) A new fiber's
// stack is prepared so that the first switch to it "returns" into sgi_emu_fiber_start with the
// fiber in r12.
asm(R"(
  .text
  .globl sgi_emu_switch
  .hidden sgi_emu_switch
  .type sgi_emu_switch,@function
sgi_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size sgi_emu_switch, .-sgi_emu_switch

  .globl sgi_emu_fiber_start
  .hidden sgi_emu_fiber_start
  .type sgi_emu_fiber_start,@function
sgi_emu_fiber_start:
  movq %r12, %rdi
  call sgi_emu_fiber_main
  ud2
  .size sgi_emu_fiber_start, .-sgi_emu_fiber_start
)");

namespace sgi::emu {

thread_local const ThreadIndex* current = nullptr;

namespace {

constexpr size_t kStackBytes = 64 * 1024;  // the parity cases use under 4 KiB, with ASan's redzones
constexpr int kWarp = 32;

enum class State { NotStarted, Running, Ready, AtBlockBarrier, AtWarpBarrier, Done };

// The two halves of a fiber switch, for AddressSanitizer (no-ops in other builds): before the
// switch, the stack about to run ([bottom, bottom + size)) and where to keep the fake stack of
// the context being left (null: that context is left for good, its fake stack is freed); after it,
// on the new stack, the fake stack kept for this context (null on a fiber's first entry) and the
// bounds of the stack that was left.
inline void before_switch(void** fake_stack_save, const void* bottom, size_t size) {
#ifdef SGI_EMU_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
  (void)fake_stack_save, (void)bottom, (void)size;
#endif
}
inline void after_switch(void* fake_stack_save, const void** bottom_old, size_t* size_old) {
#ifdef SGI_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
#else
  (void)fake_stack_save, (void)bottom_old, (void)size_old;
#endif
}

// A stack about to be reused from its top, or freed: the frames abandoned on it (a fiber's last
// switch back to the scheduler never returns, nor does a thread stranded at a barrier) never ran
// their epilogues, so ASan's poisoned redzones around their locals stay (measured: every reused
// stack still had some, just below its top) and would be reported as stack errors by frames that
// later occupy those addresses differently. They all lie between the stack pointer saved at the
// fiber's last switch and the top (frames below it returned, unpoisoning themselves, or were
// unwound by an exception, which unpoisons the whole current stack: the fiber's, as ASan knows).
inline void unpoison_stack(char* stack, void* saved_sp) {
#ifdef SGI_EMU_ASAN
  char* from = static_cast<char*>(saved_sp);
  if (from < stack || from > stack + kStackBytes) from = stack;
  ASAN_UNPOISON_MEMORY_REGION(from, size_t(stack + kStackBytes - from));
#else
  (void)stack, (void)saved_sp;
#endif
}

}  // namespace

// A stack that runs threads of the block one after another: a thread that reaches its end
// without waiting hands the fiber to the next thread that has not started, so a block without
// barriers costs one fiber, not one per thread. A thread that waits keeps its fiber until it
// is released.
struct Fiber {
  void* sp = nullptr;
  char* stack = nullptr;         // kStackBytes
  void* fake_stack = nullptr;    // ASan: this fiber's fake stack while it is switched out
};

namespace {

struct Thread {
  ThreadIndex index{};
  int linear = 0;
  State state = State::NotStarted;
  Fiber* fiber = nullptr;  // while it waits at a barrier
};

// Runs the blocks given to one OS thread, one block at a time.
struct BlockRunner {
  void* scheduler_sp = nullptr;
  // ASan: the scheduler's (OS thread's) stack, learnt on entering a fiber, and its fake stack
  const void* scheduler_stack = nullptr;
  size_t scheduler_stack_bytes = 0;
  void* scheduler_fake_stack = nullptr;
  std::vector<Thread> threads;
  std::vector<Fiber*> free_fibers;
  std::vector<uint64_t> slots;  // warp exchange: one slot per thread of the block
  int next = 0;                 // the first thread that has not started
  int done = 0;
  Thread* running = nullptr;
  void (*body)(void*) = nullptr;
  void* closure = nullptr;

  ~BlockRunner() {
    for (Fiber* f : free_fibers) {
      unpoison_stack(f->stack, f->sp);
      std::free(f->stack);
      delete f;
    }
  }

  Fiber* new_fiber() {
    Fiber* f;
    if (!free_fibers.empty()) {
      f = free_fibers.back();
      free_fibers.pop_back();
      unpoison_stack(f->stack, f->sp);
    } else {
      f = new Fiber();
      f->stack = static_cast<char*>(std::aligned_alloc(64, kStackBytes));
      if (!f->stack) throw std::bad_alloc();
    }
    // top: 16-byte aligned address just above the return slot (the ABI's alignment at a call)
    uintptr_t top = (reinterpret_cast<uintptr_t>(f->stack) + kStackBytes - 64) & ~uintptr_t(15);
    uint64_t* sp = reinterpret_cast<uint64_t*>(top);
    *--sp = reinterpret_cast<uint64_t>(&sgi_emu_fiber_start);  // return address
    *--sp = 0;                                                  // rbp
    *--sp = 0;                                                  // rbx
    *--sp = reinterpret_cast<uint64_t>(f);                      // r12: the fiber
    *--sp = 0;                                                  // r13
    *--sp = 0;                                                  // r14
    *--sp = 0;                                                  // r15
    f->sp = sp;
    return f;
  }

  // Inside a fiber: run threads that have not started until one waits (then the fiber stays
  // with it) or none is left (then the fiber returns to the scheduler for good).
  void work(Fiber* f) {
    while (next < int(threads.size())) {
      Thread& t = threads[size_t(next++)];
      t.state = State::Running;
      running = &t;
      current = &t.index;
      body(closure);
      // the thread may have waited and been resumed on this same fiber: it is done now
      t.state = State::Done;
      ++done;
    }
    running = nullptr;
    free_fibers.push_back(f);
    before_switch(nullptr, scheduler_stack, scheduler_stack_bytes);  // this fiber's frames end here
    sgi_emu_switch(&f->sp, scheduler_sp);
  }

  // Inside a fiber, first thing on entering it: ASan learns the scheduler's stack from the switch.
  void entered(Fiber* f) { after_switch(f->fake_stack, &scheduler_stack, &scheduler_stack_bytes); }

  // Inside a fiber: the running thread waits at a barrier; returns when it is released.
  void wait(State at) {
    Thread* t = running;
    Fiber* f = fiber_of_running;
    t->state = at;
    t->fiber = f;
    before_switch(&f->fake_stack, scheduler_stack, scheduler_stack_bytes);
    sgi_emu_switch(&f->sp, scheduler_sp);
    // resumed: the scheduler set running, current and fiber_of_running back to this thread
    entered(f);
  }

  Fiber* fiber_of_running = nullptr;

  void resume(Fiber* f, Thread* t) {
    fiber_of_running = f;
    if (t) {
      running = t;
      current = &t->index;
      t->state = State::Running;
      t->fiber = nullptr;
    }
    before_switch(&scheduler_fake_stack, f->stack, kStackBytes);
    sgi_emu_switch(&scheduler_sp, f->sp);
    after_switch(scheduler_fake_stack, nullptr, nullptr);
  }

  // Returns false when the block cannot finish (threads wait at barriers the others never reach).
  bool run(dim3 grid, dim3 block, uint3 block_idx) {
    const int nx = int(block.x), ny = int(block.y);
    const int n = int(block.x * block.y * block.z);
    threads.resize(size_t(n));
    slots.assign(size_t(n), 0);
    for (int i = 0; i < n; ++i) {
      Thread& t = threads[size_t(i)];
      t.linear = i;
      t.state = State::NotStarted;
      t.fiber = nullptr;
      t.index.thread = uint3{unsigned(i % nx), unsigned(i / nx % ny), unsigned(i / (nx * ny))};
      t.index.block = block_idx;
      t.index.block_dim = block;
      t.index.grid_dim = grid;
    }
    next = 0;
    done = 0;
    while (done < n) {
      bool ran = false;
      // start every thread (a worker fiber runs them back to back until one waits)
      while (next < n) {
        resume(new_fiber(), nullptr);
        ran = true;
      }
      for (Thread& t : threads) {
        if (t.state != State::Ready) continue;
        resume(t.fiber, &t);
        ran = true;
      }
      if (done == n) break;
      // release a barrier that every live thread of its block / warp has reached
      bool released = false;
      bool all_at_block = true;
      for (const Thread& t : threads)
        if (t.state != State::Done && t.state != State::AtBlockBarrier) { all_at_block = false; break; }
      if (all_at_block) {
        for (Thread& t : threads)
          if (t.state == State::AtBlockBarrier) t.state = State::Ready;
        released = true;
      }
      for (int w0 = 0; w0 < n && !released; w0 += kWarp) {
        const int w1 = std::min(n, w0 + kWarp);
        bool waiting = false, all = true;
        for (int i = w0; i < w1; ++i) {
          const State s = threads[size_t(i)].state;
          if (s == State::AtWarpBarrier) waiting = true;
          else if (s != State::Done) all = false;
        }
        if (waiting && all) {
          for (int i = w0; i < w1; ++i)
            if (threads[size_t(i)].state == State::AtWarpBarrier) threads[size_t(i)].state = State::Ready;
          released = true;
        }
      }
      if (!released && !ran) {
        // deadlock: take the stacks back (the stranded threads are never resumed)
        for (Thread& t : threads)
          if (t.fiber) { free_fibers.push_back(t.fiber); t.fiber = nullptr; }
        return false;
      }
    }
    current = nullptr;
    return true;
  }
};

thread_local BlockRunner runner;

// Per host thread, as in CUDA.
thread_local cudaError_t last_error = cudaSuccess;
std::mutex detail_mutex;
std::string failure_detail = "unspecified launch failure";

void set_error(cudaError_t e) {
  if (last_error == cudaSuccess) last_error = e;
}

BlockRunner& active_runner(const char* what) {
  if (!runner.running) {
    std::fprintf(stderr, "sgi CUDA emulator: %s called outside a kernel\n", what);
    std::abort();
  }
  return runner;
}

}  // namespace

void syncthreads() { active_runner("__syncthreads").wait(State::AtBlockBarrier); }

int lane_id() { return active_runner("__shfl_sync").running->linear % kWarp; }

uint64_t warp_exchange(uint64_t bits, int src_lane) {
  BlockRunner& r = active_runner("__shfl_sync");
  const int me = r.running->linear;
  const int base = me - me % kWarp;
  r.slots[size_t(me)] = bits;
  r.wait(State::AtWarpBarrier);  // every live lane has published
  const int src = base + src_lane;
  uint64_t out = bits;
  if (src_lane >= 0 && src_lane < kWarp && src < int(r.threads.size()) && r.threads[size_t(src)].state != State::Done)
    out = r.slots[size_t(src)];
  r.wait(State::AtWarpBarrier);  // every live lane has read before anyone publishes again
  return out;
}

// OS threads that run the blocks of a launch: SGI_CUDA_EMU_THREADS, else OpenMP's default. Tests
// set it above 1 even on a one-core machine, so that blocks really interleave (as on a GPU) and a
// result that depends on their order (a float atomicAdd) shows up.
int grid_threads() {
  static const int n = [] {
    const char* env = std::getenv("SGI_CUDA_EMU_THREADS");
    const int v = env && *env ? std::atoi(env) : 0;
    return v > 0 ? v : omp_get_max_threads();
  }();
  return n;
}

void run_grid(dim3 grid, dim3 block, const char* name, void (*body)(void*), void* closure) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 || block.z > 64 || threads > 1024 ||
      grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    std::lock_guard<std::mutex> lock(detail_mutex);
    failure_detail = std::string("invalid configuration argument (emulator: kernel ") + name + " launched with grid (" +
                     std::to_string(grid.x) + ", " + std::to_string(grid.y) + ", " + std::to_string(grid.z) + ") and block (" +
                     std::to_string(block.x) + ", " + std::to_string(block.y) + ", " + std::to_string(block.z) + "))";
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  const long long total = 1ll * grid.x * grid.y * grid.z;
  // blocks in a shuffled order: i -> (a * i + b) mod total with a coprime to total
  static std::atomic<uint64_t> launches{0};
  uint64_t seed = (launches.fetch_add(1) + 1) * 0x9E3779B97F4A7C15ull;
  seed ^= seed >> 29;
  long long a = total > 1 ? 1 + (long long)(seed % uint64_t(total - 1)) : 1;
  auto gcd = [](long long x, long long y) { while (y) { long long t = x % y; x = y; y = t; } return x; };
  while (gcd(a, total) != 1) a = a % (total - 1) + 1;
  const long long b = total > 0 ? (long long)((seed >> 17) % uint64_t(total)) : 0;
  std::atomic<bool> failed{false};
  std::atomic<long long> failed_block{-1};
#pragma omp parallel for schedule(dynamic, 4) num_threads(grid_threads())
  for (long long i = 0; i < total; ++i) {
    if (failed.load(std::memory_order_relaxed)) continue;
    const long long id = (long long)((__int128)a * i % total + b) % total;
    const uint3 bid{unsigned(id % grid.x), unsigned(id / grid.x % grid.y), unsigned(id / (1ll * grid.x * grid.y))};
    runner.body = body;
    runner.closure = closure;
    if (!runner.run(grid, block, bid)) {
      failed = true;
      failed_block = id;
    }
  }
  current = nullptr;
  if (failed) {
    std::lock_guard<std::mutex> lock(detail_mutex);
    failure_detail = std::string("unspecified launch failure (emulator: in kernel ") + name + ", block " +
                     std::to_string(failed_block.load()) + ", threads wait at a __syncthreads or __shfl_sync that not every live thread of the block or warp reaches)";
    set_error(cudaErrorLaunchFailure);
  }
}

}  // namespace sgi::emu

extern "C" void sgi_emu_fiber_main(sgi::emu::Fiber* f) {
  f->fake_stack = nullptr;  // a fiber's first entry: no fake stack yet
  sgi::emu::runner.entered(f);
  sgi::emu::runner.work(f);
  __builtin_unreachable();
}

// ---- device memory: host memory, counted, with an optional limit ----
namespace {
std::mutex memory_mutex;
std::map<uintptr_t, size_t> allocations;  // start -> bytes
size_t used_bytes = 0;

size_t memory_limit() {
  static const size_t limit = [] {
    const char* env = std::getenv("SGI_CUDA_EMU_MEMORY");
    if (env && *env) return size_t(std::strtoull(env, nullptr, 10));
    return size_t(16) << 30;  // what the emulated device reports as its memory
  }();
  return limit;
}

// True when [p, p + bytes) lies inside one allocation.
bool is_device_range(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(memory_mutex);
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = allocations.upper_bound(a);
  if (it == allocations.begin()) return false;
  --it;
  return a >= it->first && a + bytes <= it->first + it->second;
}

cudaError_t check_copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if ((dst_dev && !is_device_range(dst, bytes)) || (src_dev && !is_device_range(src, bytes)) ||
      (!dst_dev && is_device_range(dst, 1)) || (!src_dev && is_device_range(src, 1)))
    return cudaErrorInvalidValue;
  return cudaSuccess;
}
}  // namespace

bool sgi::emu::is_device_memory(const void* p, size_t bytes) { return is_device_range(p, bytes); }

using sgi::emu::set_error;

cudaError_t cudaGetDeviceCount(int* count) { *count = 1; return cudaSuccess; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return set_error(cudaErrorInvalidValue), cudaErrorInvalidValue;
  std::memset(prop, 0, sizeof(*prop));
  std::snprintf(prop->name, sizeof(prop->name), "sgi CUDA emulator (emulated device on the CPU, blocks on %d threads)",
                sgi::emu::grid_threads());
  prop->totalGlobalMem = memory_limit();
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = sgi::emu::grid_threads();
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) { *version = CUDART_VERSION; return cudaSuccess; }

cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = nullptr;
  {
    std::lock_guard<std::mutex> lock(memory_mutex);
    if (bytes > memory_limit() - used_bytes) return set_error(cudaErrorMemoryAllocation), cudaErrorMemoryAllocation;
    used_bytes += bytes;
  }
#ifdef SGI_EMU_ASAN
  // exactly `bytes`, so that ASan's redzone starts where the buffer ends: an access past the end
  // of a device buffer is reported as the heap-buffer-overflow it is
  const size_t rounded = std::max<size_t>(bytes, 1);
  void* q = nullptr;
  if (posix_memalign(&q, 256, rounded) != 0) q = nullptr;
#else
  const size_t rounded = (std::max<size_t>(bytes, 1) + 255) & ~size_t(255);
  void* q = std::aligned_alloc(256, rounded);
#endif
  if (!q) {
    std::lock_guard<std::mutex> lock(memory_mutex);
    used_bytes -= bytes;
    return set_error(cudaErrorMemoryAllocation), cudaErrorMemoryAllocation;
  }
  std::memset(q, 0xff, rounded);  // device memory is not initialised: reading it before writing gives NaN
  std::lock_guard<std::mutex> lock(memory_mutex);
  allocations[reinterpret_cast<uintptr_t>(q)] = bytes;
  *p = q;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(memory_mutex);
    auto it = allocations.find(reinterpret_cast<uintptr_t>(p));
    if (it == allocations.end()) return set_error(cudaErrorInvalidValue), cudaErrorInvalidValue;
    used_bytes -= it->second;
    allocations.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (cudaError_t e = check_copy(dst, src, bytes, kind)) return set_error(e), e;
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!is_device_range(p, bytes)) return set_error(cudaErrorInvalidValue), cudaErrorInvalidValue;
  std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) { return cudaMemset(p, value, bytes); }
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  std::lock_guard<std::mutex> lock(memory_mutex);
  *total_bytes = memory_limit();
  *free_bytes = memory_limit() - used_bytes;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return sgi::emu::last_error; }  // launches are synchronous
cudaError_t cudaGetLastError() {
  const cudaError_t e = sgi::emu::last_error;
  sgi::emu::last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return sgi::emu::last_error; }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidConfiguration:
    case cudaErrorLaunchFailure: {
      // the detail of the latest failed launch (kept for the life of the process)
      static thread_local std::string copy;
      std::lock_guard<std::mutex> lock(sgi::emu::detail_mutex);
      copy = sgi::emu::failure_detail;
      return copy.c_str();
    }
  }
  return "unknown error";
}
