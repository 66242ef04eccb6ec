// Prefaulting a large SharedArrayBuffer: its memory made resident in one call,
// in transparent huge pages where the kernel allows (madvise MADV_HUGEPAGE on
// its 2 MiB-aligned interior, then MADV_POPULATE_WRITE on all of it).
//
// Why: a part arena (16 MiB) or an ingress ring (4 MiB) is fresh memory for
// every new publisher, and the kernel faults it in 4 KiB at a time on first
// write: ~5,000 page faults per publisher, each ~10 µs on a VM (perf at one
// 6 Mb/s publisher: faults in the copy into the arena were ~9 % of the
// process's CPU during the arena's first pass, ~20 s). Huge pages alone left
// the unaligned head and tail (~500 faults). Populated up front, the buffer
// costs one call; its memory is resident from creation rather than as it is
// first written (a ring and an arena go round within seconds to minutes).
// Where THP is off ("never") the pages are small, still populated in one call;
// on a kernel without MADV_POPULATE_WRITE (before 5.14) nothing changes.
#include <node_api.h>

#include <cstdint>
#include <sys/mman.h>
#include <unistd.h>

namespace {

constexpr uintptr_t kHugePage = 2 * 1024 * 1024;
constexpr int kPopulateWrite = 23;  // MADV_POPULATE_WRITE (Linux 5.14), not in every libc's headers

// prefault(view: Int32Array over the whole buffer) → bytes made resident (0: the kernel refused)
napi_value Prefault(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value result;
  double populated = 0;
  napi_typedarray_type type;
  size_t length;
  void* data = nullptr;
  napi_value arraybuffer;
  size_t offset;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, &arraybuffer, &offset) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, nullptr, "prefault(view: Int32Array)");
    return nullptr;
  }
  const uintptr_t start = reinterpret_cast<uintptr_t>(data);
  const uintptr_t end = start + length * 4;
  const uintptr_t first = (start + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t last = end & ~(kHugePage - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);  // refused where THP is off: small pages then
  // the pages holding the buffer's first and last bytes are mapped (the buffer lies in them)
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t from = start & ~(page - 1);
  const uintptr_t to = (end + page - 1) & ~(page - 1);
  if (to > from && madvise(reinterpret_cast<void*>(from), to - from, kPopulateWrite) == 0) populated = static_cast<double>(end - start);
  napi_create_double(env, populated, &result);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"prefault", nullptr, Prefault, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, 1, props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
