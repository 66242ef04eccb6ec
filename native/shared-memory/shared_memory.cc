// discard(view: Uint8Array): hands the whole pages inside a view of shared memory back to the
// kernel (madvise MADV_DONTNEED). The pages stay mapped and read as zeros; touching them again
// faults in fresh ones. Used on part arena regions nobody reads any more once their producer
// has moved on (src/stream/part-arena.ts): a SharedArrayBuffer's memory is only returned when
// every thread's garbage collector has let go of it, which V8 does not hurry (it does not count
// shared memory towards its heap limits). Returns the bytes handed back.
#include <node_api.h>

#include <cstdint>

#include <sys/mman.h>
#include <unistd.h>

namespace {

napi_value Discard(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1) {
    napi_throw_type_error(env, nullptr, "discard(view: Uint8Array)");
    return nullptr;
  }
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value arraybuffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, &arraybuffer, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, nullptr, "discard(view: Uint8Array)");
    return nullptr;
  }
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t start = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + length) & ~(page - 1);
  double discarded = 0;
  if (data != nullptr && end > start && madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED) == 0) {
    discarded = static_cast<double>(end - start);
  }
  napi_create_double(env, discarded, &result);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"discard", nullptr, Discard, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
