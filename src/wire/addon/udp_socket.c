/*
 * IPv4 UDP socket for lxc-dhcpd's DNS server: batched receive and send, one JS call per wakeup.
 *
 * Node's dgram makes one recvmsg and one JS callback per datagram, and one send syscall per answer. Here each
 * readiness wakeup reads up to RX_WAKEUP_CAP datagrams with recvmmsg straight into fixed slots of one ArrayBuffer the
 * JS side can see, and calls JS once with their count; JS writes its answers into a second shared ArrayBuffer and
 * sends them all with one sendmmsg. Nothing is allocated per datagram on either side.
 *
 * Exports one class, UdpSocketHandle(address, port, netns, onEvent[, discard]). With discard true the socket only holds
 * its address and port: a filter drops every datagram in the kernel before it is queued, so nothing ever wakes the
 * event loop (the DHCP server's guard on bridge-ip:67, whose only job is that the kernel sends no ICMP port
 * unreachable for what the packet socket already sees). The TypeScript wrapper in src/wire/udp-socket.ts
 * is the only intended caller; docs/wire.md describes the design. The lifecycle (uv_poll, self reference, async
 * cleanup hook, finalizer) follows packet_socket.c.
 */
#define _GNU_SOURCE
#define ADDON_NAME "udp socket"
#include "addon_common.h"

#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <linux/filter.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

/* One receive slot per datagram. A DNS query is far smaller; a datagram that does not fit is counted and dropped. */
#define RX_SLOT_BYTES 4096
#define RX_BATCH 64
/* Datagrams one wakeup may read before yielding to the rest of the event loop (epoll is level-triggered). */
#define RX_WAKEUP_CAP 256
/* Per datagram in the meta arrays: [offset, length, IPv4 address (host order), port]. */
#define META_WORDS 4
#define TX_CAPACITY 256
#define TX_BUFFER_BYTES (TX_CAPACITY * 1024)
#define TX_BATCH 64
/* Datagrams of one UDP_SEGMENT send: below every kernel's UDP_MAX_SEGMENTS, and 64 * 1024 bytes stay under 64 KiB. */
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_SEGMENT_BYTES 1024
/* Open-addressing table for grouping a send batch by (address, port, length); a power of two above 2 * TX_CAPACITY. */
#define GROUP_TABLE_SIZE 512
/* About 1500 small queries of queue (the kernel doubles the value for its bookkeeping): enough for a burst from many
 * clients, small enough that an overloaded server drops instead of answering queries its clients gave up on. */
#define RECEIVE_BUFFER_BYTES (1024 * 1024)
#define SEND_BUFFER_BYTES (1024 * 1024)

/* One message of a send batch: datagrams of the queue with the same destination and length. */
typedef struct {
  uint32_t address;
  uint32_t port;
  uint32_t length;
  uint32_t count;
  uint32_t first; /* queue index of the first datagram; the others follow through next_in_group */
  uint32_t last;
} SendGroup;

typedef struct {
  SendGroup groups[TX_CAPACITY];
  uint32_t group_count;
  uint32_t next_in_group[TX_CAPACITY];
  /* Group index + 1 per slot, 0 = empty. */
  uint16_t table[GROUP_TABLE_SIZE];
} SendPlan;

typedef struct {
  /* fd, poll handle, self reference, async context: see addon_common.h. First, so a UdpSocket * is an
   * AddonSocket *. */
  AddonSocket base;
  /* "10.0.0.1 port 53", for messages. */
  char where[64];

  /* The four shared ArrayBuffers, held strongly until finalization so their memory outlives any wakeup. */
  napi_ref rx_ref;
  napi_ref rx_meta_ref;
  napi_ref tx_ref;
  napi_ref tx_meta_ref;
  unsigned char *rx;
  uint32_t *rx_meta;
  unsigned char *tx;
  uint32_t *tx_meta;

  struct mmsghdr rx_msgs[RX_BATCH];
  struct iovec rx_iovs[RX_BATCH];
  struct sockaddr_in rx_addrs[RX_BATCH];
  /* SO_RXQ_OVFL: the kernel's count of datagrams dropped on a full receive queue, per received message. */
  unsigned char rx_control[RX_BATCH][CMSG_SPACE(sizeof(uint32_t))];

  uint64_t received;
  uint64_t truncated;
  uint64_t receive_errors;
  uint32_t kernel_drops;
  uint64_t sent;
  uint64_t send_errors;
  uint64_t send_dropped;
  /* Datagrams that left as segments of a UDP_SEGMENT send (see send_queued). */
  uint64_t coalesced;
  int last_send_error;
  /* The kernel takes UDP_SEGMENT (Linux >= 4.18) and no GSO send has failed. */
  bool gso;
  SendPlan plan;
} UdpSocket;

/* ---------- opening (runs inside the target network namespace when one is given) ---------- */

/* SO_*BUFFORCE ignores rmem_max/wmem_max but needs CAP_NET_ADMIN; without it the plain option gets what the sysctl
 * allows. Neither is needed for correctness. */
static void size_buffer(int fd, int force_option, int option, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof bytes) == 0) return;
  (void)setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes);
}

/* Whether UDP_SEGMENT works here: setting the socket's default segment size to 0 (none) is harmless. */
static bool probe_gso(int fd) {
  int none = 0;
  return setsockopt(fd, SOL_UDP, UDP_SEGMENT, &none, sizeof none) == 0;
}

/* Classic BPF "return 0": the socket filter keeps no byte of any datagram (see discard above). */
static bool attach_drop_all(int fd) {
  struct sock_filter drop_all[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
  struct sock_fprog program = {1, drop_all};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) == 0;
}

static bool open_bound_socket(const struct sockaddr_in *address, bool discard, int *fd_out, uint16_t *port_out,
                              bool *gso_out, OpenFailure *failure) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(failure, "socket", errno);
  /* Before bind: no datagram can be queued in between. */
  if (discard && !attach_drop_all(fd)) {
    int err = errno;
    close(fd);
    return fail(failure, "SO_ATTACH_FILTER", err);
  }
  if (!discard) size_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, RECEIVE_BUFFER_BYTES);
  size_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, SEND_BUFFER_BYTES);
  int on = 1;
  /* Only for the drop counter in stats(); the socket works without it. */
  (void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
  /* No SO_REUSEADDR/SO_REUSEPORT: a second server on the same address and port must fail with EADDRINUSE. */
  if (bind(fd, (const struct sockaddr *)address, sizeof *address) < 0) {
    int err = errno;
    close(fd);
    return fail(failure, "bind", err);
  }
  struct sockaddr_in bound;
  socklen_t length = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &length) < 0) {
    int err = errno;
    close(fd);
    return fail(failure, "getsockname", err);
  }
  *fd_out = fd;
  *port_out = ntohs(bound.sin_port);
  *gso_out = probe_gso(fd);
  return true;
}

static bool open_in_namespace(const char *netns, const struct sockaddr_in *address, bool discard, int *fd_out,
                              uint16_t *port_out, bool *gso_out, OpenFailure *failure) {
  NetnsSwitch saved;
  if (!enter_netns(netns, &saved, failure)) return false;
  bool opened = open_bound_socket(address, discard, fd_out, port_out, gso_out, failure);
  leave_netns(&saved, netns, "a socket");
  return opened;
}

/* ---------- lifecycle ---------- */

static void free_socket_state(AddonSocket *base) { free(base); }

static void close_socket(AddonSocket *base) {
  if (base->fd < 0) return;
  close_base(base);
}

static void delete_ref(napi_env env, napi_ref *ref) {
  if (*ref == NULL) return;
  napi_delete_reference(env, *ref);
  *ref = NULL;
}

static void finalize_socket(napi_env env, void *data, void *hint) {
  (void)hint;
  UdpSocket *socket_state = data;
  close_socket(&socket_state->base);
  delete_ref(env, &socket_state->rx_ref);
  delete_ref(env, &socket_state->rx_meta_ref);
  delete_ref(env, &socket_state->tx_ref);
  delete_ref(env, &socket_state->tx_meta_ref);
  socket_state->rx = NULL;
  socket_state->rx_meta = NULL;
  socket_state->tx = NULL;
  socket_state->tx_meta = NULL;
  if (finalize_base(env, &socket_state->base)) free_socket_state(&socket_state->base);
}

/* ---------- receiving ---------- */

static void note_kernel_drops(UdpSocket *socket_state, struct msghdr *header) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(header); c != NULL; c = CMSG_NXTHDR(header, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL || c->cmsg_len < CMSG_LEN(sizeof(uint32_t))) {
      continue;
    }
    uint32_t drops;
    memcpy(&drops, CMSG_DATA(c), sizeof drops);
    /* A running total kept by the kernel (it wraps at 2^32). */
    socket_state->kernel_drops = drops;
  }
}

typedef struct {
  uint32_t datagrams;
  int err; /* errno of a receive error that ended the wakeup, 0 if none */
} ReceiveResult;

/* Reads until the queue is empty or RX_WAKEUP_CAP datagrams were read; slot i of the receive buffer holds datagram i
 * (a truncated one leaves its slot unused and no meta entry). */
static ReceiveResult receive_wakeup(UdpSocket *socket_state) {
  ReceiveResult result = {0, 0};
  uint32_t slot = 0;
  while (slot < RX_WAKEUP_CAP) {
    unsigned int wanted = RX_WAKEUP_CAP - slot < RX_BATCH ? RX_WAKEUP_CAP - slot : RX_BATCH;
    for (unsigned int i = 0; i < wanted; i++) {
      socket_state->rx_iovs[i].iov_base = socket_state->rx + (size_t)(slot + i) * RX_SLOT_BYTES;
      socket_state->rx_iovs[i].iov_len = RX_SLOT_BYTES;
      struct msghdr *header = &socket_state->rx_msgs[i].msg_hdr;
      header->msg_name = &socket_state->rx_addrs[i];
      header->msg_namelen = sizeof socket_state->rx_addrs[i];
      header->msg_iov = &socket_state->rx_iovs[i];
      header->msg_iovlen = 1;
      header->msg_control = socket_state->rx_control[i];
      header->msg_controllen = sizeof socket_state->rx_control[i];
      header->msg_flags = 0;
    }
    int count = recvmmsg(socket_state->base.fd, socket_state->rx_msgs, wanted, MSG_DONTWAIT, NULL);
    if (count < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        socket_state->receive_errors++;
        result.err = errno;
      }
      break;
    }
    for (int i = 0; i < count; i++) {
      struct msghdr *header = &socket_state->rx_msgs[i].msg_hdr;
      if (header->msg_flags & MSG_CTRUNC) {
        /* Only the drop counter lives in control data: a truncated one is not worth a datagram. */
      } else if (header->msg_controllen > 0) {
        note_kernel_drops(socket_state, header);
      }
      if (header->msg_flags & MSG_TRUNC) {
        socket_state->truncated++;
        continue;
      }
      const struct sockaddr_in *source = &socket_state->rx_addrs[i];
      if (header->msg_namelen < sizeof *source || source->sin_family != AF_INET) {
        socket_state->receive_errors++;
        continue;
      }
      uint32_t *meta = socket_state->rx_meta + (size_t)result.datagrams * META_WORDS;
      meta[0] = (slot + (uint32_t)i) * RX_SLOT_BYTES;
      meta[1] = socket_state->rx_msgs[i].msg_len;
      meta[2] = ntohl(source->sin_addr.s_addr);
      meta[3] = ntohs(source->sin_port);
      result.datagrams++;
    }
    socket_state->received += (uint64_t)count;
    slot += (uint32_t)count;
    if ((unsigned int)count < wanted) break; /* the queue is empty: skip the syscall that would say EAGAIN */
  }
  return result;
}

static void deliver_datagrams(UdpSocket *socket_state, napi_value self, uint32_t count) {
  napi_value argv[2];
  if (napi_get_null(socket_state->base.env, &argv[0]) != napi_ok) return;
  if (napi_create_uint32(socket_state->base.env, count, &argv[1]) != napi_ok) return;
  /* onEvent(error, count) */
  call_on_event(&socket_state->base, self, 2, argv);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  UdpSocket *socket_state = handle->data;
  if (socket_state->base.fd < 0 || socket_state->rx == NULL) return;
  napi_env env = socket_state->base.env;
  napi_handle_scope scope = NULL;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;

  napi_value self = NULL;
  if (socket_state->base.self != NULL && napi_get_reference_value(env, socket_state->base.self, &self) != napi_ok) {
    self = NULL;
  }

  if (status < 0) {
    handle_poll_error(&socket_state->base, socket_state->where, self, status);
  } else {
    ReceiveResult received = receive_wakeup(socket_state);
    /* self is NULL when the JS object was collected and its finalizer has not run yet: the datagrams are dropped. */
    if (self != NULL && received.datagrams > 0) deliver_datagrams(socket_state, self, received.datagrams);
    if (self != NULL && received.err != 0 && socket_state->base.fd >= 0) {
      deliver_error(&socket_state->base, socket_state->where, self, "recvmmsg", received.err);
    }
  }
  raise_pending_exception(env);
  napi_close_handle_scope(env, scope);
}

/* ---------- argument helpers ---------- */

/* An integer in [0, max] given as a JS number. */
static bool get_bounded_uint(napi_env env, napi_value value, double max, uint32_t *out) {
  napi_valuetype type;
  double number = 0;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) return false;
  if (napi_get_value_double(env, value, &number) != napi_ok) return false;
  if (!(number >= 0 && number <= max) || number != (double)(uint32_t)number) return false;
  *out = (uint32_t)number;
  return true;
}

static UdpSocket *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv,
                              const char *method) {
  napi_value self = NULL;
  UdpSocket *socket_state = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) {
    throw_last_napi_error(env, method);
    return NULL;
  }
  if (napi_unwrap(env, self, (void **)&socket_state) != napi_ok || socket_state == NULL) {
    napi_throw_type_error(env, NULL, "udp socket: method called on something that is not a UdpSocketHandle");
    return NULL;
  }
  return socket_state;
}

static bool require_open(napi_env env, UdpSocket *socket_state, const char *method) {
  if (socket_state->base.fd >= 0 && socket_state->tx != NULL) return true;
  char message[160];
  snprintf(message, sizeof message, "udp socket on %s: %s: socket is closed", socket_state->where, method);
  napi_throw_error(env, "ERR_SOCKET_CLOSED", message);
  return false;
}

static void fill_destination(struct sockaddr_in *destination, uint32_t address, uint32_t port) {
  memset(destination, 0, sizeof *destination);
  destination->sin_family = AF_INET;
  destination->sin_addr.s_addr = htonl(address);
  destination->sin_port = htons((uint16_t)port);
}

/* ---------- methods ---------- */

static uint32_t group_slot(uint32_t address, uint32_t port, uint32_t length) {
  uint32_t h = address * 0x9e3779b1u ^ (port << 16 | length) * 0x85ebca6bu;
  return (h ^ (h >> 15)) & (GROUP_TABLE_SIZE - 1);
}

/*
 * Groups the queued datagrams so that each group can leave as one UDP_SEGMENT send: same destination, same length
 * (segments of a GSO send are split at equal sizes), at most GSO_MAX_SEGMENTS. Without GSO every datagram is a group
 * of its own. Datagrams to one destination may leave in a different order than queued; UDP promises no order anyway.
 */
static void plan_groups(const UdpSocket *socket_state, uint32_t total, SendPlan *plan) {
  plan->group_count = 0;
  memset(plan->table, 0, sizeof plan->table);
  for (uint32_t i = 0; i < total; i++) {
    const uint32_t *meta = socket_state->tx_meta + (size_t)i * META_WORDS;
    uint32_t length = meta[1];
    plan->next_in_group[i] = UINT32_MAX;
    /* Port 0 cannot be sent to: such datagrams fail alone instead of making a group fail. */
    bool groupable = socket_state->gso && length > 0 && length <= GSO_MAX_SEGMENT_BYTES && meta[3] != 0;
    uint32_t slot = group_slot(meta[2], meta[3], length);
    if (groupable) {
      for (;;) {
        uint16_t entry = plan->table[slot];
        if (entry == 0) break;
        SendGroup *group = &plan->groups[entry - 1];
        if (group->address == meta[2] && group->port == meta[3] && group->length == length) {
          if (group->count < GSO_MAX_SEGMENTS) {
            plan->next_in_group[group->last] = i;
            group->last = i;
            group->count++;
            goto next_datagram;
          }
          /* A full group: start another for the same key in a later slot. */
        }
        slot = (slot + 1) & (GROUP_TABLE_SIZE - 1);
      }
      plan->table[slot] = (uint16_t)(plan->group_count + 1);
    }
    SendGroup *group = &plan->groups[plan->group_count++];
    group->address = meta[2];
    group->port = meta[3];
    group->length = length;
    group->count = 1;
    group->first = i;
    group->last = i;
  next_datagram:;
  }
}

/* Sends one group's datagrams one by one, after its UDP_SEGMENT send failed. */
static uint32_t send_group_singly(UdpSocket *socket_state, const SendGroup *group, const SendPlan *plan) {
  struct sockaddr_in destination;
  fill_destination(&destination, group->address, group->port);
  uint32_t sent = 0;
  for (uint32_t i = group->first; i != UINT32_MAX; i = plan->next_in_group[i]) {
    const uint32_t *meta = socket_state->tx_meta + (size_t)i * META_WORDS;
    ssize_t result;
    do {
      result = sendto(socket_state->base.fd, socket_state->tx + meta[0], meta[1], MSG_DONTWAIT,
                      (struct sockaddr *)&destination, sizeof destination);
    } while (result < 0 && errno == EINTR);
    if (result >= 0) {
      sent++;
    } else if (is_queue_full(errno)) {
      socket_state->send_dropped++;
    } else {
      socket_state->send_errors++;
      socket_state->last_send_error = errno;
    }
  }
  return sent;
}

/*
 * sendQueued(count): sends datagrams 0..count-1 described in the send meta array ([offset, length, address, port],
 * payload in the send buffer). Returns how many left. Datagrams with the same destination and length go out as one
 * UDP_SEGMENT (GSO) send when the kernel has it: the stack then routes, bridges and delivers them as one packet and
 * splits it only at the receiving socket, which is most of the cost of a small datagram. A datagram the kernel
 * refuses (a bad peer address or port, a firewall's EPERM...) is counted in sendErrors and skipped; when the send
 * queue is full the rest are counted in sendDropped. Only bad arguments throw.
 */
static napi_value method_send_queued(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  UdpSocket *socket_state = unwrap_this(env, info, &argc, argv, "sendQueued");
  if (socket_state == NULL) return NULL;
  uint32_t total = 0;
  if (argc < 1 || !get_bounded_uint(env, argv[0], TX_CAPACITY, &total)) {
    napi_throw_range_error(env, NULL, "udp socket: sendQueued(count): count must be an integer from 0 to 256");
    return NULL;
  }
  if (!require_open(env, socket_state, "sendQueued")) return NULL;
  for (uint32_t i = 0; i < total; i++) {
    const uint32_t *meta = socket_state->tx_meta + (size_t)i * META_WORDS;
    if (meta[0] > TX_BUFFER_BYTES || meta[1] > TX_BUFFER_BYTES - meta[0] || meta[3] > 0xffff) {
      char message[160];
      snprintf(message, sizeof message,
               "udp socket: sendQueued: entry %u lies outside the send buffer or has a port above 65535", i);
      napi_throw_range_error(env, NULL, message);
      return NULL;
    }
  }

  SendPlan *plan = &socket_state->plan;
  plan_groups(socket_state, total, plan);

  struct mmsghdr msgs[TX_BATCH];
  struct iovec iovs[TX_CAPACITY];
  struct sockaddr_in destinations[TX_BATCH];
  unsigned char controls[TX_BATCH][CMSG_SPACE(sizeof(uint16_t))];
  uint32_t done = 0; /* groups handled */
  uint32_t sent = 0; /* datagrams sent */
  while (done < plan->group_count) {
    unsigned int batch = plan->group_count - done < TX_BATCH ? plan->group_count - done : TX_BATCH;
    size_t iov_used = 0;
    for (unsigned int g = 0; g < batch; g++) {
      const SendGroup *group = &plan->groups[done + g];
      struct msghdr *header = &msgs[g].msg_hdr;
      memset(&msgs[g], 0, sizeof msgs[g]);
      fill_destination(&destinations[g], group->address, group->port);
      header->msg_name = &destinations[g];
      header->msg_namelen = sizeof destinations[g];
      header->msg_iov = &iovs[iov_used];
      header->msg_iovlen = group->count;
      for (uint32_t i = group->first; i != UINT32_MAX; i = plan->next_in_group[i]) {
        const uint32_t *meta = socket_state->tx_meta + (size_t)i * META_WORDS;
        iovs[iov_used].iov_base = socket_state->tx + meta[0];
        iovs[iov_used].iov_len = meta[1];
        iov_used++;
      }
      if (group->count > 1) {
        memset(controls[g], 0, sizeof controls[g]);
        header->msg_control = controls[g];
        header->msg_controllen = sizeof controls[g];
        struct cmsghdr *c = CMSG_FIRSTHDR(header);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t segment = (uint16_t)group->length;
        memcpy(CMSG_DATA(c), &segment, sizeof segment);
      }
    }
    int count = sendmmsg(socket_state->base.fd, msgs, batch, MSG_DONTWAIT);
    if (count < 0) {
      if (errno == EINTR) continue;
      const SendGroup *failed = &plan->groups[done];
      if (is_queue_full(errno)) {
        uint32_t left = 0;
        for (uint32_t g = done; g < plan->group_count; g++) left += plan->groups[g].count;
        socket_state->send_dropped += left;
        break;
      }
      if (failed->count > 1) {
        /* EIO: a device on the path cannot take GSO packets; EINVAL, ENOPROTOOPT: the kernel refuses the segment
         * size or the option. If the same datagrams then go one by one, it was the coalescing: stop it. */
        int err = errno;
        uint32_t singly = send_group_singly(socket_state, failed, plan);
        if (singly > 0 && (err == EIO || err == EINVAL || err == ENOPROTOOPT)) socket_state->gso = false;
        sent += singly;
      } else {
        socket_state->send_errors++;
        socket_state->last_send_error = errno;
      }
      done++;
      continue;
    }
    /* A short count means group `done + count` failed; the next sendmmsg reports why. */
    for (int g = 0; g < count; g++) {
      uint32_t datagrams = plan->groups[done + (uint32_t)g].count;
      sent += datagrams;
      if (datagrams > 1) socket_state->coalesced += datagrams;
    }
    done += (uint32_t)count;
  }
  socket_state->sent += sent;
  napi_value result = NULL;
  NAPI_CALL(env, napi_create_uint32(env, sent, &result), "sendQueued");
  return result;
}

/* send(buffer, address, port): one datagram from a Buffer of its own; false (and counted) when it could not go. */
static napi_value method_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  UdpSocket *socket_state = unwrap_this(env, info, &argc, argv, "send");
  if (socket_state == NULL) return NULL;
  bool is_buffer = false;
  void *data = NULL;
  size_t length = 0;
  uint32_t address = 0;
  uint32_t port = 0;
  if (argc < 3 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[0], &data, &length) != napi_ok ||
      !get_bounded_uint(env, argv[1], 4294967295.0, &address) || !get_bounded_uint(env, argv[2], 65535, &port)) {
    napi_throw_type_error(env, NULL,
                          "udp socket: send(data, address, port): a Buffer, an IPv4 address as an unsigned 32-bit "
                          "number, and a port from 0 to 65535");
    return NULL;
  }
  if (!require_open(env, socket_state, "send")) return NULL;
  struct sockaddr_in destination;
  fill_destination(&destination, address, port);
  ssize_t result;
  do {
    result = sendto(socket_state->base.fd, data, length, MSG_DONTWAIT, (struct sockaddr *)&destination,
                    sizeof destination);
  } while (result < 0 && errno == EINTR);
  bool ok = result >= 0;
  if (ok) {
    socket_state->sent++;
  } else if (is_queue_full(errno)) {
    socket_state->send_dropped++;
  } else {
    socket_state->send_errors++;
    socket_state->last_send_error = errno;
  }
  napi_value value = NULL;
  NAPI_CALL(env, napi_get_boolean(env, ok, &value), "send");
  return value;
}

static napi_value method_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  UdpSocket *socket_state = unwrap_this(env, info, &argc, NULL, "stats");
  if (socket_state == NULL) return NULL;
  napi_value result = NULL;
  NAPI_CALL(env, napi_create_object(env, &result), "stats");
  if (!set_number(env, result, "received", (double)socket_state->received) ||
      !set_number(env, result, "truncated", (double)socket_state->truncated) ||
      !set_number(env, result, "receiveErrors", (double)socket_state->receive_errors) ||
      !set_number(env, result, "kernelDrops", (double)socket_state->kernel_drops) ||
      !set_number(env, result, "sent", (double)socket_state->sent) ||
      !set_number(env, result, "sendErrors", (double)socket_state->send_errors) ||
      !set_number(env, result, "sendDropped", (double)socket_state->send_dropped) ||
      !set_number(env, result, "coalesced", (double)socket_state->coalesced)) {
    throw_last_napi_error(env, "stats");
    return NULL;
  }
  napi_value last_error = NULL;
  const char *name = socket_state->last_send_error != 0 ? strerrorname_np(socket_state->last_send_error) : NULL;
  if (name != NULL) {
    NAPI_CALL(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &last_error), "stats");
  } else {
    NAPI_CALL(env, napi_get_null(env, &last_error), "stats");
  }
  NAPI_CALL(env, napi_set_named_property(env, result, "lastSendError", last_error), "stats");
  return result;
}

static napi_value method_ref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  UdpSocket *socket_state = unwrap_this(env, info, &argc, NULL, "ref");
  if (socket_state == NULL) return NULL;
  set_ref(&socket_state->base, true);
  return NULL;
}

static napi_value method_unref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  UdpSocket *socket_state = unwrap_this(env, info, &argc, NULL, "unref");
  if (socket_state == NULL) return NULL;
  set_ref(&socket_state->base, false);
  return NULL;
}

static napi_value method_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  UdpSocket *socket_state = unwrap_this(env, info, &argc, NULL, "close");
  if (socket_state == NULL) return NULL;
  close_socket(&socket_state->base);
  return NULL;
}

/* ---------- constructor ---------- */

/* A new ArrayBuffer of `bytes`, referenced strongly from C, and its data pointer. */
static bool create_shared_buffer(napi_env env, size_t bytes, void **data, napi_value *value, napi_ref *ref) {
  if (napi_create_arraybuffer(env, bytes, data, value) != napi_ok) return false;
  return napi_create_reference(env, *value, 1, ref) == napi_ok;
}

static bool set_properties(napi_env env, napi_value self, UdpSocket *socket_state, uint16_t port,
                           napi_value callback) {
  napi_value rx = NULL;
  napi_value rx_meta = NULL;
  napi_value tx = NULL;
  napi_value tx_meta = NULL;
  void *data = NULL;
  if (!create_shared_buffer(env, (size_t)RX_WAKEUP_CAP * RX_SLOT_BYTES, &data, &rx, &socket_state->rx_ref)) {
    return false;
  }
  socket_state->rx = data;
  if (!create_shared_buffer(env, (size_t)RX_WAKEUP_CAP * META_WORDS * sizeof(uint32_t), &data, &rx_meta,
                            &socket_state->rx_meta_ref)) {
    return false;
  }
  socket_state->rx_meta = data;
  if (!create_shared_buffer(env, TX_BUFFER_BYTES, &data, &tx, &socket_state->tx_ref)) return false;
  socket_state->tx = data;
  if (!create_shared_buffer(env, (size_t)TX_CAPACITY * META_WORDS * sizeof(uint32_t), &data, &tx_meta,
                            &socket_state->tx_meta_ref)) {
    return false;
  }
  socket_state->tx_meta = data;
  napi_value port_value = NULL;
  napi_value receive_capacity = NULL;
  napi_value send_capacity = NULL;
  if (napi_create_uint32(env, port, &port_value) != napi_ok) return false;
  if (napi_create_uint32(env, RX_WAKEUP_CAP, &receive_capacity) != napi_ok) return false;
  if (napi_create_uint32(env, TX_CAPACITY, &send_capacity) != napi_ok) return false;
  napi_property_descriptor properties[] = {
      {"port", NULL, NULL, NULL, NULL, port_value, napi_enumerable, NULL},
      {"receiveCapacity", NULL, NULL, NULL, NULL, receive_capacity, napi_enumerable, NULL},
      {"sendCapacity", NULL, NULL, NULL, NULL, send_capacity, napi_enumerable, NULL},
      {"receiveArea", NULL, NULL, NULL, NULL, rx, napi_enumerable, NULL},
      {"receiveMeta", NULL, NULL, NULL, NULL, rx_meta, napi_enumerable, NULL},
      {"sendArea", NULL, NULL, NULL, NULL, tx, napi_enumerable, NULL},
      {"sendMeta", NULL, NULL, NULL, NULL, tx_meta, napi_enumerable, NULL},
      /* The callback lives on the object, not behind a napi_ref, so a JS cycle through it stays collectable. */
      {CALLBACK_PROPERTY, NULL, NULL, NULL, NULL, callback, napi_default, NULL},
  };
  return napi_define_properties(env, self, sizeof properties / sizeof properties[0], properties) == napi_ok;
}

static napi_value construct(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_value self = NULL;
  napi_value new_target = NULL;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL), "constructor");
  NAPI_CALL(env, napi_get_new_target(env, info, &new_target), "constructor");
  if (new_target == NULL) {
    napi_throw_type_error(env, NULL, "udp socket: UdpSocketHandle must be called with new");
    return NULL;
  }
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "udp socket: expected (address, port, netns, onEvent)");
    return NULL;
  }
  char address_text[INET_ADDRSTRLEN];
  size_t address_length = 0;
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  if (!get_string(env, argv[0], address_text, sizeof address_text, &address_length) ||
      strlen(address_text) != address_length || inet_pton(AF_INET, address_text, &address.sin_addr) != 1) {
    napi_throw_type_error(env, NULL, "udp socket: address must be an IPv4 address in dotted form");
    return NULL;
  }
  uint32_t port = 0;
  if (!get_bounded_uint(env, argv[1], 65535, &port)) {
    napi_throw_type_error(env, NULL, "udp socket: port must be an integer from 0 to 65535");
    return NULL;
  }
  address.sin_port = htons((uint16_t)port);
  char netns[NAME_MAX + 1];
  size_t netns_length = 0;
  bool use_netns = !is_nullish(env, argv[2]);
  if (use_netns && (!get_string(env, argv[2], netns, sizeof netns, &netns_length) ||
                    strlen(netns) != netns_length || !valid_netns_name(netns))) {
    napi_throw_type_error(env, NULL, "udp socket: netns must be a namespace name (no '/') or undefined");
    return NULL;
  }
  napi_valuetype callback_type;
  if (napi_typeof(env, argv[3], &callback_type) != napi_ok || callback_type != napi_function) {
    napi_throw_type_error(env, NULL, "udp socket: onEvent must be a function");
    return NULL;
  }
  bool discard = false;
  if (argc >= 5 && !is_nullish(env, argv[4]) && napi_get_value_bool(env, argv[4], &discard) != napi_ok) {
    napi_throw_type_error(env, NULL, "udp socket: discard must be a boolean or undefined");
    return NULL;
  }

  char where[64 + NAME_MAX];
  if (use_netns) snprintf(where, sizeof where, "%s port %u in netns %s", address_text, port, netns);
  else snprintf(where, sizeof where, "%s port %u", address_text, port);

  int fd = -1;
  uint16_t bound_port = 0;
  bool gso = false;
  OpenFailure failure = {NULL, 0};
  bool ok = use_netns ? open_in_namespace(netns, &address, discard, &fd, &bound_port, &gso, &failure)
                      : open_bound_socket(&address, discard, &fd, &bound_port, &gso, &failure);
  if (!ok) {
    throw_errno(env, where, failure.step, failure.err);
    return NULL;
  }

  UdpSocket *socket_state = calloc(1, sizeof *socket_state);
  if (socket_state == NULL) {
    close(fd);
    napi_throw_error(env, NULL, "udp socket: out of memory");
    return NULL;
  }
  socket_state->base.env = env;
  socket_state->base.fd = fd;
  socket_state->gso = gso;
  snprintf(socket_state->where, sizeof socket_state->where, "%s port %u", address_text, bound_port);
  socket_state->base.poll.data = socket_state;

  if (napi_wrap(env, self, socket_state, finalize_socket, NULL, NULL) != napi_ok) {
    close(fd);
    free(socket_state);
    throw_last_napi_error(env, "napi_wrap");
    return NULL;
  }
  /* From here on the finalizer owns socket_state; on failure close the fd and let GC free the rest. */
  napi_value resource_name = NULL;
  uv_loop_t *loop = NULL;
  if (!set_properties(env, self, socket_state, bound_port, argv[3]) ||
      napi_create_string_utf8(env, "UdpSocket", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, NULL, resource_name, &socket_state->base.async_context) != napi_ok ||
      napi_create_reference(env, self, 0, &socket_state->base.self) != napi_ok ||
      napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close_socket(&socket_state->base);
    throw_last_napi_error(env, "constructor");
    return NULL;
  }
  if (!start_poll(env, &socket_state->base, loop, where)) return NULL;
  return self;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"sendQueued", NULL, method_send_queued, NULL, NULL, NULL, napi_default_method, NULL},
      {"send", NULL, method_send, NULL, NULL, NULL, napi_default_method, NULL},
      {"stats", NULL, method_stats, NULL, NULL, NULL, napi_default_method, NULL},
      {"ref", NULL, method_ref, NULL, NULL, NULL, napi_default_method, NULL},
      {"unref", NULL, method_unref, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, method_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value constructor = NULL;
  NAPI_CALL(env,
            napi_define_class(env, "UdpSocketHandle", NAPI_AUTO_LENGTH, construct, NULL,
                              sizeof methods / sizeof methods[0], methods, &constructor),
            "define UdpSocketHandle");
  NAPI_CALL(env, napi_set_named_property(env, exports, "UdpSocketHandle", constructor), "export");
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
