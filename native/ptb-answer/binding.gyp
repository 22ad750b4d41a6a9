{
  "targets": [
    {
      "target_name": "mtuscope_ptb_answer",
      "sources": ["src/ptb_answer_binding.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"],
      "libraries": ["-lbpf"]
    }
  ]
}
