{
  "targets": [
    {
      "target_name": "mtuscope_nfqueue",
      "sources": ["src/nfqueue_batch.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"],
      "libraries": ["-lnetfilter_queue", "-lnfnetlink"]
    }
  ]
}
