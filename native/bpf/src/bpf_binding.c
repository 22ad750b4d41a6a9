/*
 * mtuscope's loader for its BPF programs (Node-API over libbpf): loads an object, attaches its programs to interfaces
 * through tcx links, reads and writes its maps by name, sums per-CPU counters and drains a ring buffer. The links and
 * maps are file descriptors of this process: when it ends, however it ends, the kernel detaches the programs and frees
 * the maps, so nothing is left on the host. What each program means is the TypeScript side's (src/host/bpf-object.ts).
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* Kernel 6.6's tcx attach types; the system's headers may predate them. */
#define ATTACH_TCX_INGRESS 46
#define ATTACH_TCX_EGRESS 47
#define MAX_LINKS 256
#define LOG_SIZE 4096
#define NAME_SIZE 64
/* Where consume() starts copying records to; it grows while producers keep up with it. */
#define DRAIN_INITIAL (1u << 20)

typedef struct {
  struct bpf_object *object;
  int links[MAX_LINKS];
  int link_count;
  struct ring_buffer *ring;
  unsigned char *drained;
  size_t drained_length;
  size_t drained_size;
} bpf_state;

/* What libbpf said while loading, its end (where the verifier's complaint is, if any), for the error message. */
static char load_log[LOG_SIZE];
static size_t load_log_length;

static int keep_log(enum libbpf_print_level level, const char *format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  va_list measure;
  va_copy(measure, args);
  int n = vsnprintf(NULL, 0, format, measure);
  va_end(measure);
  if (n <= 0) return 0;
  char *text = malloc((size_t)n + 1);
  if (text == NULL) return 0;
  vsnprintf(text, (size_t)n + 1, format, args);
  /* The verifier's log comes as one message, its complaint at the end: keep the end of everything. */
  size_t length = (size_t)n < LOG_SIZE - 1 ? (size_t)n : LOG_SIZE - 1;
  const char *tail = text + (size_t)n - length;
  size_t keep = load_log_length + length < LOG_SIZE ? load_log_length : LOG_SIZE - 1 - length;
  memmove(load_log, load_log + load_log_length - keep, keep);
  memcpy(load_log + keep, tail, length);
  load_log_length = keep + length;
  load_log[load_log_length] = 0;
  free(text);
  return 0;
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[LOG_SIZE + 256];
  snprintf(message, sizeof message, "%s: %s%s%s", what, strerror(err), load_log_length > 0 ? "\n" : "", load_log);
  load_log_length = 0;
  load_log[0] = 0;
  return throw_error(env, message);
}

static void release(bpf_state *b) {
  if (b->ring != NULL) ring_buffer__free(b->ring);
  b->ring = NULL;
  free(b->drained);
  b->drained = NULL;
  for (int i = 0; i < b->link_count; i++) close(b->links[i]);
  b->link_count = 0;
  if (b->object != NULL) bpf_object__close(b->object);
  b->object = NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release(data);
  free(data);
}

static bpf_state *unwrap(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok || data == NULL) return NULL;
  bpf_state *b = data;
  return b->object == NULL ? NULL : b;
}

static int get_buffer(napi_env env, napi_value value, void **data, size_t *length) {
  bool is_buffer = false;
  napi_is_buffer(env, value, &is_buffer);
  return is_buffer && napi_get_buffer_info(env, value, data, length) == napi_ok;
}

static int get_name(napi_env env, napi_value value, char *name) {
  size_t length = 0;
  return napi_get_value_string_utf8(env, value, name, NAME_SIZE, &length) == napi_ok && length > 0 && length < NAME_SIZE - 1;
}

static napi_value number_result(napi_env env, double n) {
  napi_value result;
  napi_create_double(env, n, &result);
  return result;
}

/*
 * The handle and the map named by the first two of `wanted` arguments; NULL, with an exception pending, when they are
 * not that.
 */
static struct bpf_map *map_arguments(napi_env env, napi_callback_info info, napi_value *argv, size_t wanted, bpf_state **state, const char *usage) {
  size_t argc = wanted;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bpf_state *b = argc < wanted ? NULL : unwrap(env, argv[0]);
  char name[NAME_SIZE];
  if (b == NULL || !get_name(env, argv[1], name)) {
    throw_error(env, usage);
    return NULL;
  }
  struct bpf_map *map = bpf_object__find_map_by_name(b->object, name);
  if (map == NULL) {
    char message[NAME_SIZE + 64];
    snprintf(message, sizeof message, "the BPF object has no map %s", name);
    throw_error(env, message);
    return NULL;
  }
  *state = b;
  return map;
}

/* A Buffer argument of exactly `size` bytes; NULL, with an exception pending, when it is not that. */
static void *sized_buffer(napi_env env, napi_value value, uint32_t size, const char *what) {
  void *data = NULL;
  size_t length = 0;
  if (!get_buffer(env, value, &data, &length) || length != size) {
    char message[128];
    snprintf(message, sizeof message, "the %s must be a Buffer of %u bytes", what, size);
    throw_error(env, message);
    return NULL;
  }
  return data;
}

/* open(objectPath) -> handle: the object loaded (every program through the verifier), nothing attached yet */
static napi_value open_object(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  size_t path_length = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_length) != napi_ok) return throw_error(env, "open needs (objectPath)");
  load_log_length = 0;
  load_log[0] = 0;
  libbpf_set_print(keep_log);
  bpf_state *b = calloc(1, sizeof *b);
  if (b == NULL) return throw_error(env, "out of memory");
  b->object = bpf_object__open_file(path, NULL);
  if (b->object == NULL) {
    int err = errno;
    free(b);
    return throw_errno(env, "cannot open the BPF object", err);
  }
  /*
   * The verifier gives up with EAGAIN when a signal is pending, and libbpf's few retries do not outlast a profiler's
   * SIGPROF every millisecond (node --cpu-prof): signals wait until the programs are loaded.
   */
  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &before);
  int loaded = bpf_object__load(b->object);
  int load_errno = errno;
  pthread_sigmask(SIG_SETMASK, &before, NULL);
  if (loaded != 0) {
    int err = load_errno;
    release(b);
    free(b);
    return throw_errno(env, "the kernel refused the BPF program", err);
  }
  napi_value handle;
  napi_create_external(env, b, finalize, NULL, &handle);
  return handle;
}

/* attach(handle, programName, ifindex, egress) -> void: on the interface's tcx ingress or egress, until close() or exit */
static napi_value attach(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bpf_state *b = argc < 4 ? NULL : unwrap(env, argv[0]);
  char name[NAME_SIZE];
  uint32_t ifindex;
  bool egress;
  if (b == NULL || !get_name(env, argv[1], name) || napi_get_value_uint32(env, argv[2], &ifindex) != napi_ok ||
      napi_get_value_bool(env, argv[3], &egress) != napi_ok) {
    return throw_error(env, "attach needs (handle, programName, ifindex, egress)");
  }
  struct bpf_program *program = bpf_object__find_program_by_name(b->object, name);
  if (program == NULL) return throw_error(env, "the BPF object has no such program");
  if (b->link_count >= MAX_LINKS) return throw_error(env, "too many interfaces");
  int link = bpf_link_create(bpf_program__fd(program), (int)ifindex, egress ? ATTACH_TCX_EGRESS : ATTACH_TCX_INGRESS, NULL);
  if (link < 0) return throw_errno(env, egress ? "cannot attach to the interface's egress (tcx)" : "cannot attach to the interface's ingress (tcx)", -link);
  b->links[b->link_count++] = link;
  return NULL;
}

/* update(handle, mapName, key, value, flags) -> 0 or an errno */
static napi_value update(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  bpf_state *b = NULL;
  struct bpf_map *map = map_arguments(env, info, argv, 5, &b, "update needs (handle, mapName, key, value, flags)");
  if (map == NULL) return NULL;
  void *key = sized_buffer(env, argv[2], bpf_map__key_size(map), "key");
  if (key == NULL) return NULL;
  void *value = sized_buffer(env, argv[3], bpf_map__value_size(map), "value");
  uint32_t flags;
  if (value == NULL) return NULL;
  if (napi_get_value_uint32(env, argv[4], &flags) != napi_ok) return throw_error(env, "update needs (handle, mapName, key, value, flags)");
  return number_result(env, bpf_map_update_elem(bpf_map__fd(map), key, value, flags) == 0 ? 0 : errno);
}

/* remove(handle, mapName, key) -> 0 or an errno (ENOENT: not there) */
static napi_value remove_key(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  bpf_state *b = NULL;
  struct bpf_map *map = map_arguments(env, info, argv, 3, &b, "remove needs (handle, mapName, key)");
  if (map == NULL) return NULL;
  void *key = sized_buffer(env, argv[2], bpf_map__key_size(map), "key");
  if (key == NULL) return NULL;
  return number_result(env, bpf_map_delete_elem(bpf_map__fd(map), key) == 0 ? 0 : errno);
}

/* lookup(handle, mapName, key) -> the value as a Buffer, or null when the key is not in the map */
static napi_value lookup(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  bpf_state *b = NULL;
  struct bpf_map *map = map_arguments(env, info, argv, 3, &b, "lookup needs (handle, mapName, key)");
  if (map == NULL) return NULL;
  void *key = sized_buffer(env, argv[2], bpf_map__key_size(map), "key");
  if (key == NULL) return NULL;
  unsigned char value[1024];
  if (bpf_map__value_size(map) > sizeof value) return throw_error(env, "the map's values are larger than lookup reads");
  napi_value result;
  if (bpf_map_lookup_elem(bpf_map__fd(map), key, value) != 0) {
    napi_get_null(env, &result);
    return result;
  }
  void *copy = NULL;
  napi_create_buffer_copy(env, bpf_map__value_size(map), value, &copy, &result);
  return result;
}

/* counters(handle, mapName) -> number[]: each entry of a per-CPU array of 64-bit counters, summed over the CPUs */
static napi_value counters(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bpf_state *b = NULL;
  struct bpf_map *map = map_arguments(env, info, argv, 2, &b, "counters needs (handle, mapName)");
  if (map == NULL) return NULL;
  if (bpf_map__type(map) != BPF_MAP_TYPE_PERCPU_ARRAY || bpf_map__value_size(map) != sizeof(uint64_t)) return throw_error(env, "the map is not a per-CPU array of 64-bit counters");
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return throw_errno(env, "cannot count the CPUs", cpus < 0 ? -cpus : EINVAL);
  uint64_t *values = calloc((size_t)cpus, sizeof *values);
  if (values == NULL) return throw_error(env, "out of memory");
  uint32_t entries = bpf_map__max_entries(map);
  napi_value result;
  napi_create_array_with_length(env, entries, &result);
  for (uint32_t i = 0; i < entries; i++) {
    uint64_t sum = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(map), &i, values) == 0) {
      for (int c = 0; c < cpus; c++) sum += values[c];
    }
    napi_set_element(env, result, i, number_result(env, (double)sum));
  }
  free(values);
  return result;
}

/* Each record as it comes: its length (4 bytes, host order), then its bytes padded to a multiple of 4. */
static int keep_record(void *context, void *data, size_t size) {
  bpf_state *b = context;
  size_t padded = (size + 3) & ~(size_t)3;
  if (b->drained_length + 4 + padded > b->drained_size) {
    /* libbpf has already taken the record off the ring: without room it would be lost. */
    unsigned char *larger = realloc(b->drained, 2 * b->drained_size);
    if (larger == NULL) return -ENOMEM;
    b->drained = larger;
    b->drained_size *= 2;
  }
  uint32_t length = (uint32_t)size;
  memcpy(b->drained + b->drained_length, &length, 4);
  memcpy(b->drained + b->drained_length + 4, data, size);
  memset(b->drained + b->drained_length + 4 + size, 0, padded - size);
  b->drained_length += 4 + padded;
  return 0;
}

/*
 * consume(handle, mapName) -> Buffer or null: the records waiting in the ring buffer map, each preceded by its length.
 * The first call sets the ring up.
 */
static napi_value consume(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bpf_state *b = NULL;
  struct bpf_map *map = map_arguments(env, info, argv, 2, &b, "consume needs (handle, mapName)");
  if (map == NULL) return NULL;
  if (b->ring == NULL) {
    if (bpf_map__type(map) != BPF_MAP_TYPE_RINGBUF) return throw_error(env, "the map is not a ring buffer");
    b->drained = malloc(DRAIN_INITIAL);
    if (b->drained == NULL) return throw_error(env, "out of memory");
    b->drained_size = DRAIN_INITIAL;
    b->ring = ring_buffer__new(bpf_map__fd(map), keep_record, b, NULL);
    if (b->ring == NULL) return throw_errno(env, "cannot read the ring buffer", errno);
  }
  b->drained_length = 0;
  int n = ring_buffer__consume(b->ring);
  if (n < 0 && b->drained_length == 0) return throw_errno(env, "cannot read the ring buffer", -n);
  napi_value result;
  if (b->drained_length == 0) {
    napi_get_null(env, &result);
    return result;
  }
  void *copy = NULL;
  napi_create_buffer_copy(env, b->drained_length, b->drained, &copy, &result);
  return result;
}

/* close(handle): detaches from every interface and frees the maps */
static napi_value close_object(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bpf_state *b = argc < 1 ? NULL : unwrap(env, argv[0]);
  if (b != NULL) release(b);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
    { "open", NULL, open_object, NULL, NULL, NULL, napi_enumerable, NULL },
    { "attach", NULL, attach, NULL, NULL, NULL, napi_enumerable, NULL },
    { "update", NULL, update, NULL, NULL, NULL, napi_enumerable, NULL },
    { "remove", NULL, remove_key, NULL, NULL, NULL, napi_enumerable, NULL },
    { "lookup", NULL, lookup, NULL, NULL, NULL, napi_enumerable, NULL },
    { "counters", NULL, counters, NULL, NULL, NULL, napi_enumerable, NULL },
    { "consume", NULL, consume, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, close_object, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}
