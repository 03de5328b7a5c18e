#include "napi/registry.h"
#include <cmath>

namespace sgi {

std::vector<std::pair<std::string, NapiFn>>& napi_functions() {
  static std::vector<std::pair<std::string, NapiFn>> fns;
  return fns;
}
NapiRegistration::NapiRegistration(const char* name, NapiFn fn) { napi_functions().emplace_back(name, fn); }

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
  if (v != std::floor(v)) fail(std::string("argument '") + name + "' must be an integer");
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
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a.Get(k);
    if (!v.IsNumber()) fail(std::string("argument '") + name + "' must be an array of integers");
    out[k] = int64_t(v.As<Napi::Number>().DoubleValue());
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

std::string dims_str(std::initializer_list<int64_t> d) {
  std::string s = "[";
  bool first = true;
  for (int64_t v : d) { s += (first ? "" : ", ") + std::to_string(v); first = false; }
  return s + "]";
}

}  // namespace sgi
