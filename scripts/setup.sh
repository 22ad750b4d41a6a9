#!/usr/bin/env bash
# Sets up a fresh Debian machine (as root) for mtuscope: system packages, npm packages, build.
set -euo pipefail
cd "$(dirname "$0")/.."

# Besides the network tools: g++, make and python3 build the native npm modules (node-gyp) against Node's own headers,
# libnetfilter-queue-dev is what native/nfqueue (mtuscope's netfilter queue binding) links with, chromium runs the web
# page tests, util-linux gives chrt (the checker's engine takes real-time priority with it) and
# setpriv (the tests of running without privileges), postgresql the shared results store (the tests start their own
# server in a temporary directory; the packaged cluster is not used), systemd gives systemd-analyze (the tests verify the
# example unit with it; nothing is started), openssl the self-signed certificates of the lab's HTTPS servers (made per test run),
# bpftrace the kernel drop tracer's backend (mtuscope trace, lab reports), iperf3 the stream of its benchmark, dwarves gives
# pahole, the tests' oracle for the kernel field offsets the tracer reads from BTF (and for our BPF programs' map layouts),
# clang and libbpf-dev build native/bpf (the checker's and the relay's tc BPF programs and their loader), bpftool lets the tests see
# which BPF programs are loaded.
packages=(tshark tcpdump iproute2 iputils-ping iputils-tracepath iptables curl openssl procps ethtool time python3 g++ make libnetfilter-queue-dev chromium util-linux postgresql systemd bpftrace iperf3 dwarves clang libbpf-dev bpftool)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
npm run build
