#!/usr/bin/env bash
# Installs the Debian packages the bench calls (Debian 12, as root). Only missing packages are installed,
# `apt-get update` runs only when something is missing, and no service is started: Kea's packages ship
# systemd units, which policy-rc.d forbids starting; if one runs anyway it is stopped and disabled.
set -euo pipefail

PACKAGES=(
  iproute2          # ip netns, ip link/addr/route
  procps            # sysctl
  kea-admin         # perfdhcp
  kea-dhcp4-server  # kea-dhcp4 (started by hand inside the namespace, never as a service)
  dnsperf
  dnsmasq-base      # dnsmasq without its system service
  bind9-dnsutils    # dig (cache warm-up checks)
)

POLICY_RC=/usr/sbin/policy-rc.d

is_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = 'install ok installed' ]
}

stop_services() {
  local unit
  command -v systemctl >/dev/null 2>&1 || return 0
  for unit in kea-dhcp4-server kea-ctrl-agent kea-dhcp6-server kea-dhcp-ddns-server; do
    if systemctl is-active --quiet "$unit" 2>/dev/null; then
      echo "bench/install-deps.sh: stopping $unit (the bench starts kea-dhcp4 by hand)" >&2
      systemctl stop "$unit" || true
    fi
    systemctl disable "$unit" >/dev/null 2>&1 || true
  done
}

main() {
  if [ "$(id -u)" != 0 ]; then
    echo "bench/install-deps.sh: must run as root" >&2
    exit 1
  fi
  local missing=() package
  for package in "${PACKAGES[@]}"; do
    is_installed "$package" || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bench/install-deps.sh: installing ${missing[*]}" >&2
    # An existing policy is left as it is (and not removed afterwards).
    if [ ! -e "$POLICY_RC" ]; then
      printf '#!/bin/sh\n# temporary, from lxc-dhcpd bench/install-deps.sh\nexit 101\n' > "$POLICY_RC"
      chmod 755 "$POLICY_RC"
      trap 'rm -f "$POLICY_RC"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  stop_services
}

main "$@"
