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
  etcd-server     # etcd 3.4 members started by the cluster tests in their own namespaces (never as a service)
  etcd-client     # etcdctl: health and key checks in the cluster tests
  lxc             # a real busybox container (offline template; it bind-mounts /lib, so busybox need not be static)
  mmdebstrap      # the Debian 12 systemd root file system of test/integration/systemd.test.ts (cached in /var/cache)
  zstd            # that root file system is cached as .tar.zst
)

POLICY_RC=/usr/sbin/policy-rc.d
LXC_NET_DEFAULTS=/etc/default/lxc-net

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
  local had_lxcbr0=false
  ip link show lxcbr0 >/dev/null 2>&1 && had_lxcbr0=true
  keep_lxc_bridge_down "${missing[@]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --force-confold: keep the lxc-net defaults written above when the lxc package ships its own.
  apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold "${missing[@]}"
  if [ "$had_lxcbr0" = false ] && ip link show lxcbr0 >/dev/null 2>&1; then
    echo "install-deps.sh: WARNING: the install created lxcbr0 in this namespace: delete it (ip link del lxcbr0)" >&2
  fi
}

# The lxc package enables lxc-net.service, which with Debian's default USE_LXC_BRIDGE="true" creates lxcbr0 with
# 10.0.3.1/24 and runs dnsmasq in the ROOT namespace (at the install if a service may start, else at the next boot).
# The tests make their own lxcbr0 in their own namespaces only, so before lxc is installed on a fresh machine the
# defaults say USE_LXC_BRIDGE="false" (policy-rc.d above already stops the service from starting now). An existing
# file is the machine owner's and is left alone.
keep_lxc_bridge_down() {
  local package
  for package in "$@"; do
    if [ "$package" = lxc ] && [ ! -e "$LXC_NET_DEFAULTS" ]; then
      printf '# from lxc-dhcpd test/install-deps.sh: no lxcbr0 in the root namespace\nUSE_LXC_BRIDGE="false"\n' > "$LXC_NET_DEFAULTS"
    fi
  done
}

main "$@"
