/*
 * AF_PACKET socket for lxc-dhcpd: receives filtered Ethernet frames on one interface and sends whole frames back out.
 *
 * Exports one class, PacketSocketHandle(ifname, filter, netns, onEvent, bridgePorts). With bridgePorts false the
 * socket is bound to ifname; with true it receives on every interface of its namespace (so each frame reports the
 * bridge port it came in on) and sends on ifname. A netlink route socket opened in the same namespace answers which
 * interfaces are ports of ifname and what ifname looks like now. The TypeScript wrapper in src/wire/packet-socket.ts
 * is the only intended caller; docs/wire.md describes the design.
 */
#define _GNU_SOURCE
#define ADDON_NAME "packet socket"
#include "addon_common.h"

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
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

/* recvmmsg batch size, and how many frames one wakeup may read before yielding to the rest of the event loop. */
#define RX_BATCH 64
#define RX_WAKEUP_CAP 512
#define TX_BATCH 64
/* Room for two VLAN tags on top of MTU + Ethernet header. */
#define FRAME_OVERHEAD (ETH_HLEN + 8)
#define RECEIVE_BUFFER_BYTES (4 * 1024 * 1024)
/* Upper bound for draining the queue after bind, so a flood cannot stall open(). */
#define DRAIN_LIMIT 100000
/* Values per received frame in the meta array: length, sll_pkttype, sll_ifindex. */
#define META_PER_FRAME 3
/* Netlink answers are read into this buffer; a link message with stats is about 1.5 KiB, the kernel sends dump parts
 * of up to 32 KiB (or a page when the reader's buffer is smaller). */
#define NETLINK_BUFFER_BYTES (64 * 1024)
/* A netlink query is synchronous: the kernel answers at once, the timeout only guards against a lost answer. */
#define NETLINK_TIMEOUT_MS 1000
/* The kernel's own limit on ports per bridge (BR_MAX_PORTS); a longer answer is cut there. */
#define MAX_BRIDGE_PORTS 1024

typedef struct {
  /* fd, poll handle, self reference, async context: see addon_common.h. First, so a PacketSocket * is an
   * AddonSocket *. */
  AddonSocket base;
  int ifindex;
  unsigned int mtu;
  char ifname[IF_NAMESIZE];
  /* Bound to every interface (true) or to ifindex; when true, sends go to ifindex by address. */
  bool all_interfaces;
  /* NETLINK_ROUTE socket of the same namespace, for bridgePorts() and link(); -1 when closed. */
  int netlink_fd;
  uint32_t netlink_seq;

  size_t slot_size;
  unsigned char *slots;
  struct mmsghdr msgs[RX_BATCH];
  struct iovec iovs[RX_BATCH];
  struct sockaddr_ll addrs[RX_BATCH];

  /* Frames of one wakeup, packed back to back, and their [length, pkttype, ifindex] triples. */
  unsigned char *pending;
  size_t pending_capacity;
  uint32_t pending_meta[RX_WAKEUP_CAP * META_PER_FRAME];

  uint64_t kernel_packets;
  uint64_t kernel_drops;
  uint64_t truncated;
} PacketSocket;

typedef struct {
  int fd;
  int netlink_fd;
  int ifindex;
  unsigned int mtu;
  unsigned char mac[ETH_ALEN];
} OpenedSocket;

/* ---------- opening the socket (runs inside the target network namespace when one is given) ---------- */

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

/*
 * First half of opening, the part that depends on the namespace: the interface's index, MAC and MTU, a packet socket
 * that receives nothing yet, and (for a socket on all interfaces) a netlink route socket. Both sockets keep the
 * namespace they were created in.
 */
static bool open_unbound_socket(const char *ifname, bool with_netlink, OpenedSocket *out, OpenFailure *failure) {
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

  int netlink_fd = -1;
  if (with_netlink) {
    netlink_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (netlink_fd < 0) {
      int err = errno;
      close(fd);
      return fail(failure, "netlink socket", err);
    }
    struct timeval timeout = {NETLINK_TIMEOUT_MS / 1000, (NETLINK_TIMEOUT_MS % 1000) * 1000};
    /* Without it a lost answer would block the event loop; failure leaves the (blocking) default. */
    (void)setsockopt(netlink_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }

  out->fd = fd;
  out->netlink_fd = netlink_fd;
  out->ifindex = (int)ifindex;
  return true;
}

/*
 * Second half, independent of the namespace (the socket carries its own): filter, buffer size, bind. With
 * all_interfaces the socket is bound to ifindex 0 and sees the frames of every interface of its namespace, each with
 * the ifindex it arrived on; PACKET_IGNORE_OUTGOING (Linux 4.20) keeps the kernel from even copying transmitted frames
 * to it (the filter rejects them as well, for older kernels).
 */
static bool attach_and_bind(OpenedSocket *opened, const struct sock_fprog *program, bool all_interfaces,
                            OpenFailure *failure) {
  int fd = opened->fd;
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, program, sizeof *program) < 0) {
    return fail(failure, "SO_ATTACH_FILTER", errno);
  }
  enlarge_receive_buffer(fd);
  if (all_interfaces) {
    int on = 1;
    /* Only a saving: the filter rejects PACKET_OUTGOING anyway. */
    (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof on);
  }

  struct sockaddr_ll address;
  memset(&address, 0, sizeof address);
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = all_interfaces ? 0 : opened->ifindex;
  if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) return fail(failure, "bind", errno);
  /* Belt and braces: nothing unfiltered can be queued (see socket() above), but a kernel that hooked the socket
   * early would have queued frames from any interface. */
  drain_queue(fd);
  return true;
}

static void close_opened(OpenedSocket *opened) {
  close(opened->fd);
  if (opened->netlink_fd >= 0) close(opened->netlink_fd);
}

static bool open_in_namespace(const char *netns, const char *ifname, bool with_netlink, OpenedSocket *out,
                              OpenFailure *failure) {
  NetnsSwitch saved;
  if (!enter_netns(netns, &saved, failure)) return false;
  bool opened = open_unbound_socket(ifname, with_netlink, out, failure);
  leave_netns(&saved, netns, ifname);
  return opened;
}

/* ---------- netlink queries (in the socket's own namespace) ---------- */

/* What a link message says about one interface. */
typedef struct {
  int ifindex;
  int master; /* 0: none */
  unsigned int mtu;
  unsigned int flags;
  int port_state; /* IFLA_BRPORT_STATE of a bridge port (BR_STATE_*), -1 when the message has none */
} LinkInfo;

/* IFLA_LINKINFO -> IFLA_INFO_SLAVE_DATA -> IFLA_BRPORT_STATE: the bridge port's STP state, or -1. */
static int bridge_port_state(const struct rtattr *linkinfo) {
  int remaining = (int)RTA_PAYLOAD(linkinfo);
  for (const struct rtattr *info = RTA_DATA(linkinfo); RTA_OK(info, remaining); info = RTA_NEXT(info, remaining)) {
    if (info->rta_type != IFLA_INFO_SLAVE_DATA) continue;
    int left = (int)RTA_PAYLOAD(info);
    for (const struct rtattr *port = RTA_DATA(info); RTA_OK(port, left); port = RTA_NEXT(port, left)) {
      if (port->rta_type == IFLA_BRPORT_STATE && RTA_PAYLOAD(port) >= 1) return *(const uint8_t *)RTA_DATA(port);
    }
  }
  return -1;
}

static void parse_link(const struct nlmsghdr *header, LinkInfo *link) {
  const struct ifinfomsg *info = NLMSG_DATA(header);
  memset(link, 0, sizeof *link);
  link->ifindex = info->ifi_index;
  link->flags = info->ifi_flags;
  link->port_state = -1;
  int remaining = (int)IFLA_PAYLOAD(header);
  for (const struct rtattr *attr = IFLA_RTA(info); RTA_OK(attr, remaining); attr = RTA_NEXT(attr, remaining)) {
    if (attr->rta_type == IFLA_LINKINFO) {
      link->port_state = bridge_port_state(attr);
      continue;
    }
    if (RTA_PAYLOAD(attr) < sizeof(uint32_t)) continue;
    uint32_t value;
    memcpy(&value, RTA_DATA(attr), sizeof value);
    if (attr->rta_type == IFLA_MASTER) link->master = (int)value;
    else if (attr->rta_type == IFLA_MTU) link->mtu = value;
  }
}

typedef void (*LinkVisitor)(const LinkInfo *link, void *context);

/*
 * Sends an RTM_GETLINK request (a dump when `dump`; else for `ifindex`, or when that is 0 for the name in the
 * attribute) with one attribute and calls `visit` for every link in the answer. Returns 0 or an errno (ENODEV when
 * the link does not exist).
 */
static int query_links(PacketSocket *socket_state, bool dump, int ifindex, unsigned short attr_type,
                       const void *attr_data, size_t attr_length, LinkVisitor visit, void *context) {
  struct {
    struct nlmsghdr header;
    struct ifinfomsg info;
    char attrs[RTA_SPACE(IF_NAMESIZE) + RTA_SPACE(sizeof(uint32_t))];
  } request;
  if (RTA_SPACE(attr_length) > RTA_SPACE(IF_NAMESIZE)) return EINVAL;
  memset(&request, 0, sizeof request);
  uint32_t seq = ++socket_state->netlink_seq;
  size_t first = attr_type != 0 ? RTA_SPACE(attr_length) : 0; /* attr_type 0: no attribute but the mask */
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof request.info) + first + RTA_SPACE(sizeof(uint32_t));
  request.header.nlmsg_type = RTM_GETLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
  request.header.nlmsg_seq = seq;
  request.info.ifi_family = AF_UNSPEC;
  request.info.ifi_index = ifindex;
  if (attr_type != 0) {
    struct rtattr *attr = (struct rtattr *)request.attrs;
    attr->rta_type = attr_type;
    attr->rta_len = RTA_LENGTH(attr_length);
    memcpy(RTA_DATA(attr), attr_data, attr_length);
  }
  /* Without the counters each link message is about half as long and cheaper for the kernel to fill. */
  struct rtattr *mask = (struct rtattr *)(request.attrs + first);
  mask->rta_type = IFLA_EXT_MASK;
  mask->rta_len = RTA_LENGTH(sizeof(uint32_t));
  uint32_t skip_stats = RTEXT_FILTER_SKIP_STATS;
  memcpy(RTA_DATA(mask), &skip_stats, sizeof skip_stats);

  int fd = socket_state->netlink_fd;
  ssize_t sent;
  do {
    sent = send(fd, &request, request.header.nlmsg_len, 0);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return errno;

  static _Thread_local unsigned char buffer[NETLINK_BUFFER_BYTES] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (;;) {
    ssize_t length = recv(fd, buffer, sizeof buffer, 0);
    if (length < 0 && errno == EINTR) continue;
    if (length < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
    int remaining = (int)length;
    for (struct nlmsghdr *header = (struct nlmsghdr *)buffer; NLMSG_OK(header, remaining);
         header = NLMSG_NEXT(header, remaining)) {
      if (header->nlmsg_seq != seq) continue; /* an answer to an earlier query that timed out */
      if (header->nlmsg_type == NLMSG_DONE) return 0;
      if (header->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *error = NLMSG_DATA(header);
        if (header->nlmsg_len < NLMSG_LENGTH(sizeof *error)) return EPROTO;
        return error->error == 0 ? 0 : -error->error;
      }
      if (header->nlmsg_type != RTM_NEWLINK || header->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg))) continue;
      LinkInfo link;
      parse_link(header, &link);
      visit(&link, context);
      if (!dump) return 0;
    }
  }
}

/* A port of the bridge that passes frames to the host (see collect_port). */
static bool is_forwarding_port(const LinkInfo *link, int bridge) {
  return link->ifindex > 0 && link->master == bridge &&
         (link->port_state == -1 || link->port_state == BR_STATE_FORWARDING);
}

typedef struct {
  int bridge;
  int ports[MAX_BRIDGE_PORTS];
  size_t count;
} PortList;

static void collect_port(const LinkInfo *link, void *context) {
  PortList *list = context;
  /* The kernel filters the dump by IFLA_MASTER; checked again in case an old kernel ignored the filter. */
  /* Only a forwarding port passes frames to the host: one that is disabled (it or the bridge is down), blocked by STP
   * or still listening/learning has its frames dropped by the bridge, which runs after our tap saw them. */
  if (!is_forwarding_port(link, list->bridge) || list->count >= MAX_BRIDGE_PORTS) return;
  list->ports[list->count++] = link->ifindex;
}

static void keep_link(const LinkInfo *link, void *context) { *(LinkInfo *)context = *link; }
/* ---------- lifecycle ---------- */

static void free_socket_state(AddonSocket *base) {
  PacketSocket *socket_state = (PacketSocket *)base;
  free(socket_state->slots);
  free(socket_state->pending);
  free(socket_state);
}

/* The kernel resets PACKET_STATISTICS on every read, so keep running totals. */
static bool accumulate_kernel_stats(PacketSocket *socket_state) {
  struct tpacket_stats kernel_stats;
  socklen_t length = sizeof kernel_stats;
  if (getsockopt(socket_state->base.fd, SOL_PACKET, PACKET_STATISTICS, &kernel_stats, &length) < 0) return false;
  socket_state->kernel_packets += kernel_stats.tp_packets;
  socket_state->kernel_drops += kernel_stats.tp_drops;
  return true;
}

static void close_socket(AddonSocket *base) {
  if (base->fd < 0) return;
  PacketSocket *socket_state = (PacketSocket *)base;
  if (socket_state->netlink_fd >= 0) {
    close(socket_state->netlink_fd);
    socket_state->netlink_fd = -1;
  }
  /* Keep the final counts for stats() after close; a failure here only loses them. */
  (void)accumulate_kernel_stats((PacketSocket *)base);
  close_base(base);
}

static void finalize_socket(napi_env env, void *data, void *hint) {
  (void)hint;
  PacketSocket *socket_state = data;
  close_socket(&socket_state->base);
  if (finalize_base(env, &socket_state->base)) free_socket_state(&socket_state->base);
}

/* ---------- receiving ---------- */

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
    int count = recvmmsg(socket_state->base.fd, socket_state->msgs, wanted, MSG_DONTWAIT, NULL);
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
      uint32_t *meta = &socket_state->pending_meta[result.frames * META_PER_FRAME];
      meta[0] = (uint32_t)length;
      meta[1] = socket_state->addrs[i].sll_pkttype;
      meta[2] = (uint32_t)socket_state->addrs[i].sll_ifindex;
      result.frames++;
      result.bytes += length;
    }
    frames_read += (size_t)count;
    if ((unsigned int)count < wanted) break; /* the queue is empty; skip the syscall that would say EAGAIN */
  }
  return result;
}

static void deliver_frames(PacketSocket *socket_state, napi_value self, const ReceiveResult *received) {
  napi_env env = socket_state->base.env;
  napi_value argv[3];
  void *meta_bytes = NULL;
  napi_value meta_buffer = NULL;
  size_t meta_length = received->frames * META_PER_FRAME;
  if (napi_get_null(env, &argv[0]) != napi_ok) return;
  if (napi_create_buffer_copy(env, received->bytes, socket_state->pending, NULL, &argv[1]) != napi_ok) return;
  if (napi_create_arraybuffer(env, meta_length * sizeof(uint32_t), &meta_bytes, &meta_buffer) != napi_ok) return;
  memcpy(meta_bytes, socket_state->pending_meta, meta_length * sizeof(uint32_t));
  if (napi_create_typedarray(env, napi_uint32_array, meta_length, meta_buffer, 0, &argv[2]) != napi_ok) return;
  /* onEvent(error, data, meta) */
  call_on_event(&socket_state->base, self, 3, argv);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  PacketSocket *socket_state = handle->data;
  if (socket_state->base.fd < 0) return;
  napi_env env = socket_state->base.env;
  napi_handle_scope scope = NULL;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;

  napi_value self = NULL;
  if (socket_state->base.self != NULL && napi_get_reference_value(env, socket_state->base.self, &self) != napi_ok) {
    self = NULL;
  }

  if (status < 0) {
    handle_poll_error(&socket_state->base, socket_state->ifname, self, status);
  } else {
    ReceiveResult received = receive_wakeup(socket_state);
    /* self is NULL when the JS object was collected and its finalizer has not run yet: the frames are dropped. */
    if (self != NULL && received.frames > 0) deliver_frames(socket_state, self, &received);
    /* onFrames may have closed the socket; a pending error is no longer interesting then. */
    if (self != NULL && received.err != 0 && socket_state->base.fd >= 0) {
      deliver_error(&socket_state->base, socket_state->ifname, self, "recvmmsg", received.err);
    }
  }
  /* A failed N-API call above may have left an exception pending; it must not leak into unrelated JS later. */
  raise_pending_exception(env);
  napi_close_handle_scope(env, scope);
}

/* ---------- argument helpers ---------- */

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
  if (socket_state->base.fd >= 0) return true;
  char message[128];
  snprintf(message, sizeof message, "packet socket on %s: %s: socket is closed", socket_state->ifname, method);
  napi_throw_error(env, "ERR_SOCKET_CLOSED", message);
  return false;
}

/* bridgePorts() and link() need the netlink socket, which only a socket opened on all interfaces has. */
static bool require_netlink(napi_env env, PacketSocket *socket_state, const char *method) {
  if (socket_state->netlink_fd >= 0) return true;
  char message[160];
  snprintf(message, sizeof message, "packet socket on %s: %s: only a socket opened with bridgePorts can tell",
           socket_state->ifname, method);
  napi_throw_error(env, "ERR_INVALID_STATE", message);
  return false;
}

/* ---------- methods ---------- */

/* Where a frame goes: bound sockets send on their interface; one bound to all interfaces names ifindex each time. */
static void set_destination(const PacketSocket *socket_state, struct sockaddr_ll *address, struct msghdr *header) {
  if (!socket_state->all_interfaces) return;
  memset(address, 0, sizeof *address);
  address->sll_family = AF_PACKET;
  address->sll_protocol = htons(ETH_P_ALL); /* the kernel reads the EtherType from the frame */
  address->sll_ifindex = socket_state->ifindex;
  header->msg_name = address;
  header->msg_namelen = sizeof *address;
}

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
  struct iovec iov = {data, length};
  struct msghdr header;
  struct sockaddr_ll destination;
  memset(&header, 0, sizeof header);
  header.msg_iov = &iov;
  header.msg_iovlen = 1;
  set_destination(socket_state, &destination, &header);
  ssize_t sent;
  do {
    sent = sendmsg(socket_state->base.fd, &header, MSG_DONTWAIT);
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

  uint32_t next = 0; /* index of the next frame to try */
  uint32_t sent = 0;
  int failure = 0;
  struct sockaddr_ll destination;
  while (next < total) {
    struct mmsghdr msgs[TX_BATCH];
    unsigned int batch = total - next < TX_BATCH ? total - next : TX_BATCH;
    memset(msgs, 0, sizeof(struct mmsghdr) * batch);
    for (unsigned int i = 0; i < batch; i++) {
      msgs[i].msg_hdr.msg_iov = &iovs[next + i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      set_destination(socket_state, &destination, &msgs[i].msg_hdr);
    }
    int count = sendmmsg(socket_state->base.fd, msgs, batch, MSG_DONTWAIT);
    if (count < 0) {
      if (errno == EINTR) continue;
      if (errno == EMSGSIZE) {
        /* This one frame is larger than the interface's MTU now (it was lowered): skip it, send the rest. */
        failure = EMSGSIZE;
        next++;
        continue;
      }
      if (!is_queue_full(errno)) failure = errno;
      break;
    }
    sent += (uint32_t)count;
    next += (uint32_t)count;
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

static napi_value method_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  PacketSocket *socket_state = unwrap_this(env, info, &argc, NULL, "stats");
  if (socket_state == NULL) return NULL;
  if (socket_state->base.fd >= 0 && !accumulate_kernel_stats(socket_state)) {
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

/* bridgePorts(): the ifindexes whose master is this socket's interface now (an RTM_GETLINK dump filtered by
 * IFLA_MASTER, in the socket's namespace). */
static napi_value method_bridge_ports(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  PacketSocket *socket_state = unwrap_this(env, info, &argc, NULL, "bridgePorts");
  if (socket_state == NULL) return NULL;
  if (!require_open(env, socket_state, "bridgePorts") || !require_netlink(env, socket_state, "bridgePorts")) return NULL;
  PortList *list = malloc(sizeof *list);
  if (list == NULL) {
    napi_throw_error(env, NULL, "packet socket: bridgePorts: out of memory");
    return NULL;
  }
  list->bridge = socket_state->ifindex;
  list->count = 0;
  uint32_t master = (uint32_t)socket_state->ifindex;
  int err = query_links(socket_state, true, 0, IFLA_MASTER, &master, sizeof master, collect_port, list);
  if (err != 0) {
    free(list);
    throw_errno(env, socket_state->ifname, "netlink RTM_GETLINK dump", err);
    return NULL;
  }
  napi_value result = NULL;
  if (napi_create_array_with_length(env, list->count, &result) != napi_ok) {
    free(list);
    throw_last_napi_error(env, "bridgePorts");
    return NULL;
  }
  for (size_t i = 0; i < list->count; i++) {
    napi_value port = NULL;
    if (napi_create_int32(env, list->ports[i], &port) != napi_ok ||
        napi_set_element(env, result, (uint32_t)i, port) != napi_ok) {
      free(list);
      throw_last_napi_error(env, "bridgePorts");
      return NULL;
    }
  }
  free(list);
  return result;
}

/* isPort(ifindex): whether that one interface is a forwarding port of this socket's interface now (one RTM_GETLINK
 * for it: its cost does not grow with the number of ports, unlike bridgePorts()). */
static napi_value method_is_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  PacketSocket *socket_state = unwrap_this(env, info, &argc, argv, "isPort");
  if (socket_state == NULL) return NULL;
  int32_t ifindex = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &ifindex) != napi_ok) {
    napi_throw_type_error(env, NULL, "packet socket: isPort(ifindex): ifindex must be a number");
    return NULL;
  }
  if (!require_open(env, socket_state, "isPort") || !require_netlink(env, socket_state, "isPort")) return NULL;
  LinkInfo link;
  memset(&link, 0, sizeof link);
  int err = ifindex > 0 ? query_links(socket_state, false, ifindex, 0, NULL, 0, keep_link, &link)
                        : ENODEV;
  if (err != 0 && err != ENODEV) {
    throw_errno(env, socket_state->ifname, "netlink RTM_GETLINK", err);
    return NULL;
  }
  napi_value result = NULL;
  NAPI_CALL(env, napi_get_boolean(env, err == 0 && is_forwarding_port(&link, socket_state->ifindex), &result), "isPort");
  return result;
}

/* link(): {ifindex, mtu, up} of the interface named ifname now, or null when there is none (it was deleted). */
static napi_value method_link(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  PacketSocket *socket_state = unwrap_this(env, info, &argc, NULL, "link");
  if (socket_state == NULL) return NULL;
  if (!require_open(env, socket_state, "link") || !require_netlink(env, socket_state, "link")) return NULL;
  LinkInfo link;
  memset(&link, 0, sizeof link);
  int err = query_links(socket_state, false, 0, IFLA_IFNAME, socket_state->ifname, strlen(socket_state->ifname) + 1,
                        keep_link, &link);
  napi_value result = NULL;
  if (err == ENODEV || (err == 0 && link.ifindex == 0)) {
    NAPI_CALL(env, napi_get_null(env, &result), "link");
    return result;
  }
  if (err != 0) {
    throw_errno(env, socket_state->ifname, "netlink RTM_GETLINK", err);
    return NULL;
  }
  napi_value up = NULL;
  NAPI_CALL(env, napi_create_object(env, &result), "link");
  NAPI_CALL(env, napi_get_boolean(env, (link.flags & IFF_UP) != 0, &up), "link");
  if (!set_number(env, result, "ifindex", link.ifindex) || !set_number(env, result, "mtu", link.mtu) ||
      napi_set_named_property(env, result, "up", up) != napi_ok) {
    throw_last_napi_error(env, "link");
    return NULL;
  }
  return result;
}

static napi_value method_ref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  PacketSocket *socket_state = unwrap_this(env, info, &argc, NULL, "ref");
  if (socket_state == NULL) return NULL;
  set_ref(&socket_state->base, true);
  return NULL;
}

static napi_value method_unref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  PacketSocket *socket_state = unwrap_this(env, info, &argc, NULL, "unref");
  if (socket_state == NULL) return NULL;
  set_ref(&socket_state->base, false);
  return NULL;
}

static napi_value method_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  PacketSocket *socket_state = unwrap_this(env, info, &argc, NULL, "close");
  if (socket_state == NULL) return NULL;
  close_socket(&socket_state->base);
  return NULL;
}

/* ---------- constructor ---------- */

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

/* The filter argument: a Buffer, or a function of the interface's ifindex that returns one (a program that names the
 * interface, built once its index in the socket's namespace is known). */
static bool get_filter(napi_env env, napi_value value, int ifindex, void **data, size_t *length) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return false;
  if (type == napi_function) {
    napi_value global = NULL;
    napi_value argument = NULL;
    if (napi_get_global(env, &global) != napi_ok || napi_create_int32(env, ifindex, &argument) != napi_ok ||
        napi_call_function(env, global, value, 1, &argument, &value) != napi_ok) {
      return false;
    }
  }
  return get_buffer(env, value, data, length) && *length > 0 && *length % sizeof(struct sock_filter) == 0 &&
         *length / sizeof(struct sock_filter) <= BPF_MAXINSNS;
}

static napi_value construct(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_value self = NULL;
  napi_value new_target = NULL;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL), "constructor");
  NAPI_CALL(env, napi_get_new_target(env, info, &new_target), "constructor");
  if (new_target == NULL) {
    napi_throw_type_error(env, NULL, "packet socket: PacketSocketHandle must be called with new");
    return NULL;
  }
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "packet socket: expected (ifname, filter, netns, onEvent[, allInterfaces])");
    return NULL;
  }
  char ifname[IF_NAMESIZE];
  size_t ifname_length = 0;
  if (!get_string(env, argv[0], ifname, sizeof ifname, &ifname_length) || strlen(ifname) != ifname_length) {
    napi_throw_type_error(env, NULL, "packet socket: ifname must be a non-empty string shorter than 16 bytes");
    return NULL;
  }
  napi_valuetype filter_type;
  bool is_buffer = false;
  if (napi_typeof(env, argv[1], &filter_type) != napi_ok || napi_is_buffer(env, argv[1], &is_buffer) != napi_ok ||
      (filter_type != napi_function && !is_buffer)) {
    napi_throw_type_error(env, NULL, "packet socket: filter must be a Buffer or a function returning one");
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
  bool all_interfaces = false;
  if (argc >= 5 && !is_nullish(env, argv[4]) && napi_get_value_bool(env, argv[4], &all_interfaces) != napi_ok) {
    napi_throw_type_error(env, NULL, "packet socket: allInterfaces must be a boolean or undefined");
    return NULL;
  }

  OpenedSocket opened;
  OpenFailure failure = {NULL, 0};
  memset(&opened, 0, sizeof opened);
  bool ok = use_netns ? open_in_namespace(netns, ifname, all_interfaces, &opened, &failure)
                      : open_unbound_socket(ifname, all_interfaces, &opened, &failure);
  if (ok) {
    void *filter_data = NULL;
    size_t filter_length = 0;
    if (!get_filter(env, argv[1], opened.ifindex, &filter_data, &filter_length)) {
      close_opened(&opened);
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return NULL;
      napi_throw_type_error(env, NULL,
                            "packet socket: filter must be 1 to 4096 classic BPF instructions (8 bytes each)");
      return NULL;
    }
    /* Buffer memory has no alignment guarantee; the kernel reads sock_filter structs from this copy. */
    struct sock_filter *instructions = malloc(filter_length);
    if (instructions == NULL) {
      close_opened(&opened);
      napi_throw_error(env, NULL, "packet socket: out of memory");
      return NULL;
    }
    memcpy(instructions, filter_data, filter_length);
    struct sock_fprog program = {(unsigned short)(filter_length / sizeof(struct sock_filter)), instructions};
    ok = attach_and_bind(&opened, &program, all_interfaces, &failure);
    free(instructions);
    if (!ok) close_opened(&opened);
  }
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
    close_opened(&opened);
    napi_throw_error(env, NULL, "packet socket: out of memory");
    return NULL;
  }
  socket_state->base.env = env;
  socket_state->base.fd = opened.fd;
  socket_state->netlink_fd = opened.netlink_fd;
  socket_state->all_interfaces = all_interfaces;
  socket_state->ifindex = opened.ifindex;
  socket_state->mtu = opened.mtu;
  memcpy(socket_state->ifname, ifname, ifname_length + 1);
  socket_state->slot_size = slot_size;
  socket_state->slots = slots;
  socket_state->base.poll.data = socket_state;

  if (napi_wrap(env, self, socket_state, finalize_socket, NULL, NULL) != napi_ok) {
    close_opened(&opened);
    free_socket_state(&socket_state->base);
    throw_last_napi_error(env, "napi_wrap");
    return NULL;
  }
  /* From here on the finalizer owns socket_state; on failure close the fd and let GC free the rest. */
  napi_value resource_name = NULL;
  uv_loop_t *loop = NULL;
  if (!set_readonly_properties(env, self, &opened, argv[3]) ||
      napi_create_string_utf8(env, "PacketSocket", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, NULL, resource_name, &socket_state->base.async_context) != napi_ok ||
      napi_create_reference(env, self, 0, &socket_state->base.self) != napi_ok ||
      napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close_socket(&socket_state->base);
    throw_last_napi_error(env, "constructor");
    return NULL;
  }
  if (!start_poll(env, &socket_state->base, loop, ifname)) return NULL;
  return self;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"send", NULL, method_send, NULL, NULL, NULL, napi_default_method, NULL},
      {"sendMany", NULL, method_send_many, NULL, NULL, NULL, napi_default_method, NULL},
      {"stats", NULL, method_stats, NULL, NULL, NULL, napi_default_method, NULL},
      {"bridgePorts", NULL, method_bridge_ports, NULL, NULL, NULL, napi_default_method, NULL},
      {"link", NULL, method_link, NULL, NULL, NULL, napi_default_method, NULL},
      {"isPort", NULL, method_is_port, NULL, NULL, NULL, napi_default_method, NULL},
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
