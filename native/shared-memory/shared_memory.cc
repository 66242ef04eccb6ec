// Huge pages for a large SharedArrayBuffer: asks the kernel to back its
// 2 MiB-aligned interior with transparent huge pages (madvise MADV_HUGEPAGE)
// before anything writes to it.
//
// Why: a part arena (16 MiB) or an ingress ring (4 MiB) is fresh memory for
// every new publisher, and the kernel faults it in 4 KiB at a time as it is
// first written: ~5,000 page faults per publisher, ~10 µs each on a VM (perf
// at one 6 Mb/s publisher: faults in the copy into the arena were ~9 % of the
// process's CPU during the arena's first pass, ~20 s). With the advice the
// interior faults in 2 MiB at a time (perf: 488 faults left in that copy over
// 20 s, the unaligned head and tail). Making the whole buffer resident at
// creation instead (MADV_POPULATE_WRITE) was tried and dropped: eight
// publishers starting at once fell behind real time (0.5-0.65 s against
// 0.3-0.4 s), and resident memory per stream tripled in a 10 s stream.
// Where THP is off ("never") the advice is refused and nothing changes.
#include <node_api.h>

#include <cstdint>
#include <sys/mman.h>

namespace {

constexpr uintptr_t kHugePage = 2 * 1024 * 1024;

// adviseHugePages(view: Int32Array over the whole buffer) → bytes advised (the 2 MiB-aligned
// interior; 0 when there is none or the kernel refused)
napi_value AdviseHugePages(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value result;
  double advised = 0;
  napi_typedarray_type type;
  size_t length;
  void* data = nullptr;
  napi_value arraybuffer;
  size_t offset;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, &arraybuffer, &offset) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, nullptr, "adviseHugePages(view: Int32Array)");
    return nullptr;
  }
  const uintptr_t start = reinterpret_cast<uintptr_t>(data);
  const uintptr_t end = start + length * 4;
  const uintptr_t first = (start + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t last = end & ~(kHugePage - 1);
  if (last > first && madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE) == 0) advised = static_cast<double>(last - first);
  napi_create_double(env, advised, &result);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"adviseHugePages", nullptr, AdviseHugePages, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, 1, props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
