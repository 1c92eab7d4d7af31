#!/usr/bin/env bash
# Installs what porthole and its tests need on Debian 12, then builds. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
packages=(wireguard-tools wireguard-go nftables iptables iproute2 rclone curl conntrack wrk procps util-linux kmod iputils-ping
  haproxy socat iperf3 hyperfine debootstrap systemd-container)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
npm ci --no-audit --no-fund
npm run build
ln -sf "$PWD/bin/porthole.js" /usr/local/bin/porthole
