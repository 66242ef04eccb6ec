// Native ingress reader: one thread of its own reads every RTMP publisher's
// socket straight into that connection's shared ingress ring (the ByteRing
// layout of src/stream/byte-ring.ts, records carrying the receive time as
// the ingest path expects), so no socket byte passes through a JavaScript
// thread. The JavaScript fallback (src/ingest/rtmp-ingest-server.ts, socket
// 'data' events copied into the same ring) writes byte-identical records.
//
// Why: measured on the main thread, a socket read in Node costs a fresh
// 64 KiB Buffer, the stream machinery (push, addChunk, emit) and a copy into
// the ring, per read; this thread reads with recvmsg() into the ring, paced so
// that one wake-up serves every publisher with bytes waiting.
//
// While a publisher's media flows its worker claims the socket and reads it
// itself at its own looks (readClaimed(), on the worker thread, under the
// same mutex), so media costs this thread no wake-ups: a claimed socket wakes
// it only when the worker falls behind (SO_RCVLOWAT: that many bytes waiting)
// or at EOF. Measured at one 6 Mb/s publisher: this thread woke 25 times a
// second (a third of the process's wake-ups) to read bytes that then waited
// in the ring for the worker's next look anyway.
//
// Every record is stamped with when its bytes arrived (estimated from the
// kernel's receive times, see drain()), not the time of the read: bytes a
// claimed socket holds until the worker's look still count their wait in the
// ingest-latency and segment-generation metrics.
//
// Safety: the thread reads a dup() of the socket's descriptor, so Node
// closing its own descriptor can never make this thread read a descriptor
// number reused by another connection; detach() (on the JS thread) returns
// only once this thread no longer touches the connection or its ring, and a
// worker's readClaimed() after it finds no connection.
#include <node_api.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

// ByteRing header words (src/stream/byte-ring.ts)
constexpr int kWritePos = 0;
constexpr int kNotifySeq = 1;
constexpr int kCapacity = 3;
constexpr int kMagic = 4;
constexpr int kReaderWaiting = 7;
constexpr int kReadPos = 16;
constexpr size_t kHeaderBytes = 128;
constexpr int32_t kMagicValue = 0x4e524247;
constexpr uint32_t kPrefixBytes = 4;
constexpr uint32_t kReceivedAtBytes = 8;
// the JavaScript path writes at most one socket read (64 KiB) per record
constexpr uint32_t kMaxRead = 64 * 1024;
// below this much free space the ring counts as full: reading a few bytes at a time would only burn wake-ups
constexpr uint32_t kMinRead = 4096;
// reads per connection per round, so one publisher cannot starve the others
constexpr int kReadsPerRound = 16;
// A worker reads its claimed socket in smaller pieces: a record has one arrival stamp (see drain()),
// so a piece spans at most ~20 ms of a 6 Mb/s stream (~3 ms at 50 Mb/s).
constexpr uint32_t kClaimedMaxRead = 16 * 1024;
// and at most this much per look, so one publisher's backlog cannot hold up the others on its thread
constexpr uint32_t kClaimedMaxPerCall = 1024 * 1024;
// Past this many bytes a connection carries media: handshake (3 KiB) and commands come before it.
constexpr uint64_t kStreamingBytes = 64 * 1024;

enum EventKind : int32_t { kWake = 0, kClosed = 1 };

struct Connection {
  int32_t id;
  int fd;  // our dup
  int32_t* header;
  uint8_t* data;
  uint32_t capacity;
  int32_t* control;
  int32_t producerPausedIndex;
  int32_t socketClosedIndex;
  napi_ref ringRef;
  napi_ref controlRef;
  bool armed;
  bool closed;
  // a worker reads the socket at its looks; this thread only when SO_RCVLOWAT bytes wait, or at EOF
  bool claimed;
  uint64_t bytesRead;
  // when a read last found the socket empty (epoch ms; 0 before): the bytes read next came after it
  double emptiedAt;
};

struct Event {
  int32_t id;
  int32_t kind;
  int32_t error;
};

struct Reader {
  int epoll = -1;
  std::thread thread;
  std::mutex mutex;
  std::unordered_map<int32_t, Connection*> connections;
  napi_threadsafe_function events = nullptr;
  int pacingMs = 5;
  // socket reads that returned bytes, by who read: this thread, or a worker on a claimed socket
  std::atomic<uint64_t> readerReads{0};
  std::atomic<uint64_t> workerReads{0};
};

Reader* reader = nullptr;

inline int32_t load(int32_t* word) { return __atomic_load_n(word, __ATOMIC_SEQ_CST); }
inline void store(int32_t* word, int32_t value) { __atomic_store_n(word, value, __ATOMIC_SEQ_CST); }

double nowEpochMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1000.0 + static_cast<double>(ts.tv_nsec) / 1e6;
}

void post(int32_t id, int32_t kind, int32_t error) {
  auto* event = new Event{id, kind, error};
  if (napi_call_threadsafe_function(reader->events, event, napi_tsfn_nonblocking) != napi_ok) delete event;
}

// Sets the events epoll reports for the connection; the kernel checks readiness again on the change.
void watch(Connection* c, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = static_cast<uint64_t>(static_cast<uint32_t>(c->id));
  epoll_ctl(reader->epoll, EPOLL_CTL_MOD, c->fd, &ev);
}

void setArmed(Connection* c, bool armed) {
  if (c->armed == armed || c->closed) return;
  watch(c, armed ? (EPOLLIN | EPOLLRDHUP) : 0);
  c->armed = armed;
}

// Copies `length` bytes into the data area at `index`, wrapping at the end.
void writeWrapped(Connection* c, uint32_t index, const uint8_t* bytes, uint32_t length) {
  uint32_t room = c->capacity - index;
  if (length <= room) {
    std::memcpy(c->data + index, bytes, length);
  } else {
    std::memcpy(c->data + index, bytes, room);
    std::memcpy(c->data, bytes + room, length - room);
  }
}

// The kernel's receive time of the newest data recvmsg() read (SO_TIMESTAMPNS), else `now`. TCP
// merges segments queued on a socket and keeps the newest one's time: for bytes that waited,
// this is when the last of them came, not the first.
double newestArrivalMs(msghdr* msg, double now) {
  for (cmsghdr* cm = CMSG_FIRSTHDR(msg); cm != nullptr; cm = CMSG_NXTHDR(msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS) continue;
    timespec ts;
    std::memcpy(&ts, CMSG_DATA(cm), sizeof ts);
    const double at = static_cast<double>(ts.tv_sec) * 1000.0 + static_cast<double>(ts.tv_nsec) / 1e6;
    // no stamp (0), or one from a clock step: the time of the read is the better guess
    return at > 0 && at <= now && at > now - 60'000 ? at : now;
  }
  return now;
}

// the most records one drain() writes (the worker's 1 MiB in 16 KiB pieces)
constexpr int kMaxPieces = static_cast<int>(kClaimedMaxPerCall / kClaimedMaxRead);
static_assert(kMaxPieces >= kReadsPerRound, "a drain by this thread fits too");

// Reads what the socket has into the ring. Returns whether the consumer must be woken.
// byWorker: a worker reading its claimed socket at a look (it reads the ring next, so a full
// ring only ends this call); else this thread, which stops reading a full ring until resume().
//
// Each record is stamped with an estimate of when its last byte arrived: the bytes read here came
// between the time the socket was last found empty and the newest receive time the kernel gives
// (a publisher sends at a steady rate), so the stamps are spread over that span by byte count.
// A record stamped when it was read would hide the time bytes waited in a claimed socket; one
// stamped with the kernel's time alone would give them all the newest byte's time.
bool drain(Connection* c, bool byWorker) {
  const uint32_t capacity = c->capacity;
  const int32_t limit = static_cast<int32_t>(capacity * 2);
  const uint32_t pieceMax = byWorker ? kClaimedMaxRead : kMaxRead;
  const int maxPieces = byWorker ? kMaxPieces : kReadsPerRound;
  uint32_t stampIndex[kMaxPieces];
  uint32_t pieceEnd[kMaxPieces];  // bytes read this call up to the end of each piece
  int pieces = 0;
  uint32_t total = 0;
  double newest = 0;
  int32_t writePos = load(c->header + kWritePos);
  bool emptied = false;
  bool stop = false;  // closed, or this thread paused on a full ring
  while (pieces < maxPieces) {
    int32_t used = writePos - load(c->header + kReadPos);
    if (used < 0) used += limit;
    const uint32_t free = capacity - static_cast<uint32_t>(used);
    if (free < kPrefixBytes + kReceivedAtBytes + kMinRead) {
      if (!byWorker) {
        // full: stop reading (TCP pushes back on the encoder) until the worker has drained and main calls resume()
        store(c->control + c->producerPausedIndex, 1);
        setArmed(c, false);
        stop = true;
      }
      break;
    }
    uint32_t maxRead = ((free - kPrefixBytes) & ~3u) - kReceivedAtBytes;
    if (maxRead > pieceMax) maxRead = pieceMax;

    uint32_t index = static_cast<uint32_t>(writePos >= static_cast<int32_t>(capacity) ? writePos - capacity : writePos);
    const uint32_t prefixIndex = index;
    index += kPrefixBytes;
    if (index == capacity) index = 0;
    const uint32_t stampAt = index;
    index = (index + kReceivedAtBytes) % capacity;

    iovec iov[2];
    int iovcnt = 1;
    const uint32_t room = capacity - index;
    if (maxRead <= room) {
      iov[0] = {c->data + index, maxRead};
    } else {
      iov[0] = {c->data + index, room};
      iov[1] = {c->data, maxRead - room};
      iovcnt = 2;
    }
    alignas(cmsghdr) char cmsgBuffer[CMSG_SPACE(sizeof(timespec)) + 64];
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(iovcnt);
    msg.msg_control = cmsgBuffer;
    msg.msg_controllen = sizeof cmsgBuffer;
    ssize_t n = recvmsg(c->fd, &msg, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      emptied = true;
      break;
    }
    if (n <= 0) {
      c->closed = true;
      epoll_ctl(reader->epoll, EPOLL_CTL_DEL, c->fd, nullptr);
      store(c->control + c->socketClosedIndex, 1);
      post(c->id, kClosed, n == 0 ? 0 : errno);
      stop = true;
      break;
    }
    const double arrival = newestArrivalMs(&msg, nowEpochMs());
    if (arrival > newest) newest = arrival;
    const uint32_t length = kReceivedAtBytes + static_cast<uint32_t>(n);
    reinterpret_cast<uint32_t*>(c->data)[prefixIndex >> 2] = length;
    writePos += static_cast<int32_t>(kPrefixBytes + ((length + 3) & ~3u));
    if (writePos >= limit) writePos -= limit;
    total += static_cast<uint32_t>(n);
    stampIndex[pieces] = stampAt;
    pieceEnd[pieces] = total;
    pieces++;
    c->bytesRead += static_cast<uint64_t>(n);
    (byWorker ? reader->workerReads : reader->readerReads).fetch_add(1, std::memory_order_relaxed);
    if (static_cast<uint32_t>(n) < maxRead) {
      emptied = true;  // the socket is drained for now
      break;
    }
  }
  if (pieces > 0) {
    // the bytes came after the socket was last found empty (unknown before its first read)
    const double since = c->emptiedAt > 0 && c->emptiedAt < newest ? c->emptiedAt : newest;
    for (int i = 0; i < pieces; i++) {
      const double receivedAt = since + (newest - since) * (static_cast<double>(pieceEnd[i]) / static_cast<double>(total));
      uint8_t stamp[kReceivedAtBytes];
      std::memcpy(stamp, &receivedAt, sizeof stamp);  // little-endian float64, as DataView.setFloat64(…, true) on x86/arm
      writeWrapped(c, stampIndex[i], stamp, kReceivedAtBytes);
    }
    // published once: the consumer sees whole records with their stamps
    store(c->header + kWritePos, writePos);
    __atomic_add_fetch(c->header + kNotifySeq, 1, __ATOMIC_SEQ_CST);
  }
  if (emptied) c->emptiedAt = nowEpochMs();
  return pieces > 0 || stop;
}

void run() {
  // named, so `top -H` and the benchmarks' per-thread CPU can tell it from Node's own threads
  pthread_setname_np(pthread_self(), "nova-ingress");
  epoll_event events[64];
  int32_t toWake[256];
  for (;;) {
    // No timeout: every change this thread must act on (a socket readable, a connection attached, resumed or
    // released) arrives through epoll, and the thread lives as long as the process. A timeout only woke it for
    // nothing (twice a second, idle or not: on the benchmark VM each wake-up costs ~0.1 ms of CPU).
    int n = epoll_wait(reader->epoll, events, 64, -1);
    int wakes = 0;
    bool mediaRead = false;
    bool commandsRead = false;
    {
      std::lock_guard<std::mutex> lock(reader->mutex);
      for (int i = 0; i < n; i++) {
        auto found = reader->connections.find(static_cast<int32_t>(events[i].data.u64));
        if (found == reader->connections.end()) continue;
        Connection* c = found->second;
        if (c->closed) continue;
        // Only a consumer that said it sleeps needs a cross-thread wake (see ByteRing.notify); one that polls sees the position move.
        if (drain(c, false) && !c->closed && load(c->header + kReaderWaiting) == 1 && wakes < 256) toWake[wakes++] = c->id;
        if (c->bytesRead >= kStreamingBytes) mediaRead = true;
        else commandsRead = true;
      }
    }
    for (int i = 0; i < wakes; i++) post(toWake[i], kWake, 0);
    // Pacing: whatever arrives in the next few ms is read in one round for every publisher. Only
    // under media flow: handshake and command bytes are round trips a publisher waits on, so a round
    // that read any is not paced (else a publisher connecting beside live ones waits a pacing period
    // per round trip). Media comes in bursts (a video frame, then an audio frame alone): a round that
    // read only media connections sleeps however few bytes it found, or the small rounds between
    // frames would each be a wake-up of their own (measured: 72 rounds/s for one 6 Mb/s publisher,
    // 30 of them paced).
    if (mediaRead && !commandsRead && reader->pacingMs > 0) usleep(static_cast<useconds_t>(reader->pacingMs) * 1000);
  }
}

void callJs(napi_env env, napi_value callback, void*, void* data) {
  auto* event = static_cast<Event*>(data);
  if (env != nullptr && callback != nullptr) {
    napi_value argv[3];
    napi_create_int32(env, event->id, &argv[0]);
    napi_create_int32(env, event->kind, &argv[1]);
    napi_create_int32(env, event->error, &argv[2]);
    napi_value global;
    napi_get_global(env, &global);
    napi_call_function(env, global, callback, 3, argv, nullptr);
  }
  delete event;
}

#define CHECK(call)                                   \
  do {                                                \
    if ((call) != napi_ok) {                          \
      napi_throw_error(env, nullptr, #call " failed"); \
      return nullptr;                                 \
    }                                                 \
  } while (0)

napi_value fail(napi_env env, const char* message) {
  napi_throw_error(env, "NOVA_ERR_INTERNAL", message);
  return nullptr;
}

// start(onEvent(id, kind, errno), pacingMs): once per process
napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (reader != nullptr) return fail(env, "the native ingress reader is already started");
  int32_t pacing = 5;
  if (argc > 1) napi_get_value_int32(env, argv[1], &pacing);
  reader = new Reader();
  reader->pacingMs = pacing;
  reader->epoll = epoll_create1(EPOLL_CLOEXEC);
  if (reader->epoll < 0) return fail(env, "epoll_create1 failed");
  napi_value name;
  CHECK(napi_create_string_utf8(env, "nova-ingress-reader", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[0], nullptr, name, 0, 1, nullptr, nullptr, nullptr, callJs, &reader->events));
  // Events matter only while connections exist, and those keep the process alive themselves.
  CHECK(napi_unref_threadsafe_function(env, reader->events));
  reader->thread = std::thread(run);
  reader->thread.detach();
  return nullptr;
}

bool int32Arg(napi_env env, napi_value value, int32_t* out) { return napi_get_value_int32(env, value, out) == napi_ok; }

bool typedArrayArg(napi_env env, napi_value value, void** data, size_t* bytes) {
  napi_typedarray_type type;
  size_t length;
  napi_value arraybuffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, &length, data, &arraybuffer, &offset) != napi_ok) return false;
  if (type != napi_int32_array) return false;
  *bytes = length * 4;
  return true;
}

// attach(id, fd, ring: Int32Array over the ring's whole buffer, control: Int32Array, producerPausedIndex, socketClosedIndex)
napi_value Attach(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (reader == nullptr) return fail(env, "the native ingress reader is not started");
  int32_t id, fd, pausedIndex, closedIndex;
  void* ringData;
  void* controlData;
  size_t ringBytes, controlBytes;
  if (argc < 6 || !int32Arg(env, argv[0], &id) || !int32Arg(env, argv[1], &fd) || !typedArrayArg(env, argv[2], &ringData, &ringBytes) ||
      !typedArrayArg(env, argv[3], &controlData, &controlBytes) || !int32Arg(env, argv[4], &pausedIndex) || !int32Arg(env, argv[5], &closedIndex)) {
    return fail(env, "attach(id, fd, ring Int32Array, control Int32Array, producerPausedIndex, socketClosedIndex)");
  }
  auto* header = static_cast<int32_t*>(ringData);
  if (ringBytes < kHeaderBytes + 8 || header[kMagic] != kMagicValue || header[kCapacity] + kHeaderBytes != ringBytes) return fail(env, "not a ByteRing");
  if (pausedIndex < 0 || closedIndex < 0 || static_cast<size_t>(pausedIndex) * 4 >= controlBytes || static_cast<size_t>(closedIndex) * 4 >= controlBytes) {
    return fail(env, "control index out of range");
  }
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return fail(env, "dup of the socket descriptor failed");
  fcntl(own, F_SETFL, fcntl(own, F_GETFL) | O_NONBLOCK);
  const int on = 1;
  setsockopt(own, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);  // without it (it cannot fail on TCP) records carry the read time
  auto* c = new Connection{id, own, header, static_cast<uint8_t*>(ringData) + kHeaderBytes, static_cast<uint32_t>(header[kCapacity]),
                           static_cast<int32_t*>(controlData), pausedIndex, closedIndex, nullptr, nullptr, true, false, false, 0, 0};
  napi_create_reference(env, argv[2], 1, &c->ringRef);
  napi_create_reference(env, argv[3], 1, &c->controlRef);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = static_cast<uint64_t>(static_cast<uint32_t>(id));
  {
    std::lock_guard<std::mutex> lock(reader->mutex);
    if (reader->connections.count(id) != 0 || epoll_ctl(reader->epoll, EPOLL_CTL_ADD, own, &ev) != 0) {
      close(own);
      napi_delete_reference(env, c->ringRef);
      napi_delete_reference(env, c->controlRef);
      delete c;
      return fail(env, "attach: duplicate id or epoll_ctl failed");
    }
    reader->connections[id] = c;
  }
  return nullptr;
}

// The connection id, the only argument of resume() and detach(); false (a JS error thrown) without one.
bool idArgument(napi_env env, napi_callback_info info, const char* usage, int32_t* id) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || reader == nullptr || argc < 1 || !int32Arg(env, argv[0], id)) {
    fail(env, usage);
    return false;
  }
  return true;
}

// resume(id): the worker drained a full ring; read again
napi_value Resume(napi_env env, napi_callback_info info) {
  int32_t id;
  if (!idArgument(env, info, "resume(id)", &id)) return nullptr;
  std::lock_guard<std::mutex> lock(reader->mutex);
  auto found = reader->connections.find(id);
  if (found != reader->connections.end()) {
    store(found->second->control + found->second->producerPausedIndex, 0);
    setArmed(found->second, true);
  }
  return nullptr;
}

// detach(id): after it returns the reader thread no longer touches the connection, its descriptor or its ring
napi_value Detach(napi_env env, napi_callback_info info) {
  int32_t id;
  if (!idArgument(env, info, "detach(id)", &id)) return nullptr;
  Connection* c = nullptr;
  {
    std::lock_guard<std::mutex> lock(reader->mutex);
    auto found = reader->connections.find(id);
    if (found == reader->connections.end()) return nullptr;
    c = found->second;
    reader->connections.erase(found);
    if (!c->closed) epoll_ctl(reader->epoll, EPOLL_CTL_DEL, c->fd, nullptr);
    close(c->fd);
  }
  napi_delete_reference(env, c->ringRef);
  napi_delete_reference(env, c->controlRef);
  delete c;
  return nullptr;
}

// The connection `id` under the mutex, if attached and not closed; else null.
Connection* openConnection(int32_t id) {
  auto found = reader->connections.find(id);
  return found == reader->connections.end() || found->second->closed ? nullptr : found->second;
}

// claim(id, lowWaterBytes): the caller (the connection's worker) reads the socket from now on at
// its looks (readClaimed); this thread reads it only once lowWaterBytes wait unread, or at EOF.
// false when the connection is gone.
napi_value Claim(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t id, lowWater;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || reader == nullptr || argc < 2 || !int32Arg(env, argv[0], &id) ||
      !int32Arg(env, argv[1], &lowWater) || lowWater < 1) {
    return fail(env, "claim(id, lowWaterBytes >= 1)");
  }
  bool claimed = false;
  {
    std::lock_guard<std::mutex> lock(reader->mutex);
    Connection* c = openConnection(id);
    if (c != nullptr && setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &lowWater, sizeof lowWater) == 0) claimed = c->claimed = true;
  }
  napi_value result;
  napi_get_boolean(env, claimed, &result);
  return result;
}

// release(id): this thread reads the socket again as bytes arrive (the worker goes back to being woken)
napi_value Release(napi_env env, napi_callback_info info) {
  int32_t id;
  if (!idArgument(env, info, "release(id)", &id)) return nullptr;
  std::lock_guard<std::mutex> lock(reader->mutex);
  Connection* c = openConnection(id);
  if (c == nullptr || !c->claimed) return nullptr;
  const int one = 1;
  setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
  c->claimed = false;
  // re-evaluated now: bytes already waiting (under the old mark) are read at once
  if (c->armed) watch(c, EPOLLIN | EPOLLRDHUP);
  return nullptr;
}

// readClaimed(id): on the worker thread, reads what its claimed socket holds into the ring.
// Returns 1 when it wrote records, 0 when there was nothing (or no room), -1 when the connection
// is gone (closed: socketClosed is set and main told, as when this thread reads EOF; or detached).
napi_value ReadClaimed(napi_env env, napi_callback_info info) {
  int32_t id;
  if (!idArgument(env, info, "readClaimed(id)", &id)) return nullptr;
  int32_t outcome = -1;
  {
    std::lock_guard<std::mutex> lock(reader->mutex);
    Connection* c = openConnection(id);
    if (c != nullptr && c->claimed) {
      const bool wrote = drain(c, true);
      outcome = c->closed ? -1 : wrote ? 1 : 0;
    }
  }
  napi_value result;
  napi_create_int32(env, outcome, &result);
  return result;
}

// stats(): [reads by this thread, reads by workers on claimed sockets] since start, as numbers
napi_value Stats(napi_env env, napi_callback_info) {
  napi_value result, value;
  napi_create_array_with_length(env, 2, &result);
  napi_create_double(env, reader == nullptr ? 0 : static_cast<double>(reader->readerReads.load(std::memory_order_relaxed)), &value);
  napi_set_element(env, result, 0, value);
  napi_create_double(env, reader == nullptr ? 0 : static_cast<double>(reader->workerReads.load(std::memory_order_relaxed)), &value);
  napi_set_element(env, result, 1, value);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", nullptr, Start, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attach", nullptr, Attach, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"resume", nullptr, Resume, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"detach", nullptr, Detach, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"claim", nullptr, Claim, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"release", nullptr, Release, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"readClaimed", nullptr, ReadClaimed, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stats", nullptr, Stats, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
