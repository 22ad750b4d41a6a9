{
  "targets": [
    {
      "target_name": "mtuscope_bpf",
      "sources": ["src/bpf_binding.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"],
      "libraries": ["-lbpf"]
    }
  ]
}
