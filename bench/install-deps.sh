#!/usr/bin/env bash
# Installs the Debian packages the bench calls (Debian 12, as root). Only missing packages are installed,
# `apt-get update` runs only when something is missing, and no service is started: Kea's packages ship
# systemd units, which policy-rc.d forbids starting; if one runs anyway it is stopped and disabled.
set -euo pipefail

# What the bench needs beyond the test suite's packages; test/install-deps.sh installs both, only what is missing,
# with a temporary policy-rc.d so no package starts a service.
BENCH_PACKAGES=(
  kea-admin         # perfdhcp
  kea-dhcp4-server  # kea-dhcp4 (started by hand inside the namespace, never as a service)
  kea-dhcp6-server  # kea-dhcp6, the DHCPv6 peer (likewise by hand)
  dnsperf
)

stop_services() {
  local unit
  command -v systemctl >/dev/null 2>&1 || return 0
  for unit in kea-dhcp4-server kea-ctrl-agent kea-dhcp6-server kea-dhcp-ddns-server; do
    if systemctl is-active --quiet "$unit" 2>/dev/null; then
      echo "bench/install-deps.sh: stopping $unit (the bench starts Kea by hand)" >&2
      systemctl stop "$unit" || true
    fi
    systemctl disable "$unit" >/dev/null 2>&1 || true
  done
}

main() {
  bash "$(dirname "$0")/../test/install-deps.sh" "${BENCH_PACKAGES[@]}"
  stop_services
}

main "$@"
