/*
 * AF_PACKET socket for lxc-dhcpd: receives filtered Ethernet frames on one interface and sends whole frames back out.
 *
 * Exports one class, PacketSocketHandle(ifname, filter, netns, onEvent). The TypeScript wrapper in
 * src/wire/packet-socket.ts is the only intended caller; docs/wire.md describes the design.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

/* recvmmsg batch size, and how many frames one wakeup may read before yielding to the rest of the event loop. */
#define RX_BATCH 64
#define RX_WAKEUP_CAP 512
#define TX_BATCH 64
/* Room for two VLAN tags on top of MTU + Ethernet header. */
#define FRAME_OVERHEAD (ETH_HLEN + 8)
#define RECEIVE_BUFFER_BYTES (4 * 1024 * 1024)
/* Upper bound for draining the queue after bind, so a flood cannot stall open(). */
#define DRAIN_LIMIT 100000
#define NETNS_DIR "/var/run/netns/"
#define CALLBACK_PROPERTY "_onEvent"

typedef struct {
  napi_env env;
  int fd;
  int ifindex;
  unsigned int mtu;
  char ifname[IF_NAMESIZE];

  uv_poll_t poll;
  /* Registered while the poll handle exists; lets Node wait for uv_close at environment teardown (see below). */
  napi_async_cleanup_hook_handle teardown_hook;
  bool poll_initialized;
  bool poll_closing;
  bool poll_closed;
  bool finalized;

  /* Strong (count 1) while the socket is open and ref'd, like a libuv handle keeping its owner alive; weak otherwise,
   * so an unref'd or closed socket that JS drops can be collected and finalized. */
  napi_ref self;
  uint32_t self_strength;
  napi_async_context async_context;

  size_t slot_size;
  unsigned char *slots;
  struct mmsghdr msgs[RX_BATCH];
  struct iovec iovs[RX_BATCH];
  struct sockaddr_ll addrs[RX_BATCH];

  /* Frames of one wakeup, packed back to back, and their [length, pkttype] pairs. */
  unsigned char *pending;
  size_t pending_capacity;
  uint32_t pending_meta[RX_WAKEUP_CAP * 2];

  uint64_t kernel_packets;
  uint64_t kernel_drops;
  uint64_t truncated;
} PacketSocket;

typedef struct {
  int fd;
  int ifindex;
  unsigned int mtu;
  unsigned char mac[ETH_ALEN];
} OpenedSocket;

/* What failed while opening: the step and its errno (0 when the step text is the whole message). */
typedef struct {
  const char *step;
  int err;
} OpenFailure;

/* ---------- error helpers ---------- */

static void throw_last_napi_error(napi_env env, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  char message[256];
  const char *detail = "unknown N-API failure";
  if (napi_get_last_error_info(env, &info) == napi_ok && info != NULL && info->error_message != NULL) {
    detail = info->error_message;
  }
  snprintf(message, sizeof message, "packet socket: %s: %s", what, detail);
  napi_throw_error(env, NULL, message);
}

#define NAPI_CALL(env, call, what)          \
  do {                                      \
    if ((call) != napi_ok) {                \
      throw_last_napi_error((env), (what)); \
      return NULL;                          \
    }                                       \
  } while (0)

static napi_value make_errno_error(napi_env env, const char *ifname, const char *step, int err) {
  char message[512];
  if (err != 0) {
    snprintf(message, sizeof message, "packet socket on %s: %s: %s", ifname, step, strerror(err));
  } else {
    snprintf(message, sizeof message, "packet socket on %s: %s", ifname, step);
  }
  const char *code_text = err != 0 ? strerrorname_np(err) : NULL;
  napi_value code = NULL;
  napi_value text = NULL;
  napi_value error = NULL;
  if (code_text != NULL && napi_create_string_utf8(env, code_text, NAPI_AUTO_LENGTH, &code) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text) != napi_ok) return NULL;
  if (napi_create_error(env, code, text, &error) != napi_ok) return NULL;
  napi_value syscall = NULL;
  if (napi_create_string_utf8(env, step, NAPI_AUTO_LENGTH, &syscall) == napi_ok) {
    /* Best effort: the message already carries the step. */
    (void)napi_set_named_property(env, error, "syscall", syscall);
  }
  return error;
}

static void throw_errno(napi_env env, const char *ifname, const char *step, int err) {
  napi_value error = make_errno_error(env, ifname, step, err);
  if (error == NULL || napi_throw(env, error) != napi_ok) throw_last_napi_error(env, step);
}

/* ---------- opening the socket (runs inside the target network namespace when one is given) ---------- */

static bool fail(OpenFailure *failure, const char *step, int err) {
  failure->step = step;
  failure->err = err;
  return false;
}

/* Reads and discards whatever is queued; errors end the drain (a pending ENETDOWN on a down link is expected). */
static void drain_queue(int fd) {
  unsigned char scratch[1];
  for (int i = 0; i < DRAIN_LIMIT; i++) {
    ssize_t n = recv(fd, scratch, sizeof scratch, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
  }
}

static void enlarge_receive_buffer(int fd) {
  int bytes = RECEIVE_BUFFER_BYTES;
  /* SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN; without it, SO_RCVBUF gets what rmem_max allows.
   * Neither is required for correctness, so a failure of both just leaves the default size. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) == 0) return;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) == 0) return;
}

static bool open_bound_socket(const char *ifname, const struct sock_fprog *program, OpenedSocket *out,
                              OpenFailure *failure) {
  unsigned int ifindex = if_nametoindex(ifname);
  if (ifindex == 0) return fail(failure, "if_nametoindex", errno);

  /* Protocol 0: the socket is hooked into no receive path until bind() names ETH_P_ALL below, so no frame can be
   * queued before the filter is attached. */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(failure, "socket", errno);

  struct ifreq request;
  memset(&request, 0, sizeof request);
  memcpy(request.ifr_name, ifname, strlen(ifname) + 1);
  if (ioctl(fd, SIOCGIFHWADDR, &request) < 0) {
    int err = errno;
    close(fd);
    return fail(failure, "SIOCGIFHWADDR", err);
  }
  if (request.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    close(fd);
    return fail(failure, "not an Ethernet interface", 0);
  }
  memcpy(out->mac, request.ifr_hwaddr.sa_data, ETH_ALEN);

  if (ioctl(fd, SIOCGIFMTU, &request) < 0) {
    int err = errno;
    close(fd);
    return fail(failure, "SIOCGIFMTU", err);
  }
  if (request.ifr_mtu <= 0) {
    close(fd);
    return fail(failure, "SIOCGIFMTU returned a non-positive MTU", 0);
  }
  out->mtu = (unsigned int)request.ifr_mtu;

  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, program, sizeof *program) < 0) {
    int err = errno;
    close(fd);
    return fail(failure, "SO_ATTACH_FILTER", err);
  }
  enlarge_receive_buffer(fd);

  struct sockaddr_ll address;
  memset(&address, 0, sizeof address);
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) {
    int err = errno;
    close(fd);
    return fail(failure, "bind", err);
  }
  /* Belt and braces: nothing unfiltered can be queued (see socket() above), but a kernel that hooked the socket
   * early would have queued frames from any interface. */
  drain_queue(fd);

  out->fd = fd;
  out->ifindex = (int)ifindex;
  return true;
}

static bool open_in_namespace(const char *netns, const char *ifname, const struct sock_fprog *program,
                              OpenedSocket *out, OpenFailure *failure) {
  /* thread-self, not self: setns() switches only the calling thread, which may be a worker thread. */
  int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original < 0) return fail(failure, "open /proc/thread-self/ns/net", errno);

  char path[sizeof NETNS_DIR + NAME_MAX];
  snprintf(path, sizeof path, "%s%s", NETNS_DIR, netns);
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(original);
    return fail(failure, "open netns", err);
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int err = errno;
    close(target);
    close(original);
    return fail(failure, "setns", err);
  }
  bool opened = open_bound_socket(ifname, program, out, failure);
  if (setns(original, CLONE_NEWNET) < 0) {
    /* Continuing would run the rest of the process (DNS, NAT, other sockets) in the wrong namespace. */
    fprintf(stderr, "lxc-dhcpd packet socket: cannot return to the original network namespace after opening %s "
                    "in netns %s: %s; aborting\n", ifname, netns, strerror(errno));
    abort();
  }
  close(target);
  close(original);
  return opened;
}

/* ---------- lifecycle ---------- */

static void free_socket(PacketSocket *socket_state) {
  free(socket_state->slots);
  free(socket_state->pending);
  free(socket_state);
}

static void on_poll_closed(uv_handle_t *handle) {
  PacketSocket *socket_state = handle->data;
  socket_state->poll_closed = true;
  if (socket_state->teardown_hook != NULL) {
    /* Also tells a waiting environment teardown that this socket is done. */
    napi_remove_async_cleanup_hook(socket_state->teardown_hook);
    socket_state->teardown_hook = NULL;
  }
  if (socket_state->finalized) free_socket(socket_state);
}

static void set_self_strength(PacketSocket *socket_state, uint32_t wanted) {
  if (socket_state->self == NULL || socket_state->self_strength == wanted) return;
  uint32_t count = 0;
  napi_status status = wanted > socket_state->self_strength
                           ? napi_reference_ref(socket_state->env, socket_state->self, &count)
                           : napi_reference_unref(socket_state->env, socket_state->self, &count);
  if (status == napi_ok) socket_state->self_strength = count;
}

/* The kernel resets PACKET_STATISTICS on every read, so keep running totals. */
static bool accumulate_kernel_stats(PacketSocket *socket_state) {
  struct tpacket_stats kernel_stats;
  socklen_t length = sizeof kernel_stats;
  if (getsockopt(socket_state->fd, SOL_PACKET, PACKET_STATISTICS, &kernel_stats, &length) < 0) return false;
  socket_state->kernel_packets += kernel_stats.tp_packets;
  socket_state->kernel_drops += kernel_stats.tp_drops;
  return true;
}

static void close_socket(PacketSocket *socket_state) {
  if (socket_state->fd < 0) return;
  /* Keep the final counts for stats() after close; a failure here only loses them. */
  (void)accumulate_kernel_stats(socket_state);
  if (socket_state->poll_initialized && !socket_state->poll_closing) {
    socket_state->poll_closing = true;
    /* uv_close stops the poll (removes the fd from epoll) before we close the fd. */
    uv_close((uv_handle_t *)&socket_state->poll, on_poll_closed);
  }
  close(socket_state->fd);
  socket_state->fd = -1;
  set_self_strength(socket_state, 0);
}

/*
 * When a worker thread (or the main environment) is torn down, Node unloads this addon after its cleanup hooks have
 * finished, and the loop may only run our uv_close callback later: a jump into unmapped code. An async cleanup hook
 * makes Node run the loop until on_poll_closed has removed it, i.e. until the handle is fully closed.
 */
static void on_environment_teardown(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  close_socket(arg);
}

static void finalize_socket(napi_env env, void *data, void *hint) {
  (void)hint;
  PacketSocket *socket_state = data;
  close_socket(socket_state);
  socket_state->finalized = true;
  if (socket_state->self != NULL) {
    napi_delete_reference(env, socket_state->self);
    socket_state->self = NULL;
  }
  if (socket_state->async_context != NULL) {
    napi_async_destroy(env, socket_state->async_context);
    socket_state->async_context = NULL;
  }
  if (!socket_state->poll_initialized || socket_state->poll_closed) free_socket(socket_state);
}

/* ---------- receiving ---------- */

static void on_readable(uv_poll_t *handle, int status, int events);

static bool reserve_pending(PacketSocket *socket_state, size_t needed) {
  if (needed <= socket_state->pending_capacity) return true;
  size_t capacity = socket_state->pending_capacity ? socket_state->pending_capacity : 64 * 1024;
  while (capacity < needed) capacity *= 2;
  unsigned char *grown = realloc(socket_state->pending, capacity);
  if (grown == NULL) return false;
  socket_state->pending = grown;
  socket_state->pending_capacity = capacity;
  return true;
}

typedef struct {
  size_t frames;
  size_t bytes;
  int err; /* errno of a receive error that ended the wakeup, 0 if none */
} ReceiveResult;

static ReceiveResult receive_wakeup(PacketSocket *socket_state) {
  ReceiveResult result = {0, 0, 0};
  size_t frames_read = 0;
  while (frames_read < RX_WAKEUP_CAP) {
    unsigned int wanted = RX_WAKEUP_CAP - frames_read < RX_BATCH ? (unsigned int)(RX_WAKEUP_CAP - frames_read)
                                                                 : RX_BATCH;
    for (unsigned int i = 0; i < wanted; i++) {
      socket_state->iovs[i].iov_base = socket_state->slots + (size_t)i * socket_state->slot_size;
      socket_state->iovs[i].iov_len = socket_state->slot_size;
      struct msghdr *header = &socket_state->msgs[i].msg_hdr;
      memset(header, 0, sizeof *header);
      header->msg_name = &socket_state->addrs[i];
      header->msg_namelen = sizeof socket_state->addrs[i];
      header->msg_iov = &socket_state->iovs[i];
      header->msg_iovlen = 1;
    }
    int count = recvmmsg(socket_state->fd, socket_state->msgs, wanted, MSG_DONTWAIT, NULL);
    if (count < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) result.err = errno;
      break;
    }
    for (int i = 0; i < count; i++) {
      if (socket_state->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        socket_state->truncated++;
        continue;
      }
      size_t length = socket_state->msgs[i].msg_len;
      if (!reserve_pending(socket_state, result.bytes + length)) {
        result.err = ENOMEM;
        return result;
      }
      memcpy(socket_state->pending + result.bytes, socket_state->iovs[i].iov_base, length);
      socket_state->pending_meta[result.frames * 2] = (uint32_t)length;
      socket_state->pending_meta[result.frames * 2 + 1] = socket_state->addrs[i].sll_pkttype;
      result.frames++;
      result.bytes += length;
    }
    frames_read += (size_t)count;
    if ((unsigned int)count < wanted) break; /* the queue is empty; skip the syscall that would say EAGAIN */
  }
  return result;
}

/* Calls onEvent(error, data, meta) on the JS object; an exception it throws goes to process 'uncaughtException'. */
static void call_on_event(PacketSocket *socket_state, napi_value self, size_t argc, napi_value *argv) {
  napi_env env = socket_state->env;
  napi_value callback = NULL;
  napi_value ignored = NULL;
  if (napi_get_named_property(env, self, CALLBACK_PROPERTY, &callback) != napi_ok) return;
  napi_status status = napi_make_callback(env, socket_state->async_context, self, callback, argc, argv, &ignored);
  if (status == napi_ok) return;
  bool pending = false;
  napi_value exception = NULL;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
    napi_fatal_exception(env, exception);
  }
}

static void deliver_frames(PacketSocket *socket_state, napi_value self, const ReceiveResult *received) {
  napi_env env = socket_state->env;
  napi_value argv[3];
  void *meta_bytes = NULL;
  napi_value meta_buffer = NULL;
  size_t meta_length = received->frames * 2;
  if (napi_get_null(env, &argv[0]) != napi_ok) return;
  if (napi_create_buffer_copy(env, received->bytes, socket_state->pending, NULL, &argv[1]) != napi_ok) return;
  if (napi_create_arraybuffer(env, meta_length * sizeof(uint32_t), &meta_bytes, &meta_buffer) != napi_ok) return;
  memcpy(meta_bytes, socket_state->pending_meta, meta_length * sizeof(uint32_t));
  if (napi_create_typedarray(env, napi_uint32_array, meta_length, meta_buffer, 0, &argv[2]) != napi_ok) return;
  call_on_event(socket_state, self, 3, argv);
}

static void deliver_error(PacketSocket *socket_state, napi_value self, const char *step, int err) {
  napi_value argv[1];
  argv[0] = make_errno_error(socket_state->env, socket_state->ifname, step, err);
  if (argv[0] != NULL) call_on_event(socket_state, self, 1, argv);
}

/*
 * libuv reports POLLERR as UV_EBADF and stops the handle. On a packet socket POLLERR usually means a pending socket
 * error, e.g. ENETDOWN when the bound link goes down; reading SO_ERROR clears it, so report it and poll again.
 */
static void handle_poll_error(PacketSocket *socket_state, napi_value self, int status) {
  int socket_error = 0;
  socklen_t length = sizeof socket_error;
  if (getsockopt(socket_state->fd, SOL_SOCKET, SO_ERROR, &socket_error, &length) < 0 || socket_error == 0) {
    /* Not a socket error: the poll really is unusable and stays stopped. */
    uv_poll_stop(&socket_state->poll);
    if (self != NULL) deliver_error(socket_state, self, "poll", -status);
    return;
  }
  int restarted = uv_poll_start(&socket_state->poll, UV_READABLE, on_readable);
  if (self != NULL) deliver_error(socket_state, self, "socket error", socket_error);
  if (restarted != 0 && self != NULL && socket_state->fd >= 0) {
    deliver_error(socket_state, self, "uv_poll_start", -restarted);
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  PacketSocket *socket_state = handle->data;
  if (socket_state->fd < 0) return;
  napi_env env = socket_state->env;
  napi_handle_scope scope = NULL;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;

  napi_value self = NULL;
  if (socket_state->self != NULL && napi_get_reference_value(env, socket_state->self, &self) != napi_ok) self = NULL;

  if (status < 0) {
    handle_poll_error(socket_state, self, status);
  } else {
    ReceiveResult received = receive_wakeup(socket_state);
    /* self is NULL when the JS object was collected and its finalizer has not run yet: the frames are dropped. */
    if (self != NULL && received.frames > 0) deliver_frames(socket_state, self, &received);
    /* onFrames may have closed the socket; a pending error is no longer interesting then. */
    if (self != NULL && received.err != 0 && socket_state->fd >= 0) deliver_error(socket_state, self, "recvmmsg",
                                                                                 received.err);
  }
  /* A failed N-API call above may have left an exception pending; it must not leak into unrelated JS later. */
  bool pending = false;
  napi_value exception = NULL;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

/* ---------- argument helpers ---------- */

static bool get_string(napi_env env, napi_value value, char *out, size_t capacity, size_t *length) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) return false;
  if (napi_get_value_string_utf8(env, value, NULL, 0, length) != napi_ok) return false;
  if (*length == 0 || *length >= capacity) return false;
  return napi_get_value_string_utf8(env, value, out, capacity, length) == napi_ok;
}

static bool is_nullish(napi_env env, napi_value value) {
  napi_valuetype type;
  return napi_typeof(env, value, &type) == napi_ok && (type == napi_undefined || type == napi_null);
}

static bool get_buffer(napi_env env, napi_value value, void **data, size_t *length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return false;
  return napi_get_buffer_info(env, value, data, length) == napi_ok;
}

static PacketSocket *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv,
                                 const char *method) {
  napi_value self = NULL;
  PacketSocket *socket_state = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) {
    throw_last_napi_error(env, method);
    return NULL;
  }
  if (napi_unwrap(env, self, (void **)&socket_state) != napi_ok || socket_state == NULL) {
    napi_throw_type_error(env, NULL, "packet socket: method called on something that is not a PacketSocketHandle");
    return NULL;
  }
  return socket_state;
}

static bool require_open(napi_env env, PacketSocket *socket_state, const char *method) {
  if (socket_state->fd >= 0) return true;
  char message[128];
  snprintf(message, sizeof message, "packet socket on %s: %s: socket is closed", socket_state->ifname, method);
  napi_throw_error(env, "ERR_SOCKET_CLOSED", message);
  return false;
}

/* ---------- methods ---------- */

static bool is_queue_full(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

static napi_value method_send(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  PacketSocket *socket_state = unwrap_this(env, info, &argc, argv, "send");
  if (socket_state == NULL) return NULL;
  void *data = NULL;
  size_t length = 0;
  if (argc < 1 || !get_buffer(env, argv[0], &data, &length)) {
    napi_throw_type_error(env, NULL, "packet socket: send(frame): frame must be a Buffer");
    return NULL;
  }
  if (!require_open(env, socket_state, "send")) return NULL;
  ssize_t sent;
  do {
    sent = send(socket_state->fd, data, length, MSG_DONTWAIT);
  } while (sent < 0 && errno == EINTR);
  napi_value result = NULL;
  if (sent < 0) {
    if (!is_queue_full(errno)) {
      throw_errno(env, socket_state->ifname, "send", errno);
      return NULL;
    }
    NAPI_CALL(env, napi_get_boolean(env, false, &result), "send");
    return result;
  }
  if ((size_t)sent != length) {
    throw_errno(env, socket_state->ifname, "send wrote a partial frame", 0);
    return NULL;
  }
  NAPI_CALL(env, napi_get_boolean(env, true, &result), "send");
  return result;
}

static napi_value method_send_many(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  PacketSocket *socket_state = unwrap_this(env, info, &argc, argv, "sendMany");
  if (socket_state == NULL) return NULL;
  bool is_array = false;
  if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, NULL, "packet socket: sendMany(frames): frames must be an array of Buffers");
    return NULL;
  }
  uint32_t total = 0;
  NAPI_CALL(env, napi_get_array_length(env, argv[0], &total), "sendMany");
  if (!require_open(env, socket_state, "sendMany")) return NULL;

  struct iovec *iovs = total > 0 ? calloc(total, sizeof *iovs) : NULL;
  if (total > 0 && iovs == NULL) {
    napi_throw_error(env, NULL, "packet socket: sendMany: out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < total; i++) {
    napi_value element = NULL;
    if (napi_get_element(env, argv[0], i, &element) != napi_ok ||
        !get_buffer(env, element, &iovs[i].iov_base, &iovs[i].iov_len)) {
      free(iovs);
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return NULL;
      char message[128];
      snprintf(message, sizeof message, "packet socket: sendMany(frames): frames[%u] is not a Buffer", i);
      napi_throw_type_error(env, NULL, message);
      return NULL;
    }
  }

  uint32_t sent = 0;
  int failure = 0;
  while (sent < total) {
    struct mmsghdr msgs[TX_BATCH];
    unsigned int batch = total - sent < TX_BATCH ? total - sent : TX_BATCH;
    memset(msgs, 0, sizeof(struct mmsghdr) * batch);
    for (unsigned int i = 0; i < batch; i++) {
      msgs[i].msg_hdr.msg_iov = &iovs[sent + i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int count = sendmmsg(socket_state->fd, msgs, batch, MSG_DONTWAIT);
    if (count < 0) {
      if (errno == EINTR) continue;
      if (!is_queue_full(errno)) failure = errno;
      break;
    }
    sent += (uint32_t)count;
    /* A short count means frame number `count` failed; the next sendmmsg reports why. */
  }
  free(iovs);
  /* After a partial send the caller needs the count more than the error, which the next send will raise again. */
  if (failure != 0 && sent == 0) {
    throw_errno(env, socket_state->ifname, "sendmmsg", failure);
    return NULL;
  }
  napi_value result = NULL;
  NAPI_CALL(env, napi_create_uint32(env, sent, &result), "sendMany");
  return result;
}

static bool set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value number = NULL;
  return napi_create_double(env, value, &number) == napi_ok &&
         napi_set_named_property(env, object, name, number) == napi_ok;
}

static napi_value method_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  PacketSocket *socket_state = unwrap_this(env, info, &argc, NULL, "stats");
  if (socket_state == NULL) return NULL;
  if (socket_state->fd >= 0 && !accumulate_kernel_stats(socket_state)) {
    throw_errno(env, socket_state->ifname, "getsockopt PACKET_STATISTICS", errno);
    return NULL;
  }
  napi_value result = NULL;
  NAPI_CALL(env, napi_create_object(env, &result), "stats");
  /* tp_packets as read counts queued plus dropped frames. */
  if (!set_number(env, result, "received", (double)(socket_state->kernel_packets - socket_state->kernel_drops)) ||
      !set_number(env, result, "dropped", (double)socket_state->kernel_drops) ||
      !set_number(env, result, "truncated", (double)socket_state->truncated)) {
    throw_last_napi_error(env, "stats");
    return NULL;
  }
  return result;
}

static napi_value method_ref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  PacketSocket *socket_state = unwrap_this(env, info, &argc, NULL, "ref");
  if (socket_state == NULL) return NULL;
  if (socket_state->fd >= 0 && socket_state->poll_initialized && !socket_state->poll_closing) {
    uv_ref((uv_handle_t *)&socket_state->poll);
    set_self_strength(socket_state, 1);
  }
  return NULL;
}

static napi_value method_unref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  PacketSocket *socket_state = unwrap_this(env, info, &argc, NULL, "unref");
  if (socket_state == NULL) return NULL;
  if (socket_state->fd >= 0 && socket_state->poll_initialized && !socket_state->poll_closing) {
    uv_unref((uv_handle_t *)&socket_state->poll);
    set_self_strength(socket_state, 0);
  }
  return NULL;
}

static napi_value method_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  PacketSocket *socket_state = unwrap_this(env, info, &argc, NULL, "close");
  if (socket_state == NULL) return NULL;
  close_socket(socket_state);
  return NULL;
}

/* ---------- constructor ---------- */

static bool valid_netns_name(const char *name) {
  return strchr(name, '/') == NULL && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static bool set_readonly_properties(napi_env env, napi_value self, const OpenedSocket *opened, napi_value callback) {
  char mac_text[18];
  snprintf(mac_text, sizeof mac_text, "%02x:%02x:%02x:%02x:%02x:%02x", opened->mac[0], opened->mac[1],
           opened->mac[2], opened->mac[3], opened->mac[4], opened->mac[5]);
  napi_value ifindex = NULL;
  napi_value mtu = NULL;
  napi_value mac = NULL;
  if (napi_create_int32(env, opened->ifindex, &ifindex) != napi_ok) return false;
  if (napi_create_uint32(env, opened->mtu, &mtu) != napi_ok) return false;
  if (napi_create_string_utf8(env, mac_text, NAPI_AUTO_LENGTH, &mac) != napi_ok) return false;
  napi_property_descriptor properties[] = {
      {"ifindex", NULL, NULL, NULL, NULL, ifindex, napi_enumerable, NULL},
      {"mtu", NULL, NULL, NULL, NULL, mtu, napi_enumerable, NULL},
      {"mac", NULL, NULL, NULL, NULL, mac, napi_enumerable, NULL},
      /* The callback lives on the object, not behind a napi_ref, so a JS cycle through it stays collectable. */
      {CALLBACK_PROPERTY, NULL, NULL, NULL, NULL, callback, napi_default, NULL},
  };
  return napi_define_properties(env, self, sizeof properties / sizeof properties[0], properties) == napi_ok;
}

static napi_value construct(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_value self = NULL;
  napi_value new_target = NULL;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL), "constructor");
  NAPI_CALL(env, napi_get_new_target(env, info, &new_target), "constructor");
  if (new_target == NULL) {
    napi_throw_type_error(env, NULL, "packet socket: PacketSocketHandle must be called with new");
    return NULL;
  }
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "packet socket: expected (ifname, filter, netns, onEvent)");
    return NULL;
  }
  char ifname[IF_NAMESIZE];
  size_t ifname_length = 0;
  if (!get_string(env, argv[0], ifname, sizeof ifname, &ifname_length) || strlen(ifname) != ifname_length) {
    napi_throw_type_error(env, NULL, "packet socket: ifname must be a non-empty string shorter than 16 bytes");
    return NULL;
  }
  void *filter_data = NULL;
  size_t filter_length = 0;
  if (!get_buffer(env, argv[1], &filter_data, &filter_length) || filter_length == 0 ||
      filter_length % sizeof(struct sock_filter) != 0 ||
      filter_length / sizeof(struct sock_filter) > BPF_MAXINSNS) {
    napi_throw_type_error(env, NULL,
                          "packet socket: filter must be a Buffer of 1 to 4096 classic BPF instructions (8 bytes each)");
    return NULL;
  }
  char netns[NAME_MAX + 1];
  size_t netns_length = 0;
  bool use_netns = !is_nullish(env, argv[2]);
  if (use_netns && (!get_string(env, argv[2], netns, sizeof netns, &netns_length) ||
                    strlen(netns) != netns_length || !valid_netns_name(netns))) {
    napi_throw_type_error(env, NULL, "packet socket: netns must be a namespace name (no '/') or undefined");
    return NULL;
  }
  napi_valuetype callback_type;
  if (napi_typeof(env, argv[3], &callback_type) != napi_ok || callback_type != napi_function) {
    napi_throw_type_error(env, NULL, "packet socket: onEvent must be a function");
    return NULL;
  }

  /* Buffer memory has no alignment guarantee; the kernel reads sock_filter structs from this copy. */
  struct sock_filter *instructions = malloc(filter_length);
  if (instructions == NULL) {
    napi_throw_error(env, NULL, "packet socket: out of memory");
    return NULL;
  }
  memcpy(instructions, filter_data, filter_length);
  struct sock_fprog program = {(unsigned short)(filter_length / sizeof(struct sock_filter)), instructions};

  OpenedSocket opened;
  OpenFailure failure = {NULL, 0};
  memset(&opened, 0, sizeof opened);
  bool ok = use_netns ? open_in_namespace(netns, ifname, &program, &opened, &failure)
                      : open_bound_socket(ifname, &program, &opened, &failure);
  free(instructions);
  if (!ok) {
    char where[IF_NAMESIZE + NAME_MAX + 16];
    if (use_netns) snprintf(where, sizeof where, "%s in netns %s", ifname, netns);
    else snprintf(where, sizeof where, "%s", ifname);
    throw_errno(env, where, failure.step, failure.err);
    return NULL;
  }

  PacketSocket *socket_state = calloc(1, sizeof *socket_state);
  size_t slot_size = (size_t)opened.mtu + FRAME_OVERHEAD;
  unsigned char *slots = socket_state != NULL ? malloc(slot_size * RX_BATCH) : NULL;
  if (slots == NULL) {
    free(socket_state);
    close(opened.fd);
    napi_throw_error(env, NULL, "packet socket: out of memory");
    return NULL;
  }
  socket_state->env = env;
  socket_state->fd = opened.fd;
  socket_state->ifindex = opened.ifindex;
  socket_state->mtu = opened.mtu;
  memcpy(socket_state->ifname, ifname, ifname_length + 1);
  socket_state->slot_size = slot_size;
  socket_state->slots = slots;
  socket_state->poll.data = socket_state;

  if (napi_wrap(env, self, socket_state, finalize_socket, NULL, NULL) != napi_ok) {
    close(opened.fd);
    free_socket(socket_state);
    throw_last_napi_error(env, "napi_wrap");
    return NULL;
  }
  /* From here on the finalizer owns socket_state; on failure close the fd and let GC free the rest. */
  napi_value resource_name = NULL;
  uv_loop_t *loop = NULL;
  int uv_status = 0;
  if (!set_readonly_properties(env, self, &opened, argv[3]) ||
      napi_create_string_utf8(env, "PacketSocket", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, NULL, resource_name, &socket_state->async_context) != napi_ok ||
      napi_create_reference(env, self, 0, &socket_state->self) != napi_ok ||
      napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close_socket(socket_state);
    throw_last_napi_error(env, "constructor");
    return NULL;
  }
  uv_status = uv_poll_init(loop, &socket_state->poll, socket_state->fd);
  if (uv_status == 0) {
    socket_state->poll_initialized = true;
    if (napi_add_async_cleanup_hook(env, on_environment_teardown, socket_state, &socket_state->teardown_hook) !=
        napi_ok) {
      socket_state->teardown_hook = NULL;
      close_socket(socket_state);
      throw_last_napi_error(env, "napi_add_async_cleanup_hook");
      return NULL;
    }
    uv_status = uv_poll_start(&socket_state->poll, UV_READABLE, on_readable);
  }
  if (uv_status != 0) {
    close_socket(socket_state);
    throw_errno(env, ifname, "uv_poll_start", -uv_status);
    return NULL;
  }
  set_self_strength(socket_state, 1);
  return self;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"send", NULL, method_send, NULL, NULL, NULL, napi_default_method, NULL},
      {"sendMany", NULL, method_send_many, NULL, NULL, NULL, napi_default_method, NULL},
      {"stats", NULL, method_stats, NULL, NULL, NULL, napi_default_method, NULL},
      {"ref", NULL, method_ref, NULL, NULL, NULL, napi_default_method, NULL},
      {"unref", NULL, method_unref, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, method_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value constructor = NULL;
  NAPI_CALL(env,
            napi_define_class(env, "PacketSocketHandle", NAPI_AUTO_LENGTH, construct, NULL,
                              sizeof methods / sizeof methods[0], methods, &constructor),
            "define PacketSocketHandle");
  NAPI_CALL(env, napi_set_named_property(env, exports, "PacketSocketHandle", constructor), "export");
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
