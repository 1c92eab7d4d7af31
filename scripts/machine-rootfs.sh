#!/usr/bin/env bash
# Builds (once) a Debian 12 root file system that boots with systemd as PID 1 under systemd-nspawn,
# for `npm run test:machine`. Cached in $PORTHOLE_ROOTFS_CACHE (default /var/cache/porthole-test),
# keyed by a hash of the package list, so a second run on the same machine starts in seconds.
# Prints the root's path on stdout. Run as root; needs debootstrap (scripts/setup.sh installs it).
set -euo pipefail
cache="${PORTHOLE_ROOTFS_CACHE:-/var/cache/porthole-test}"
mirror="${PORTHOLE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What a user's VPS / Pi has after `apt install` as the README says, plus what the test itself uses
# (rclone serves the share, curl fetches it). nodejs is Debian's own: 18.x on bookworm. conntrack: the
# hub deletes a changed forward's tracked flows with it (without it the hub logs that it could not).
packages=(systemd systemd-sysv dbus nodejs npm wireguard-tools wireguard-go nftables conntrack iproute2 rclone curl procps)
key=$(printf '%s\n' bookworm "$mirror" "${packages[@]}" | sha256sum | cut -c1-12)
root="$cache/rootfs-$key"
if [[ -f "$root/.porthole-complete" ]]; then
  echo "$root"
  exit 0
fi
mkdir -p "$cache"
tmp="$cache/building-$key-$$"
trap 'rm -rf "$tmp"' EXIT
# debootstrap resolves only what boots; apt (which understands virtual packages, as npm's
# dependencies need) installs the rest inside the new root, the way a user would.
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$tmp" "$mirror" >&2
cat > "$tmp/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
systemd-nspawn --quiet --register=no --keep-unit -D "$tmp" --setenv=DEBIAN_FRONTEND=noninteractive \
  sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" && apt-get clean' \
  sh "${packages[@]}" >&2
# A machine with no one at the console: no getty, a hostname set per container at boot.
rm -f "$tmp/etc/hostname"
: > "$tmp/etc/machine-id"
touch "$tmp/.porthole-complete"
mv "$tmp" "$root"
trap - EXIT
echo "$root"
