/*
 * mtuscope's loader for the kernel Packet Too Big answer (Node-API over libbpf): loads ptb_answer.bpf.o, attaches it
 * to interfaces' ingress through tcx links, and keeps its tables of connections. The links are file descriptors of this process: when
 * it ends, however it ends, the kernel detaches the program and frees its maps, so nothing is left on the host.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* Kernel 6.6's tcx attach type; the system's headers may predate it. */
#define ATTACH_TCX_INGRESS 46
#define ATTACH_TCX_EGRESS 47
#define MAX_LINKS 128
#define LOG_SIZE 4096
#define PROGRAM_NAME "answer_packet_too_big"
#define EGRESS_PROGRAM_NAME "note_server_isn"

typedef struct {
  struct bpf_object *object;
  int program;
  int egress_program;
  int tests;
  int openings;
  int settings;
  int outcomes;
  int links[MAX_LINKS];
  int link_count;
} answer_state;

/* What libbpf said while loading (the verifier's complaint, if any), for the error message. */
static char load_log[LOG_SIZE];
static size_t load_log_length;

static int keep_log(enum libbpf_print_level level, const char *format, va_list args) {
  if (level == LIBBPF_DEBUG || load_log_length >= LOG_SIZE - 1) return 0;
  int n = vsnprintf(load_log + load_log_length, LOG_SIZE - load_log_length, format, args);
  if (n > 0) load_log_length += (size_t)n < LOG_SIZE - load_log_length ? (size_t)n : LOG_SIZE - 1 - load_log_length;
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

static void release(answer_state *a) {
  for (int i = 0; i < a->link_count; i++) close(a->links[i]);
  a->link_count = 0;
  if (a->object != NULL) bpf_object__close(a->object);
  a->object = NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release(data);
  free(data);
}

static answer_state *unwrap(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok || data == NULL) return NULL;
  answer_state *a = data;
  return a->object == NULL ? NULL : a;
}

static int map_fd(struct bpf_object *object, const char *name) {
  struct bpf_map *map = bpf_object__find_map_by_name(object, name);
  return map == NULL ? -1 : bpf_map__fd(map);
}

static int get_buffer(napi_env env, napi_value value, void **data, size_t *length) {
  bool is_buffer = false;
  napi_is_buffer(env, value, &is_buffer);
  return is_buffer && napi_get_buffer_info(env, value, data, length) == napi_ok;
}

/* open(objectPath, settings: Buffer) -> handle */
static napi_value open_answer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  size_t path_length = 0;
  void *settings = NULL;
  size_t settings_length = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_length) != napi_ok ||
      !get_buffer(env, argv[1], &settings, &settings_length)) {
    return throw_error(env, "open needs (objectPath, settings)");
  }
  load_log_length = 0;
  load_log[0] = 0;
  libbpf_set_print(keep_log);
  answer_state *a = calloc(1, sizeof *a);
  if (a == NULL) return throw_error(env, "out of memory");
  a->object = bpf_object__open_file(path, NULL);
  if (a->object == NULL) {
    int err = errno;
    free(a);
    return throw_errno(env, "cannot open the BPF object", err);
  }
  if (bpf_object__load(a->object) != 0) {
    int err = errno;
    release(a);
    free(a);
    return throw_errno(env, "the kernel refused the BPF program", err);
  }
  struct bpf_program *program = bpf_object__find_program_by_name(a->object, PROGRAM_NAME);
  a->program = program == NULL ? -1 : bpf_program__fd(program);
  struct bpf_program *egress = bpf_object__find_program_by_name(a->object, EGRESS_PROGRAM_NAME);
  a->egress_program = egress == NULL ? -1 : bpf_program__fd(egress);
  a->tests = map_fd(a->object, "tests");
  a->openings = map_fd(a->object, "openings");
  a->settings = map_fd(a->object, "settings");
  a->outcomes = map_fd(a->object, "outcomes");
  if (a->program < 0 || a->egress_program < 0 || a->tests < 0 || a->openings < 0 || a->settings < 0 || a->outcomes < 0) {
    release(a);
    free(a);
    return throw_error(env, "the BPF object lacks its program or maps");
  }
  struct bpf_map *settings_map = bpf_object__find_map_by_name(a->object, "settings");
  unsigned int zero = 0;
  if (settings_length != bpf_map__value_size(settings_map) || bpf_map_update_elem(a->settings, &zero, settings, BPF_ANY) != 0) {
    int err = settings_length != bpf_map__value_size(settings_map) ? EINVAL : errno;
    release(a);
    free(a);
    return throw_errno(env, "cannot write the program's settings", err);
  }
  napi_value handle;
  napi_create_external(env, a, finalize, NULL, &handle);
  return handle;
}

/* attach(handle, ifindex): the programs on the interface's ingress and egress, until close() or the end of the process */
static napi_value attach(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  answer_state *a = argc < 2 ? NULL : unwrap(env, argv[0]);
  uint32_t ifindex;
  if (a == NULL || napi_get_value_uint32(env, argv[1], &ifindex) != napi_ok) return throw_error(env, "attach needs (handle, ifindex)");
  if (a->link_count + 2 > MAX_LINKS) return throw_error(env, "too many interfaces");
  /* Egress first: a test is recognised at ingress only after the SYN-ACK was seen leaving. */
  int egress = bpf_link_create(a->egress_program, (int)ifindex, ATTACH_TCX_EGRESS, NULL);
  if (egress < 0) return throw_errno(env, "cannot attach to the interface's egress (tcx)", -egress);
  int ingress = bpf_link_create(a->program, (int)ifindex, ATTACH_TCX_INGRESS, NULL);
  if (ingress < 0) {
    close(egress);
    return throw_errno(env, "cannot attach to the interface's ingress (tcx)", -ingress);
  }
  a->links[a->link_count++] = egress;
  a->links[a->link_count++] = ingress;
  return NULL;
}

/*
 * The handle and the connection key of (handle, key, ...) arguments, `wanted` of them in `argv`; NULL, with an exception
 * pending, when they are not that. Both tables have the key of struct test_key.
 */
static answer_state *key_arguments(napi_env env, napi_callback_info info, napi_value *argv, size_t wanted, void **key, const char *usage) {
  size_t argc = wanted;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  answer_state *a = argc < wanted ? NULL : unwrap(env, argv[0]);
  size_t key_length = 0;
  if (a == NULL || !get_buffer(env, argv[1], key, &key_length)) {
    throw_error(env, usage);
    return NULL;
  }
  if (key_length != bpf_map__key_size(bpf_object__find_map_by_name(a->object, "tests"))) {
    throw_error(env, "the key does not have the table's size");
    return NULL;
  }
  return a;
}

/* 0, or the errno of a failed call (`err`, taken right after it). */
static napi_value errno_result(napi_env env, int err) {
  napi_value result;
  napi_create_int32(env, err, &result);
  return result;
}

/* expect(handle, key, clientIsn) -> 0 or an errno: a connection opened, whose first data segment may be a test */
static napi_value expect(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  void *key = NULL;
  answer_state *a = key_arguments(env, info, argv, 3, &key, "expect needs (handle, key, clientIsn)");
  uint32_t isn;
  if (a == NULL) return NULL;
  if (napi_get_value_uint32(env, argv[2], &isn) != napi_ok) return throw_error(env, "expect needs (handle, key, clientIsn)");
  /* struct opening: the client's ISN; the server's, not seen yet. */
  uint32_t opening[3] = { isn, 0, 0 };
  if (bpf_map__value_size(bpf_object__find_map_by_name(a->object, "openings")) != sizeof opening) return throw_error(env, "the openings are not what this binding writes");
  int err = bpf_map_update_elem(a->openings, key, opening, BPF_ANY) == 0 ? 0 : errno;
  return errno_result(env, err);
}

/* forget(handle, key) -> 0 or an errno (ENOENT: not a test) */
static napi_value forget(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  void *key = NULL;
  answer_state *a = key_arguments(env, info, argv, 2, &key, "forget needs (handle, key)");
  if (a == NULL) return NULL;
  int err = bpf_map_delete_elem(a->tests, key) == 0 ? 0 : errno;
  bpf_map_delete_elem(a->openings, key);
  return errno_result(env, err);
}

/* lookup(handle, key) -> the value as a Buffer, or null when the key is not in the table */
static napi_value lookup(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  void *key = NULL;
  answer_state *a = key_arguments(env, info, argv, 2, &key, "lookup needs (handle, key)");
  if (a == NULL) return NULL;
  struct bpf_map *map = bpf_object__find_map_by_name(a->object, "tests");
  unsigned char value[256];
  if (bpf_map__value_size(map) > sizeof value) return throw_error(env, "the table's values are larger than expected");
  napi_value result;
  if (bpf_map_lookup_elem(a->tests, key, value) != 0) {
    napi_get_null(env, &result);
    return result;
  }
  void *copy = NULL;
  napi_create_buffer_copy(env, bpf_map__value_size(map), value, &copy, &result);
  return result;
}

/* outcomes(handle) -> number[]: the program's counters (enum outcome), summed over the CPUs */
static napi_value outcomes(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  answer_state *a = argc < 1 ? NULL : unwrap(env, argv[0]);
  if (a == NULL) return throw_error(env, "outcomes needs (handle)");
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return throw_errno(env, "cannot count the CPUs", cpus < 0 ? -cpus : EINVAL);
  uint64_t *values = calloc((size_t)cpus, sizeof *values);
  if (values == NULL) return throw_error(env, "out of memory");
  struct bpf_map *map = bpf_object__find_map_by_name(a->object, "outcomes");
  uint32_t entries = bpf_map__max_entries(map);
  napi_value result;
  napi_create_array_with_length(env, entries, &result);
  for (uint32_t i = 0; i < entries; i++) {
    uint64_t sum = 0;
    if (bpf_map_lookup_elem(a->outcomes, &i, values) == 0) {
      for (int c = 0; c < cpus; c++) sum += values[c];
    }
    napi_value n;
    napi_create_double(env, (double)sum, &n);
    napi_set_element(env, result, i, n);
  }
  free(values);
  return result;
}

/* close(handle): detaches from every interface and frees the maps */
static napi_value close_answer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  answer_state *a = argc < 1 ? NULL : unwrap(env, argv[0]);
  if (a != NULL) release(a);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
    { "open", NULL, open_answer, NULL, NULL, NULL, napi_enumerable, NULL },
    { "attach", NULL, attach, NULL, NULL, NULL, napi_enumerable, NULL },
    { "expect", NULL, expect, NULL, NULL, NULL, napi_enumerable, NULL },
    { "forget", NULL, forget, NULL, NULL, NULL, napi_enumerable, NULL },
    { "lookup", NULL, lookup, NULL, NULL, NULL, napi_enumerable, NULL },
    { "outcomes", NULL, outcomes, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, close_answer, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}
