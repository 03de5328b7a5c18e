#include "napi/registry.h"
#include <cmath>
#include <exception>
#include <new>

namespace sgi {

std::vector<std::pair<std::string, NapiFn>>& napi_functions() {
  static std::vector<std::pair<std::string, NapiFn>> fns;
  return fns;
}
std::vector<std::pair<std::string, NapiFn>>& napi_setting_functions() {
  static std::vector<std::pair<std::string, NapiFn>> fns;
  return fns;
}
NapiRegistration::NapiRegistration(const char* name, NapiFn fn, bool enumerable) {
  (enumerable ? napi_functions() : napi_setting_functions()).emplace_back(name, fn);
}

Napi::Value call_guarded(const Napi::CallbackInfo& info, const char* name, NapiFn body) {
  try {
    return body(info);
  } catch (const Napi::Error&) {
    throw;  // already a JS error with its own message
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), std::string(name) + ": out of memory (a native allocation failed)");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(name) + ": " + e.what());
  } catch (...) {
    throw Napi::Error::New(info.Env(), std::string(name) + ": unknown native exception");
  }
}

namespace {
// A JS number that is an integer a double holds exactly (|v| <= 2^53 - 1); false for NaN, infinities
// and fractions. Converting anything else to int64_t would be undefined behaviour.
bool safe_integer(double v) {
  return std::isfinite(v) && v == std::floor(v) && std::fabs(v) <= double(kMaxNumel);
}
}  // namespace

void Args::fail(const std::string& msg) const {
  throw Napi::TypeError::New(info_.Env(), std::string(fn_) + ": " + msg);
}

Storage* Args::tensor(size_t i, const char* name) const {
  if (i >= info_.Length() || !Storage::Is(info_[i])) fail(std::string("argument '") + name + "' must be a tensor storage");
  Storage* s = Storage::Unwrap(info_[i].As<Napi::Object>());
  if (s->released()) fail(std::string("tensor '") + name + "' was used after it was released");
  return s;
}
Storage* Args::optional_tensor(size_t i, const char* name) const {
  if (i >= info_.Length() || info_[i].IsNull() || info_[i].IsUndefined()) return nullptr;
  return tensor(i, name);
}
int64_t Args::i64(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsNumber()) fail(std::string("argument '") + name + "' must be a number");
  double v = info_[i].As<Napi::Number>().DoubleValue();
  if (!safe_integer(v)) fail(std::string("argument '") + name + "' must be an integer within +-(2^53 - 1), got " + std::to_string(v));
  return int64_t(v);
}
int64_t Args::dim(size_t i, const char* name) const {
  int64_t v = i64(i, name);
  if (v < 0) fail(std::string("argument '") + name + "' must be >= 0, got " + std::to_string(v));
  return v;
}
double Args::f64(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsNumber()) fail(std::string("argument '") + name + "' must be a number");
  return info_[i].As<Napi::Number>().DoubleValue();
}
bool Args::flag(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsBoolean()) fail(std::string("argument '") + name + "' must be a boolean");
  return info_[i].As<Napi::Boolean>().Value();
}
std::vector<int64_t> Args::ints(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsArray()) fail(std::string("argument '") + name + "' must be an array of integers");
  Napi::Array a = info_[i].As<Napi::Array>();
  if (a.Length() > kMaxIntsLength)
    fail(std::string("argument '") + name + "' has " + std::to_string(a.Length()) + " entries (at most " + std::to_string(kMaxIntsLength) + ")");
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a.Get(k);
    if (!v.IsNumber()) fail(std::string("argument '") + name + "' must be an array of integers");
    double d = v.As<Napi::Number>().DoubleValue();
    if (!safe_integer(d))
      fail(std::string("argument '") + name + "' entry " + std::to_string(k) + " must be an integer within +-(2^53 - 1), got " + std::to_string(d));
    out[k] = int64_t(d);
  }
  return out;
}
std::vector<int64_t> Args::ints(size_t i, const char* name, size_t n) const {
  std::vector<int64_t> v = ints(i, name);
  if (v.size() != n) fail(std::string("argument '") + name + "' must have " + std::to_string(n) + " integers");
  return v;
}
std::vector<float> Args::floats(size_t i, const char* name) const {
  if (i >= info_.Length()) fail(std::string("argument '") + name + "' is missing");
  if (info_[i].IsTypedArray()) {
    Napi::Float32Array a = info_[i].As<Napi::Float32Array>();
    return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
  }
  if (!info_[i].IsArray()) fail(std::string("argument '") + name + "' must be an array of numbers");
  Napi::Array a = info_[i].As<Napi::Array>();
  std::vector<float> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) out[k] = a.Get(k).As<Napi::Number>().FloatValue();
  return out;
}
size_t Args::numel(std::initializer_list<int64_t> dims, const char* what) const {
  return numel(std::vector<int64_t>(dims), what);
}
size_t Args::numel(const std::vector<int64_t>& dims, const char* what) const {
  int64_t n = 0;
  if (checked_numel(dims.data(), dims.size(), &n)) return size_t(n);
  for (int64_t d : dims)
    if (d < 0) fail(std::string(what) + " of shape " + dims_str(dims) + " has a negative dimension");
  fail(std::string(what) + " of shape " + dims_str(dims) + " is too large: its element count overflows the limit of 2^53 - 1 elements");
}

float* Args::data(Storage* s, size_t numel, const char* name) const {
  if (!s) return nullptr;
  if (s->numel() != numel)
    fail(std::string("tensor '") + name + "' has " + std::to_string(s->numel()) + " elements, expected " + std::to_string(numel));
  return s->data();
}
Device Args::device(std::initializer_list<Storage*> storages) const {
  bool first = true;
  Device d = Device::CPU;
  for (Storage* s : storages) {
    if (!s) continue;
    if (first) { d = s->device(); first = false; }
    else if (s->device() != d) fail("tensors are on different devices (cpu and cuda); move them to one device first");
  }
  return d;
}

void Args::require_cpu(std::initializer_list<Storage*> storages) const {
  if (device(storages) != Device::CPU) fail("runs on the CPU only (the fused inference path); got cuda tensors");
}

std::string dims_str(std::initializer_list<int64_t> d) { return dims_str(std::vector<int64_t>(d)); }
std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  bool first = true;
  for (int64_t v : d) { s += (first ? "" : ", ") + std::to_string(v); first = false; }
  return s + "]";
}

}  // namespace sgi
