/*
 * Helpers shared by the two socket addons (packet_socket.c, udp_socket.c): N-API error helpers, entering a network
 * namespace while opening, argument helpers, and the uv_poll / self reference / async cleanup hook lifecycle.
 *
 * Each addon is its own translation unit and shared object, so everything here is static. Before including, define
 * ADDON_NAME, the prefix of every message ("packet socket", "udp socket"), and _GNU_SOURCE (setns, strerrorname_np).
 * The including file must define the three functions declared under "lifecycle" (free_socket_state, close_socket,
 * on_readable), for its own struct whose first member is an AddonSocket.
 */
#ifndef LXC_DHCPD_ADDON_COMMON_H
#define LXC_DHCPD_ADDON_COMMON_H

#ifndef ADDON_NAME
#error "define ADDON_NAME (the message prefix) before including addon_common.h"
#endif

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

#include <sys/socket.h>

#define NETNS_DIR "/var/run/netns/"
#define CALLBACK_PROPERTY "_onEvent"

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
  snprintf(message, sizeof message, ADDON_NAME ": %s: %s", what, detail);
  napi_throw_error(env, NULL, message);
}

#define NAPI_CALL(env, call, what)          \
  do {                                      \
    if ((call) != napi_ok) {                \
      throw_last_napi_error((env), (what)); \
      return NULL;                          \
    }                                       \
  } while (0)

/* An Error "<ADDON_NAME> on <where>: <step>[: <strerror>]" with code (the errno name) and syscall (the step). */
static napi_value make_errno_error(napi_env env, const char *where, const char *step, int err) {
  char message[512];
  if (err != 0) {
    snprintf(message, sizeof message, ADDON_NAME " on %s: %s: %s", where, step, strerror(err));
  } else {
    snprintf(message, sizeof message, ADDON_NAME " on %s: %s", where, step);
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

static void throw_errno(napi_env env, const char *where, const char *step, int err) {
  napi_value error = make_errno_error(env, where, step, err);
  if (error == NULL || napi_throw(env, error) != napi_ok) throw_last_napi_error(env, step);
}

/* A failed N-API call or JS callback may have left an exception pending; it must not leak into unrelated JS later,
 * so it goes to process 'uncaughtException'. */
static void raise_pending_exception(napi_env env) {
  bool pending = false;
  napi_value exception = NULL;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
    napi_fatal_exception(env, exception);
  }
}

/* ---------- opening (runs inside the target network namespace when one is given) ---------- */

/* What failed while opening: the step and its errno (0 when the step text is the whole message). */
typedef struct {
  const char *step;
  int err;
} OpenFailure;

static bool fail(OpenFailure *failure, const char *step, int err) {
  failure->step = step;
  failure->err = err;
  return false;
}

/* The calling thread's own namespace and the one entered, both open, between enter_netns and leave_netns. */
typedef struct {
  int original;
  int target;
} NetnsSwitch;

/* Moves the calling thread into NETNS_DIR/netns; on failure it stays where it was. */
static bool enter_netns(const char *netns, NetnsSwitch *saved, OpenFailure *failure) {
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
  saved->original = original;
  saved->target = target;
  return true;
}

/* Moves the calling thread back after enter_netns; `opened` names what was opened there, for the abort message. */
static void leave_netns(const NetnsSwitch *saved, const char *netns, const char *opened) {
  if (setns(saved->original, CLONE_NEWNET) < 0) {
    /* Continuing would run the rest of the process (DNS, NAT, other sockets) in the wrong namespace. */
    fprintf(stderr, "lxc-dhcpd " ADDON_NAME ": cannot return to the original network namespace after opening %s "
                    "in netns %s: %s; aborting\n", opened, netns, strerror(errno));
    abort();
  }
  close(saved->target);
  close(saved->original);
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

static bool valid_netns_name(const char *name) {
  return strchr(name, '/') == NULL && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static bool set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value number = NULL;
  return napi_create_double(env, value, &number) == napi_ok &&
         napi_set_named_property(env, object, name, number) == napi_ok;
}

static bool is_queue_full(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

/* ---------- lifecycle ---------- */

/*
 * The part of a socket's state the lifecycle needs; each addon's own struct has it as its first member `base`, so
 * the pointer napi_wrap and poll.data hold is that of both.
 */
typedef struct {
  napi_env env;
  int fd;

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
} AddonSocket;

/* Defined by the including file, for its struct whose first member is `base`: frees it; closes the socket if open
 * (then close_base); handles readiness of the fd. */
static void free_socket_state(AddonSocket *base);
static void close_socket(AddonSocket *base);
static void on_readable(uv_poll_t *handle, int status, int events);

static void on_poll_closed(uv_handle_t *handle) {
  AddonSocket *base = handle->data;
  base->poll_closed = true;
  if (base->teardown_hook != NULL) {
    /* Also tells a waiting environment teardown that this socket is done. */
    napi_remove_async_cleanup_hook(base->teardown_hook);
    base->teardown_hook = NULL;
  }
  if (base->finalized) free_socket_state(base);
}

static void set_self_strength(AddonSocket *base, uint32_t wanted) {
  if (base->self == NULL || base->self_strength == wanted) return;
  uint32_t count = 0;
  napi_status status = wanted > base->self_strength ? napi_reference_ref(base->env, base->self, &count)
                                                    : napi_reference_unref(base->env, base->self, &count);
  if (status == napi_ok) base->self_strength = count;
}

/* Stops the poll, closes the fd and weakens the self reference; the caller has checked that fd >= 0. */
static void close_base(AddonSocket *base) {
  if (base->poll_initialized && !base->poll_closing) {
    base->poll_closing = true;
    /* uv_close stops the poll (removes the fd from epoll) before we close the fd. */
    uv_close((uv_handle_t *)&base->poll, on_poll_closed);
  }
  close(base->fd);
  base->fd = -1;
  set_self_strength(base, 0);
}

/* The finalizer's shared part, after the socket is closed: whether the struct can be freed now (else on_poll_closed
 * frees it). */
static bool finalize_base(napi_env env, AddonSocket *base) {
  base->finalized = true;
  if (base->self != NULL) {
    napi_delete_reference(env, base->self);
    base->self = NULL;
  }
  if (base->async_context != NULL) {
    napi_async_destroy(env, base->async_context);
    base->async_context = NULL;
  }
  return !base->poll_initialized || base->poll_closed;
}

/* ref() / unref(): the poll keeps the loop alive and the self reference is strong exactly while ref'd and open. */
static void set_ref(AddonSocket *base, bool ref) {
  if (base->fd >= 0 && base->poll_initialized && !base->poll_closing) {
    if (ref) uv_ref((uv_handle_t *)&base->poll);
    else uv_unref((uv_handle_t *)&base->poll);
    set_self_strength(base, ref ? 1 : 0);
  }
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

/* The constructor's last step: polls the fd for on_readable, with the teardown hook, and makes the self reference
 * strong. On failure it closes the socket, throws and returns false. */
static bool start_poll(napi_env env, AddonSocket *base, uv_loop_t *loop, const char *where) {
  int uv_status = uv_poll_init(loop, &base->poll, base->fd);
  if (uv_status == 0) {
    base->poll_initialized = true;
    if (napi_add_async_cleanup_hook(env, on_environment_teardown, base, &base->teardown_hook) != napi_ok) {
      base->teardown_hook = NULL;
      close_socket(base);
      throw_last_napi_error(env, "napi_add_async_cleanup_hook");
      return false;
    }
    uv_status = uv_poll_start(&base->poll, UV_READABLE, on_readable);
  }
  if (uv_status != 0) {
    close_socket(base);
    throw_errno(env, where, "uv_poll_start", -uv_status);
    return false;
  }
  set_self_strength(base, 1);
  return true;
}

/* ---------- events ---------- */

/* Calls onEvent(...) on the JS object; an exception it throws goes to process 'uncaughtException'. */
static void call_on_event(AddonSocket *base, napi_value self, size_t argc, napi_value *argv) {
  napi_env env = base->env;
  napi_value callback = NULL;
  napi_value ignored = NULL;
  if (napi_get_named_property(env, self, CALLBACK_PROPERTY, &callback) != napi_ok) return;
  napi_status status = napi_make_callback(env, base->async_context, self, callback, argc, argv, &ignored);
  if (status == napi_ok) return;
  raise_pending_exception(env);
}

static void deliver_error(AddonSocket *base, const char *where, napi_value self, const char *step, int err) {
  napi_value argv[1];
  argv[0] = make_errno_error(base->env, where, step, err);
  if (argv[0] != NULL) call_on_event(base, self, 1, argv);
}

/*
 * libuv reports POLLERR as UV_EBADF and stops the handle. POLLERR usually means a pending socket error (e.g. ENETDOWN
 * when a packet socket's link goes down); reading SO_ERROR clears it, so report it and poll again.
 */
static void handle_poll_error(AddonSocket *base, const char *where, napi_value self, int status) {
  int socket_error = 0;
  socklen_t length = sizeof socket_error;
  if (getsockopt(base->fd, SOL_SOCKET, SO_ERROR, &socket_error, &length) < 0 || socket_error == 0) {
    /* Not a socket error: the poll really is unusable and stays stopped. */
    uv_poll_stop(&base->poll);
    if (self != NULL) deliver_error(base, where, self, "poll", -status);
    return;
  }
  int restarted = uv_poll_start(&base->poll, UV_READABLE, on_readable);
  if (self != NULL) deliver_error(base, where, self, "socket error", socket_error);
  if (restarted != 0 && self != NULL && base->fd >= 0) {
    deliver_error(base, where, self, "uv_poll_start", -restarted);
  }
}

#endif
