#!/usr/bin/env bash
# Installs the Debian packages the test suite calls (Debian 12, as root). Only missing packages are
# installed, `apt-get update` runs only when something is missing, and no service is started.
set -euo pipefail

PACKAGES=(
  iproute2        # ip netns, ip link/addr/route
  tcpdump
  isc-dhcp-client # dhclient
  udhcpc          # busybox udhcpc
  busybox
  dhcpcd-base     # dhcpcd 9 without its system service (also RA + DHCPv6)
  ndisc6          # rdisc6: router advertisements read field by field (IPv6 tests)
  iputils-ping    # ping -6 through NAT66 (IPv6 tests)
  dnsmasq-base    # dnsmasq without its system service
  bind9-dnsutils  # dig
  iputils-ping    # ping -6 (a container makes itself a neighbour of the bridge)
  nftables
  procps          # sysctl
  psmisc
  util-linux      # unshare
  mount           # mount --bind (dhcpcd's private directories)
  coreutils       # env -0, mktemp, realpath
  ndisc6          # rdisc6: reads router advertisements (test/integration/ra.test.ts)
  iputils-ping    # ping -6 through NAT66 (host-setup6 test)
)

POLICY_RC=/usr/sbin/policy-rc.d

is_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = 'install ok installed' ]
}

main() {
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: must run as root" >&2
    exit 1
  fi
  local missing=() package
  # Callers (bench/install-deps.sh) may name more packages.
  for package in "${PACKAGES[@]}" "$@"; do
    is_installed "$package" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0

  echo "install-deps.sh: installing ${missing[*]}" >&2
  # Package scripts must start no services: policy-rc.d exiting 101 forbids it. An existing
  # policy is left as it is (and not removed afterwards).
  if [ ! -e "$POLICY_RC" ]; then
    printf '#!/bin/sh\n# temporary, from lxc-dhcpd test/install-deps.sh\nexit 101\n' > "$POLICY_RC"
    chmod 755 "$POLICY_RC"
    trap 'rm -f "$POLICY_RC"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

main "$@"
