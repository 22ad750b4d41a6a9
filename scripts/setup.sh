#!/usr/bin/env bash
# Sets up a fresh Debian machine (as root) for mtuscope: system packages, npm packages, build.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(tshark tcpdump iproute2 iputils-ping iptables curl procps ethtool time python3)
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
