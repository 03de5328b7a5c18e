// Every native function registers itself here with SGI_NAPI(name) { ... }; addon.cc exports them all.
// Argument helpers give errors that name the function and the argument.
#pragma once
#include <napi.h>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>
#include "common/checked_size.h"
#include "napi/storage.h"

namespace sgi {

using NapiFn = Napi::Value (*)(const Napi::CallbackInfo&);
struct NapiRegistration {
  NapiRegistration(const char* name, NapiFn fn, bool enumerable = true);
};
std::vector<std::pair<std::string, NapiFn>>& napi_functions();
// Functions that set options or report state rather than compute (SGI_NAPI_SETTING): exported as
// non-enumerable properties, so that code walking the addon's exports to find its kernels
// (core/src/cuda_parity.ts kernelsReachedOnCuda) does not count them.
std::vector<std::pair<std::string, NapiFn>>& napi_setting_functions();

// Runs the body of one native function. A C++ exception that is not already a JS error
// (std::bad_alloc from a kernel workspace, std::runtime_error from a CUDA/cuDNN check, ...) would
// otherwise reach std::terminate and abort Node; here it becomes a JS Error naming the function.
Napi::Value call_guarded(const Napi::CallbackInfo& info, const char* name, NapiFn body);

#define SGI_NAPI(name)                                                \
  static Napi::Value name##_body(const Napi::CallbackInfo& info);     \
  static Napi::Value name##_napi(const Napi::CallbackInfo& info) {    \
    return ::sgi::call_guarded(info, #name, name##_body);             \
  }                                                                   \
  static ::sgi::NapiRegistration name##_registration(#name, name##_napi); \
  static Napi::Value name##_body(const Napi::CallbackInfo& info)

#define SGI_NAPI_SETTING(name)                                                \
  static Napi::Value name##_body(const Napi::CallbackInfo& info);             \
  static Napi::Value name##_napi(const Napi::CallbackInfo& info) {            \
    return ::sgi::call_guarded(info, #name, name##_body);                     \
  }                                                                           \
  static ::sgi::NapiRegistration name##_registration(#name, name##_napi, false); \
  static Napi::Value name##_body(const Napi::CallbackInfo& info)

// Reads the arguments of one call: args.tensor(0, "x"), args.i64(3, "stride") ...
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn) : info_(info), fn_(fn) {}
  Storage* tensor(size_t i, const char* name) const;
  Storage* optional_tensor(size_t i, const char* name) const;  // null/undefined -> nullptr
  // An integer within +-(2^53 - 1) (what a JS number holds exactly; NaN and infinities fail).
  int64_t i64(size_t i, const char* name) const;
  // An integer size that must be >= 0.
  int64_t dim(size_t i, const char* name) const;
  double f64(size_t i, const char* name) const;
  bool flag(size_t i, const char* name) const;
  // An array of at most kMaxIntsLength integers, each as i64() checks them.
  std::vector<int64_t> ints(size_t i, const char* name) const;
  // An array of exactly n integers.
  std::vector<int64_t> ints(size_t i, const char* name, size_t n) const;
  std::vector<float> floats(size_t i, const char* name) const;
  // Element count of a shape, overflow-checked: a negative dimension, or a product above
  // kMaxNumel (common/checked_size.h), fails with an error naming `what` and the shape.
  size_t numel(std::initializer_list<int64_t> dims, const char* what) const;
  size_t numel(const std::vector<int64_t>& dims, const char* what) const;
  // Data pointer of a storage that must hold exactly `numel` elements.
  float* data(Storage* s, size_t numel, const char* name) const;
  // The common device of the given storages (nullptrs ignored); mismatches throw.
  Device device(std::initializer_list<Storage*> storages) const;
  // The same, for functions of the CPU's fused inference path: any CUDA storage fails.
  void require_cpu(std::initializer_list<Storage*> storages) const;
  [[noreturn]] void fail(const std::string& msg) const;
  Napi::Env env() const { return info_.Env(); }
  const char* fn() const { return fn_; }

 private:
  const Napi::CallbackInfo& info_;
  const char* fn_;
};

// Integer arrays longer than this are refused (shapes, strides and parameter lists are short);
// reading a huge sparse JS array would otherwise allocate gigabytes before any check.
constexpr uint32_t kMaxIntsLength = 1u << 16;

// "[a, b, c]", for error messages about shapes and sizes.
std::string dims_str(std::initializer_list<int64_t> d);
std::string dims_str(const std::vector<int64_t>& d);

}  // namespace sgi
