// Collectives for data-parallel training: Open MPI for CPU tensors (compiled in when mpi.h is
// found: SGI_WITH_MPI), NCCL for CUDA tensors (libnccl.so.2 loaded at run time with dlopen, as
// cuDNN is; its unique id travels over MPI; one GPU per local rank). Without NCCL, CUDA tensors
// are staged through host memory and reduced by MPI.
//
// No collective blocks forever: MPI calls are non-blocking and polled (sleeping between polls, so
// a waiting rank leaves its core to the others) until SGI_DIST_TIMEOUT seconds have passed; then
// the call throws, naming the collective, and the trainer aborts the job (distAbort). A rank that
// fails aborts the job itself, so the others never wait for it.
//
// JS functions (typed in packages/trainer/src/distributed.ts):
//   distInit(timeoutSeconds) -> {rank, size, localRank}   MPI_Init; picks the GPU of the local rank
//   distAllReduce(storages[], average, bucketBytes)       in place: sum (or mean) over ranks, bucketed
//   distBroadcast(storages[], root)                      in place
//   distBroadcastBytes(Uint8Array | null, root) -> Uint8Array
//   distAbort(code)   distFinalize()
// info().mpi / info().nccl (see distInfo below) say what is compiled and found.
#include <napi.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/device.h"
#include "napi/registry.h"
#include "napi/storage.h"

#ifdef SGI_WITH_MPI
#include <mpi.h>
#endif

namespace sgi {

namespace {

struct Group {
  bool initialized = false;
  int rank = 0, size = 1, local_rank = 0;
  double timeout_s = 600;
};
Group g_group;

[[noreturn]] void no_mpi(const char* fn) {
  throw std::runtime_error(std::string(fn) + ": this build has no MPI (install libopenmpi-dev and rebuild the addon)");
}

void require_group(const char* fn) {
  if (!g_group.initialized) throw std::runtime_error(std::string(fn) + ": call distInit() first (the job was not started as a data-parallel job)");
}

// ---- NCCL, loaded at run time (our own declarations of the few functions used) ----
#if defined(SGI_WITH_MPI) && defined(SGI_WITH_CUDA)
struct NcclId { char internal[128]; };  // ncclUniqueId
using ncclComm = void*;
constexpr int kNcclSuccess = 0, kNcclInProgress = 7, kNcclFloat32 = 7, kNcclSum = 0, kNcclAvg = 4;  // ncclAvg: NCCL >= 2.10
struct NcclApi {
  int (*GetVersion)(int*);
  const char* (*GetErrorString)(int);
  int (*GetUniqueId)(NcclId*);
  int (*CommInitRank)(ncclComm*, int nranks, NcclId id, int rank);
  int (*AllReduce)(const void*, void*, size_t, int type, int op, ncclComm, void* stream);
  int (*Broadcast)(const void*, void*, size_t, int type, int root, ncclComm, void* stream);
  int (*CommGetAsyncError)(ncclComm, int*);
  int (*CommAbort)(ncclComm);
};
NcclApi g_nccl{};
ncclComm g_comm = nullptr;

// Loads libnccl.so.2 once; false (with the reason) when it or one of its functions is missing.
bool nccl_load(std::string* reason) {
  static bool tried = false, ok = false;
  static std::string why;
  if (!tried) {
    tried = true;
    void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      why = std::string("libnccl.so.2 not found (") + dlerror() + ")";
    } else {
      std::string missing;
      auto get = [&](auto& slot, const char* name) {
        slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(dlsym(lib, name));
        if (!slot) missing += (missing.empty() ? "" : ", ") + std::string(name);
      };
      get(g_nccl.GetVersion, "ncclGetVersion");
      get(g_nccl.GetErrorString, "ncclGetErrorString");
      get(g_nccl.GetUniqueId, "ncclGetUniqueId");
      get(g_nccl.CommInitRank, "ncclCommInitRank");
      get(g_nccl.AllReduce, "ncclAllReduce");
      get(g_nccl.Broadcast, "ncclBroadcast");
      get(g_nccl.CommGetAsyncError, "ncclCommGetAsyncError");
      get(g_nccl.CommAbort, "ncclCommAbort");
      ok = missing.empty();
      if (!ok) why = "libnccl.so.2 lacks " + missing;
    }
  }
  if (reason) *reason = why;
  return ok;
}
int nccl_version() {
  int v = 0;
  if (nccl_load(nullptr)) g_nccl.GetVersion(&v);
  return v;
}
void nccl_check(int r, const char* what) {
  if (r != kNcclSuccess && r != kNcclInProgress)
    throw std::runtime_error(std::string("NCCL ") + what + " failed: " + g_nccl.GetErrorString(r) + " (" + std::to_string(r) + ")");
}
#else
bool nccl_load(std::string* reason) {
#ifndef SGI_WITH_CUDA
  if (reason) *reason = "built without CUDA (NCCL reduces CUDA tensors)";
#else
  if (reason) *reason = "built without MPI (NCCL's unique id travels over MPI)";
#endif
  return false;
}
int nccl_version() { return 0; }
#endif

// ---- MPI ----
#ifdef SGI_WITH_MPI
void mpi_check(int err, const char* what) {
  if (err == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(err, text, &len);
  throw std::runtime_error(std::string("MPI ") + what + " failed on rank " + std::to_string(g_group.rank) + ": " + std::string(text, len));
}

// Polls until `poll()` says all is done, or the deadline. poll() returns true when it saw progress
// (a request completed): for a second after the last progress the wait yields its core between
// polls (MPI moves data only inside MPI calls: sleeping would throttle a transfer); past that it
// is waiting for a slower rank and sleeps 1 ms between polls, leaving the core to others.
template <typename Poll>
void wait_until(Poll poll, const std::function<bool()>& done, const char* what) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration<double>(g_group.timeout_s);
  auto last_progress = clock::now();
  while (true) {
    if (poll()) last_progress = clock::now();
    if (done()) return;
    const auto now = clock::now();
    if (now > deadline)
      throw std::runtime_error(std::string(what) + " timed out on rank " + std::to_string(g_group.rank) + " of " +
                               std::to_string(g_group.size) + " after " + std::to_string(int(g_group.timeout_s)) +
                               " s (SGI_DIST_TIMEOUT): another rank failed or is stuck");
    if (now - last_progress < std::chrono::seconds(1)) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}
void wait_all(std::vector<MPI_Request>& reqs, const char* what) {
  std::vector<int> index(reqs.size());
  size_t remaining = reqs.size();
  wait_until([&] {
    int completed = 0;
    mpi_check(MPI_Testsome(int(reqs.size()), reqs.data(), &completed, index.data(), MPI_STATUSES_IGNORE), what);
    if (completed == MPI_UNDEFINED || completed <= 0) return false;
    remaining -= size_t(completed);
    return true;
  }, [&] { return remaining == 0; }, what);
  reqs.clear();
}

// One host buffer, grown on demand, holds the buckets of an all-reduce (and staged CUDA data).
std::vector<float>& host_buffer(size_t n) {
  static std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

// Segments [begin, end) of `total` floats, each at most `bucket` floats.
template <typename Fn>
void for_each_bucket(size_t total, size_t bucket, Fn fn) {
  for (size_t b = 0; b < total; b += bucket) fn(b, std::min(total, b + bucket));
}

size_t total_numel(const std::vector<Storage*>& ts) {
  size_t n = 0;
  for (Storage* s : ts) n += s->numel();
  return n;
}

// Host data: pack -> one MPI_Iallreduce per bucket (all in flight together) -> unpack (scaled).
void allreduce_host(const std::vector<float*>& ptrs, const std::vector<size_t>& sizes, bool average, size_t bucket) {
  size_t total = 0;
  for (size_t n : sizes) total += n;
  std::vector<float>& buf = host_buffer(total);
  for (size_t i = 0, off = 0; i < ptrs.size(); off += sizes[i], ++i) std::memcpy(buf.data() + off, ptrs[i], sizes[i] * sizeof(float));
  std::vector<MPI_Request> reqs;
  for_each_bucket(total, bucket, [&](size_t b, size_t e) {
    reqs.emplace_back();
    mpi_check(MPI_Iallreduce(MPI_IN_PLACE, buf.data() + b, int(e - b), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &reqs.back()), "allreduce");
  });
  wait_all(reqs, "allreduce");
  const float scale = average ? 1.0f / float(g_group.size) : 1.0f;
  for (size_t i = 0, off = 0; i < ptrs.size(); off += sizes[i], ++i) {
    if (average) for (size_t k = 0; k < sizes[i]; ++k) buf[off + k] *= scale;
    std::memcpy(ptrs[i], buf.data() + off, sizes[i] * sizeof(float));
  }
}

void bcast_raw(void* data, size_t bytes, int root) {
  std::vector<MPI_Request> reqs;
  for_each_bucket(bytes, size_t(1) << 30, [&](size_t b, size_t e) {
    reqs.emplace_back();
    mpi_check(MPI_Ibcast(static_cast<char*>(data) + b, int(e - b), MPI_BYTE, root, MPI_COMM_WORLD, &reqs.back()), "broadcast");
  });
  wait_all(reqs, "broadcast");
}

#ifdef SGI_WITH_CUDA
// The NCCL communicator, made on first use by every rank (a collective call): rank 0 makes the id.
bool nccl_ready() {
  if (g_comm) return true;
  if (!nccl_load(nullptr)) return false;
  NcclId id{};
  if (g_group.rank == 0) nccl_check(g_nccl.GetUniqueId(&id), "GetUniqueId");
  bcast_raw(&id, sizeof(id), 0);
  nccl_check(g_nccl.CommInitRank(&g_comm, g_group.size, id, g_group.rank), "CommInitRank");
  return true;
}
// Waits for the NCCL calls queued on the default stream, with the same deadline as MPI.
void nccl_wait(const char* what) {
  try {
    wait_until([&] {
      int async = kNcclSuccess;
      nccl_check(g_nccl.CommGetAsyncError(g_comm, &async), "CommGetAsyncError");
      nccl_check(async, what);
      return false;  // no finer progress to see: spin the first second, then sleep
    }, [] { return cuda::stream_idle(); }, what);
  } catch (...) {
    g_nccl.CommAbort(g_comm);  // frees the GPU from a collective that will never finish
    g_comm = nullptr;
    throw;
  }
}
#endif
#endif  // SGI_WITH_MPI

std::vector<Storage*> storages(const Args& args, const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsArray()) args.fail(std::string("argument '") + name + "' must be an array of tensor storages");
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<Storage*> out;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a.Get(k);
    if (!Storage::Is(v)) args.fail(std::string("argument '") + name + "' entry " + std::to_string(k) + " is not a tensor storage");
    Storage* s = Storage::Unwrap(v.As<Napi::Object>());
    if (s->released()) args.fail(std::string("argument '") + name + "' entry " + std::to_string(k) + " was released");
    out.push_back(s);
  }
  if (!out.empty()) {
    Device d = out[0]->device();
    for (Storage* s : out)
      if (s->device() != d) args.fail(std::string("argument '") + name + "' mixes cpu and cuda tensors");
  }
  return out;
}

}  // namespace

// What info() reports about the collectives (called by addon.cc's info).
Napi::Object dist_info(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Object mpi = Napi::Object::New(env);
#ifdef SGI_WITH_MPI
  mpi.Set("compiled", true);
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string v(version, len);
  mpi.Set("library", v.substr(0, v.find_first_of(",\n")));
  if (g_group.initialized) {
    mpi.Set("rank", g_group.rank);
    mpi.Set("size", g_group.size);
  }
#else
  mpi.Set("compiled", false);
  mpi.Set("reason", "built without MPI (mpi.h not found: install libopenmpi-dev and rebuild)");
#endif
  o.Set("mpi", mpi);
  Napi::Object nccl = Napi::Object::New(env);
  std::string reason;
  const bool found = nccl_load(&reason);
  nccl.Set("found", found);
  if (found) nccl.Set("version", nccl_version());
  else nccl.Set("reason", reason);
  o.Set("nccl", nccl);
  return o;
}

SGI_NAPI(distInit) {
  Args args(info, "distInit");
  double timeout = args.f64(0, "timeoutSeconds");
  if (!(timeout > 0)) args.fail("argument 'timeoutSeconds' must be > 0");
#ifdef SGI_WITH_MPI
  if (!g_group.initialized) {
    // Node loads the addon (and with it libmpi) with RTLD_LOCAL; Open MPI's plugins need libmpi's
    // symbols in the global namespace, so it is promoted before MPI_Init.
    Dl_info where{};
    if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &where) && where.dli_fname)
      dlopen(where.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    int provided = 0;
    int err = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    if (err != MPI_SUCCESS) throw std::runtime_error("MPI_Init failed (error " + std::to_string(err) + ")");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_group.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_group.size);
    MPI_Comm local;
    mpi_check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_group.rank, MPI_INFO_NULL, &local), "Comm_split_type");
    MPI_Comm_rank(local, &g_group.local_rank);
    MPI_Comm_free(&local);
    g_group.initialized = true;
    CudaStatus cs = cuda::status();
    if (cs.available) cuda::set_device(g_group.local_rank % cs.device_count);  // one GPU per local rank
  }
  g_group.timeout_s = timeout;
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("rank", g_group.rank);
  o.Set("size", g_group.size);
  o.Set("localRank", g_group.local_rank);
  return o;
#else
  no_mpi("distInit");
#endif
}

SGI_NAPI(distAllReduce) {
  Args args(info, "distAllReduce");
  std::vector<Storage*> ts = storages(args, info, 0, "storages");
  const bool average = args.flag(1, "average");
  const int64_t bucket_bytes = args.dim(2, "bucketBytes");
  if (bucket_bytes < 4) args.fail("argument 'bucketBytes' must be at least 4");
  require_group("distAllReduce");
#ifdef SGI_WITH_MPI
  const size_t bucket = std::min<size_t>(size_t(bucket_bytes) / sizeof(float), size_t(1) << 30);
  if (ts.empty()) return info.Env().Undefined();
  std::vector<size_t> sizes;
  for (Storage* s : ts) sizes.push_back(s->numel());
  if (ts[0]->device() == Device::CPU) {
    std::vector<float*> ptrs;
    for (Storage* s : ts) ptrs.push_back(s->data());
    allreduce_host(ptrs, sizes, average, bucket);
    return info.Env().Undefined();
  }
#ifdef SGI_WITH_CUDA
  const size_t total = total_numel(ts);
  if (nccl_ready()) {
    // pack into one device buffer, one ncclAllReduce per bucket on the default stream, unpack
    static float* dbuf = nullptr;
    static size_t dcap = 0;
    if (dcap < total) { cuda::release(dbuf); dbuf = cuda::alloc(total); dcap = total; }
    for (size_t i = 0, off = 0; i < ts.size(); off += sizes[i], ++i) cuda::copy_device(dbuf + off, ts[i]->data(), sizes[i]);
    for_each_bucket(total, bucket, [&](size_t b, size_t e) {
      nccl_check(g_nccl.AllReduce(dbuf + b, dbuf + b, e - b, kNcclFloat32, average ? kNcclAvg : kNcclSum, g_comm, nullptr), "AllReduce");
    });
    nccl_wait("allreduce (NCCL)");
    for (size_t i = 0, off = 0; i < ts.size(); off += sizes[i], ++i) cuda::copy_device(ts[i]->data(), dbuf + off, sizes[i]);
    return info.Env().Undefined();
  }
  // no NCCL: stage through host memory and reduce with MPI
  std::vector<float> staged(total);
  std::vector<float*> ptrs;
  for (size_t i = 0, off = 0; i < ts.size(); off += sizes[i], ++i) {
    cuda::copy_to_host(staged.data() + off, ts[i]->data(), sizes[i]);
    ptrs.push_back(staged.data() + off);
  }
  allreduce_host(ptrs, sizes, average, bucket);
  for (size_t i = 0, off = 0; i < ts.size(); off += sizes[i], ++i) cuda::copy_to_device(ts[i]->data(), staged.data() + off, sizes[i]);
  return info.Env().Undefined();
#else
  throw_no_cuda("distAllReduce");
#endif
#else
  (void)average;
  no_mpi("distAllReduce");
#endif
}

SGI_NAPI(distBroadcast) {
  Args args(info, "distBroadcast");
  std::vector<Storage*> ts = storages(args, info, 0, "storages");
  const int64_t root = args.dim(1, "root");
  require_group("distBroadcast");
  if (root >= g_group.size) args.fail("root " + std::to_string(root) + " is not a rank (world size " + std::to_string(g_group.size) + ")");
#ifdef SGI_WITH_MPI
  if (ts.empty()) return info.Env().Undefined();
  if (ts[0]->device() == Device::CPU) {
    for (Storage* s : ts) bcast_raw(s->data(), s->numel() * sizeof(float), int(root));
    return info.Env().Undefined();
  }
#ifdef SGI_WITH_CUDA
  if (nccl_ready()) {
    for (Storage* s : ts) nccl_check(g_nccl.Broadcast(s->data(), s->data(), s->numel(), kNcclFloat32, int(root), g_comm, nullptr), "Broadcast");
    nccl_wait("broadcast (NCCL)");
    return info.Env().Undefined();
  }
  for (Storage* s : ts) {
    std::vector<float> staged(s->numel());
    cuda::copy_to_host(staged.data(), s->data(), s->numel());
    bcast_raw(staged.data(), staged.size() * sizeof(float), int(root));
    cuda::copy_to_device(s->data(), staged.data(), s->numel());
  }
  return info.Env().Undefined();
#else
  throw_no_cuda("distBroadcast");
#endif
#else
  no_mpi("distBroadcast");
#endif
}

// distBroadcastBytes(data, root): root passes its bytes, the others null; every rank gets a copy.
SGI_NAPI(distBroadcastBytes) {
  Args args(info, "distBroadcastBytes");
  const int64_t root = args.dim(1, "root");
  require_group("distBroadcastBytes");
#ifdef SGI_WITH_MPI
  const bool is_root = g_group.rank == root;
  if (is_root && (info.Length() < 1 || !info[0].IsTypedArray())) args.fail("argument 'data' must be a Uint8Array on the root rank");
  uint64_t n = is_root ? info[0].As<Napi::Uint8Array>().ByteLength() : 0;
  bcast_raw(&n, sizeof(n), int(root));
  Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), size_t(n));
  if (is_root) std::memcpy(out.Data(), info[0].As<Napi::Uint8Array>().Data(), size_t(n));
  if (n) bcast_raw(out.Data(), size_t(n), int(root));
  return out;
#else
  (void)root;
  no_mpi("distBroadcastBytes");
#endif
}

// distAbort(code): ends every rank of the job (the launcher reports it); does not return.
SGI_NAPI(distAbort) {
  Args args(info, "distAbort");
  const int64_t code = args.i64(0, "code");
#ifdef SGI_WITH_MPI
  if (g_group.initialized) MPI_Abort(MPI_COMM_WORLD, int(code));
#endif
  std::_Exit(int(code));
}

SGI_NAPI(distFinalize) {
#ifdef SGI_WITH_MPI
  if (g_group.initialized) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
#endif
  return info.Env().Undefined();
}

}  // namespace sgi
