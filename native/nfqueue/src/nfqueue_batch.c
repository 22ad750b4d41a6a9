/*
 * mtuscope's netfilter queue binding (Node-API). Differs from npm nfqueue in the two ways that set the checker's
 * Packet Too Big delay:
 *  - each wake-up drains every packet the socket holds (up to MAX_BATCH) and hands them to JavaScript in one call,
 *    as a Uint32Array of (id, flags, mark, length) per packet and one Buffer of their bytes, instead of one call, one
 *    turn of the event loop and an object with ten named properties per packet;
 *  - verdicts given during that call are sent once it returns, so a packet answered on the spot (a Packet Too Big sent
 *    from the callback) leaves before the batch's accepted packets are re-injected; with `verdictThread`, they are
 *    sent by a thread of their own: re-injecting an accepted packet runs the rest of the kernel's path for it (the
 *    server's TCP receive; for an outgoing packet, the device and, on a veth, everything behind it) in the sending
 *    thread, and that work then no longer holds up the next packets waiting for JavaScript. The hand-over costs a
 *    thread wake-up per batch: worth it where the answer, not the verdict, is what must be quick.
 * Verdicts given outside a batch call are sent (or handed over) at once. The verdict thread keeps the default
 * scheduling policy whatever the process's main thread runs with. A queue cannot be closed: it lives as long as the
 * process.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

#define MAX_BATCH 256
#define META_FIELDS 4
#define RECV_BUFFER (65536 + 4096)
#define FLAG_OUTPUT 1u

typedef struct {
  uint32_t id;
  uint32_t verdict;
  int64_t mark;
  unsigned char *payload;
  uint32_t length;
} pending_verdict;

/* Verdicts waiting for the verdict thread; swapped whole under the lock. */
typedef struct {
  pending_verdict *items;
  size_t count;
  size_t capacity;
} verdict_list;

typedef struct {
  napi_env env;
  napi_ref callback;
  napi_ref self;
  napi_async_context async;
  struct nfq_handle *handle;
  struct nfq_q_handle *queue;
  int fd;
  uv_poll_t poll;
  int in_batch;
  uint32_t count;
  uint32_t meta[MAX_BATCH * META_FIELDS];
  unsigned char *data;
  size_t data_length;
  size_t data_capacity;
  verdict_list batch_verdicts;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  verdict_list thread_verdicts;
  char recv_buffer[RECV_BUFFER];
} queue_state;

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int send_verdict(queue_state *q, const pending_verdict *v) {
  if (v->mark >= 0) return nfq_set_verdict2(q->queue, v->id, v->verdict, (uint32_t)v->mark, v->length, v->payload);
  return nfq_set_verdict(q->queue, v->id, v->verdict, v->length, v->payload);
}

static int list_reserve(verdict_list *list, size_t extra) {
  if (list->count + extra <= list->capacity) return 1;
  size_t capacity = list->capacity == 0 ? MAX_BATCH : list->capacity;
  while (capacity < list->count + extra) capacity *= 2;
  pending_verdict *grown = realloc(list->items, capacity * sizeof *grown);
  if (grown == NULL) return 0;
  list->items = grown;
  list->capacity = capacity;
  return 1;
}

static void send_and_clear(queue_state *q, verdict_list *list) {
  for (size_t i = 0; i < list->count; i++) {
    send_verdict(q, &list->items[i]);
    free(list->items[i].payload);
  }
  list->count = 0;
}

static void *verdict_thread(void *data) {
  queue_state *q = data;
  verdict_list local = { NULL, 0, 0 };
  for (;;) {
    pthread_mutex_lock(&q->lock);
    while (q->thread_verdicts.count == 0) pthread_cond_wait(&q->wake, &q->lock);
    verdict_list swap = q->thread_verdicts;
    q->thread_verdicts = local;
    local = swap;
    pthread_mutex_unlock(&q->lock);
    send_and_clear(q, &local);
  }
  return NULL;
}

/* Hands verdicts to the verdict thread, or sends them here: no verdict thread (not asked for, or it could not start),
 * or no memory for the hand-over. */
static void hand_over(queue_state *q, verdict_list *list) {
  if (list->count == 0) return;
  if (q->thread_started) {
    pthread_mutex_lock(&q->lock);
    int reserved = list_reserve(&q->thread_verdicts, list->count);
    if (reserved) {
      memcpy(q->thread_verdicts.items + q->thread_verdicts.count, list->items, list->count * sizeof *list->items);
      q->thread_verdicts.count += list->count;
      list->count = 0;
      pthread_cond_signal(&q->wake);
    }
    pthread_mutex_unlock(&q->lock);
    if (reserved) return;
  }
  send_and_clear(q, list);
}

static void start_verdict_thread(queue_state *q) {
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->wake, NULL);
  pthread_attr_t attributes;
  struct sched_param normal = { 0 };
  pthread_attr_init(&attributes);
  pthread_attr_setinheritsched(&attributes, PTHREAD_EXPLICIT_SCHED);
  pthread_attr_setschedpolicy(&attributes, SCHED_OTHER);
  pthread_attr_setschedparam(&attributes, &normal);
  q->thread_started = pthread_create(&q->thread, &attributes, verdict_thread, q) == 0;
  pthread_attr_destroy(&attributes);
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *message, struct nfq_data *attributes, void *data) {
  (void)message;
  queue_state *q = data;
  struct nfqnl_msg_packet_hdr *header = nfq_get_msg_packet_hdr(attributes);
  if (header == NULL) return 0;
  uint32_t id = ntohl(header->packet_id);
  unsigned char *payload = NULL;
  int length = nfq_get_payload(attributes, &payload);
  if (length < 0) length = 0;
  if (q->count == MAX_BATCH) {
    /* Never reached (one packet per message, at most MAX_BATCH messages a batch); a packet is never held. */
    nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
    return 0;
  }
  if (q->data_length + (size_t)length > q->data_capacity) {
    size_t capacity = q->data_capacity == 0 ? 65536 : q->data_capacity;
    while (capacity < q->data_length + (size_t)length) capacity *= 2;
    unsigned char *grown = realloc(q->data, capacity);
    if (grown == NULL) {
      nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
      return 0;
    }
    q->data = grown;
    q->data_capacity = capacity;
  }
  memcpy(q->data + q->data_length, payload, (size_t)length);
  q->data_length += (size_t)length;
  uint32_t *meta = q->meta + q->count * META_FIELDS;
  meta[0] = id;
  meta[1] = nfq_get_outdev(attributes) != 0 ? FLAG_OUTPUT : 0;
  meta[2] = nfq_get_nfmark(attributes);
  meta[3] = (uint32_t)length;
  q->count++;
  return 0;
}

static void deliver(queue_state *q) {
  napi_env env = q->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, self, args[3], result, meta_buffer;
  void *meta_bytes = NULL;
  size_t meta_length = (size_t)q->count * META_FIELDS * sizeof(uint32_t);
  napi_get_reference_value(env, q->callback, &callback);
  napi_get_reference_value(env, q->self, &self);
  napi_create_uint32(env, q->count, &args[0]);
  napi_create_arraybuffer(env, meta_length, &meta_bytes, &meta_buffer);
  memcpy(meta_bytes, q->meta, meta_length);
  napi_create_typedarray(env, napi_uint32_array, (size_t)q->count * META_FIELDS, meta_buffer, 0, &args[1]);
  napi_create_buffer_copy(env, q->data_length, q->data_length == 0 ? "" : (const char *)q->data, NULL, &args[2]);
  q->in_batch = 1;
  napi_status status = napi_make_callback(env, q->async, self, callback, 3, args, &result);
  q->in_batch = 0;
  hand_over(q, &q->batch_verdicts);
  if (status == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  queue_state *q = poll->data;
  /* Read even on an error status: recv returns (and so clears) the socket's error, which would otherwise wake this
   * callback again at once, for ever. */
  q->count = 0;
  q->data_length = 0;
  for (int i = 0; i < MAX_BATCH; i++) {
    ssize_t n = recv(q->fd, q->recv_buffer, sizeof q->recv_buffer, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    nfq_handle_packet(q->handle, q->recv_buffer, (int)n);
  }
  if (q->count > 0) deliver(q);
}

/* Unbinds and frees a queue that never got as far as being watched. */
static void discard(queue_state *q) {
  if (q->queue != NULL) nfq_destroy_queue(q->queue);
  nfq_close(q->handle);
  free(q);
}

static queue_state *unwrap(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return data;
}

/* open(queueNum, receiveBufferBytes, onBatch(count, meta, bytes), verdictThread) -> handle */
static napi_value open_queue(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t queue_num, buffer_size;
  napi_valuetype type;
  bool verdict_thread = false;
  if (argc < 4 || napi_get_value_uint32(env, argv[0], &queue_num) != napi_ok || queue_num > 65535) return throw_error(env, "queue number must be 0..65535");
  if (napi_get_value_bool(env, argv[3], &verdict_thread) != napi_ok) return throw_error(env, "verdictThread must be a boolean");
  if (napi_get_value_uint32(env, argv[1], &buffer_size) != napi_ok) return throw_error(env, "receive buffer size must be a number");
  napi_typeof(env, argv[2], &type);
  if (type != napi_function) return throw_error(env, "the batch callback must be a function");

  queue_state *q = calloc(1, sizeof *q);
  if (q == NULL) return throw_error(env, "out of memory");
  q->env = env;
  q->handle = nfq_open();
  if (q->handle == NULL) {
    free(q);
    return throw_error(env, "cannot open a netfilter queue handle (needs CAP_NET_ADMIN)");
  }
  q->queue = nfq_create_queue(q->handle, (uint16_t)queue_num, on_packet, q);
  if (q->queue == NULL) {
    discard(q);
    return throw_error(env, "the kernel refused it (is another process bound to it?)");
  }
  if (nfq_set_mode(q->queue, NFQNL_COPY_PACKET, 0xffff) < 0) {
    discard(q);
    return throw_error(env, "cannot set the netfilter queue to copy packets");
  }
  nfnl_rcvbufsiz(nfq_nfnlh(q->handle), buffer_size);
  q->fd = nfq_fd(q->handle);
  /* A full socket then drops packets (counted by the kernel) instead of failing every later recv with ENOBUFS. */
  int on = 1;
  setsockopt(q->fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &on, sizeof on);

  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  q->poll.data = q;
  if (uv_poll_init_socket(loop, &q->poll, q->fd) != 0) {
    discard(q);
    return throw_error(env, "cannot watch the netfilter queue socket");
  }
  if (uv_poll_start(&q->poll, UV_READABLE, on_readable) != 0) {
    /* The handle is the loop's now: q stays allocated, unused. */
    return throw_error(env, "cannot watch the netfilter queue socket");
  }
  if (verdict_thread) start_verdict_thread(q);

  /* Never freed: the queue cannot be closed, and lives as long as the process (src/host/packet-queue.ts). */
  napi_value handle, name;
  napi_create_external(env, q, NULL, NULL, &handle);
  napi_create_reference(env, handle, 1, &q->self);
  napi_create_reference(env, argv[2], 1, &q->callback);
  napi_create_string_utf8(env, "mtuscope:nfqueue", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, handle, name, &q->async);
  return handle;
}

/* verdict(handle, id, verdict, mark (-1: leave it), bytes or null) */
static napi_value set_verdict(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return throw_error(env, "verdict needs (handle, id, verdict, mark, bytes)");
  queue_state *q = unwrap(env, argv[0]);
  uint32_t id, verdict;
  int64_t mark;
  if (q == NULL) return throw_error(env, "not a queue handle");
  if (napi_get_value_uint32(env, argv[1], &id) != napi_ok || napi_get_value_uint32(env, argv[2], &verdict) != napi_ok ||
      napi_get_value_int64(env, argv[3], &mark) != napi_ok) {
    return throw_error(env, "packet id, verdict and mark must be numbers");
  }
  void *bytes = NULL;
  size_t length = 0;
  bool is_buffer = false;
  napi_is_buffer(env, argv[4], &is_buffer);
  if (is_buffer) napi_get_buffer_info(env, argv[4], &bytes, &length);
  unsigned char *copy = NULL;
  if (length > 0) {
    copy = malloc(length);
    if (copy == NULL) return throw_error(env, "out of memory");
    memcpy(copy, bytes, length);
  }
  pending_verdict v = { id, verdict, mark, copy, (uint32_t)length };
  if (q->in_batch && list_reserve(&q->batch_verdicts, 1)) {
    q->batch_verdicts.items[q->batch_verdicts.count++] = v;
    return NULL;
  }
  verdict_list single = { &v, 1, 1 };
  hand_over(q, &single);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
    { "open", NULL, open_queue, NULL, NULL, NULL, napi_enumerable, NULL },
    { "verdict", NULL, set_verdict, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}
