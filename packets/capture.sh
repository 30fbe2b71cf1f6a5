#!/usr/bin/env bash
# Regenerates the DHCP packet captures in packets/ with real clients against dnsmasq.
# Everything runs inside network namespaces this script creates and removes (prefix
# $CAPTURE_NS_PREFIX, default "lxh-" + random); the root namespace is never touched.
# Usage (as root): bash packets/capture.sh [OUTPUT_DIR]
set -euo pipefail

OUT_DIR=$(realpath "${1:-$(dirname "$0")}")
PREFIX=${CAPTURE_NS_PREFIX:-lxh-$(printf '%04x' $((RANDOM % 65536)))}
WORK=$(mktemp -d /tmp/lxc-dhcpd-capture.XXXXXX)
CAPTURE_FILTER='udp port 67 or udp port 68'
NAMESPACES=()
PIDS=()

log() { printf '[capture] %s\n' "$*" >&2; }

stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 20); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local pid ns
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  # dhclient daemonizes, so its pid lives only in its pid file
  for pidfile in "$WORK"/*/dhclient.pid; do
    [ -f "$pidfile" ] && stop_pid "$(cat "$pidfile")"
  done
  for ns in "${NAMESPACES[@]}"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  [ -n "${CAPTURE_KEEP_WORK:-}" ] && log "work dir kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

make_ns() {
  local ns=$1
  ip netns add "$ns"
  NAMESPACES+=("$ns")
  mkdir -p "/etc/netns/$ns"
  echo '# lxc-dhcpd test namespace: intentionally empty' > "/etc/netns/$ns/resolv.conf"
  ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
}

# Topology: $HOST_NS with br0 10.0.0.1/24; containers are added with add_container.
setup_host() {
  HOST_NS=$PREFIX-$1-h
  make_ns "$HOST_NS"
  ip -n "$HOST_NS" link add br0 type bridge stp_state 0 forward_delay 0
  ip -n "$HOST_NS" addr add 10.0.0.1/24 dev br0
  ip -n "$HOST_NS" link set br0 up
}

# add_container SCENARIO INDEX -> namespace name on stdout is not used; sets CT_NS
add_container() {
  local index=$2
  CT_NS=$PREFIX-$1-c$index
  make_ns "$CT_NS"
  ip -n "$HOST_NS" link add "veth$index" type veth peer name eth0 netns "$CT_NS"
  ip -n "$HOST_NS" link set "veth$index" master br0 up
  ip -n "$CT_NS" link set eth0 address "$(printf '02:1a:b0:00:00:%02x' "$index")" up
}

start_dnsmasq() {
  local dir=$1; shift
  ip netns exec "$HOST_NS" dnsmasq --no-daemon --conf-file=/dev/null --interface=br0 --bind-interfaces \
    --domain=lxc --local=/lxc/ --dhcp-range=10.0.0.100,10.0.0.200,1h --no-ping --log-dhcp \
    --dhcp-leasefile="$dir/dnsmasq.leases" --pid-file="$dir/dnsmasq.pid" "$@" \
    > "$dir/dnsmasq.log" 2>&1 &
  PIDS+=($!)
  wait_for_text "$dir/dnsmasq.log" 'DHCP, IP range' 5
}

# wait_for_text FILE REGEX SECONDS
wait_for_text() {
  local file=$1 pattern=$2 deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    grep -q -E -- "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  log "timed out waiting for /$pattern/ in $file"
  return 1
}

start_capture() {
  local dir=$1
  ip netns exec "$CT_NS" tcpdump -Z root --immediate-mode -U -n -i eth0 -w "$dir/capture.pcap" "$CAPTURE_FILTER" \
    2> "$dir/tcpdump.err" &
  CAPTURE_PID=$!
  PIDS+=("$CAPTURE_PID")
  wait_for_text "$dir/tcpdump.err" 'listening on' 5
}

# finish_capture DIR NAME: stops tcpdump and copies the file to packets/NAME.pcap
finish_capture() {
  local dir=$1 name=$2
  sleep 0.3
  kill -INT "$CAPTURE_PID"
  wait "$CAPTURE_PID" 2>/dev/null || true
  cp "$dir/capture.pcap" "$OUT_DIR/$name.pcap"
  log "$name.pcap: $(tcpdump -n -r "$OUT_DIR/$name.pcap" 2>/dev/null | wc -l) frames"
}

end_scenario() {
  local pid ns
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
  for ns in "${NAMESPACES[@]}"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns"
    rm -rf "/etc/netns/$ns"
  done
  NAMESPACES=()
}

# Hook scripts: they configure the address (udhcpc and dhclient leave that to the script)
# and append "EVENT <reason>" lines to $STATE; they never touch /etc/resolv.conf.
write_hooks() {
  cat > "$WORK/udhcpc-hook.sh" <<'EOF'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr replace "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface" ;;
  deconfig)
    ip addr flush dev "$interface" ;;
esac
echo "EVENT $1 ${ip:-}" >> "${STATE:-$(dirname "$0")/state}"
EOF
  cat > "$WORK/dhclient-hook.sh" <<'EOF'
#!/bin/sh
mask_to_prefix() {
  bits=0
  for octet in $(echo "$1" | tr . ' '); do
    case $octet in 255) bits=$((bits+8));; 254) bits=$((bits+7));; 252) bits=$((bits+6));;
      248) bits=$((bits+5));; 240) bits=$((bits+4));; 224) bits=$((bits+3));; 192) bits=$((bits+2));;
      128) bits=$((bits+1));; esac
  done
  echo $bits
}
case "$reason" in
  PREINIT) ip link set "$interface" up ;;
  BOUND|RENEW|REBIND|REBOOT)
    ip addr replace "$new_ip_address/$(mask_to_prefix "$new_subnet_mask")" dev "$interface"
    [ -n "$new_routers" ] && ip route replace default via "${new_routers%% *}" dev "$interface" ;;
  EXPIRE|FAIL|RELEASE|STOP)
    [ -n "$old_ip_address" ] && ip addr flush dev "$interface" ;;
esac
echo "EVENT $reason ${new_ip_address:-}" >> "${STATE:-$(dirname "$0")/state}"
EOF
  cat > "$WORK/dhcpcd-hook.sh" <<'EOF'
#!/bin/sh
echo "EVENT $reason ${new_ip_address:-}" >> "${STATE:-$(dirname "$0")/state}"
EOF
  chmod +x "$WORK"/*-hook.sh
}

scenario_udhcpc() {
  local dir=$WORK/udhcpc
  mkdir -p "$dir"
  setup_host udhcpc
  add_container udhcpc 1
  start_dnsmasq "$dir"
  start_capture "$dir"
  ip netns exec "$CT_NS" env STATE="$dir/state" \
    udhcpc -f -i eth0 -t 3 -T 2 -s "$WORK/udhcpc-hook.sh" -x hostname:ct-udhcpc > "$dir/client.log" 2>&1 &
  local client=$!
  PIDS+=("$client")
  wait_for_text "$dir/state" '^EVENT bound' 10
  kill -USR1 "$client"
  wait_for_text "$dir/state" '^EVENT renew' 10
  kill -USR2 "$client"
  wait_for_text "$dir/client.log" 'released|Entering released state' 5 || true
  finish_capture "$dir" udhcpc-hostname
  end_scenario
}

# scenario_dhclient NAME CONF_LINES...
scenario_dhclient() {
  local name=$1; shift
  local dir=$WORK/$name
  mkdir -p "$dir"
  printf '%s\n' "$@" 'request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, host-name;' \
    > "$dir/dhclient.conf"
  setup_host "$name"
  add_container "$name" 2
  # T1 of 3 s makes dhclient send its unicast renewal REQUEST soon after binding
  start_dnsmasq "$dir" --dhcp-option=option:T1,3
  start_capture "$dir"
  # dhclient clears the environment of its script, so each scenario gets its own copy next to its state file
  cp "$WORK/dhclient-hook.sh" "$dir/hook.sh"
  local files=(-cf "$dir/dhclient.conf" -sf "$dir/hook.sh" -pf "$dir/dhclient.pid" -lf "$dir/dhclient.leases")
  ip netns exec "$CT_NS" env STATE="$dir/state" timeout 20 dhclient -4 -v -1 "${files[@]}" eth0 > "$dir/client.log" 2>&1
  wait_for_text "$dir/state" '^EVENT BOUND' 1
  wait_for_text "$dir/state" '^EVENT RENEW' 10
  ip netns exec "$CT_NS" env STATE="$dir/state" timeout 10 dhclient -4 -v -r "${files[@]}" eth0 >> "$dir/client.log" 2>&1
  finish_capture "$dir" "$name"
  end_scenario
}

# scenario_dhcpcd NAME CONF_LINES... ; extra dhcpcd arguments in DHCPCD_ARGS, dnsmasq's in DNSMASQ_ARGS
run_dhcpcd() {
  local dir=$1; shift
  # dhcpcd keeps state in fixed directories (/var/lib/dhcpcd, /run/dhcpcd): every instance gets
  # private ones. /run/dhcpcd may not exist on the machine, so a per-scenario directory replaces /run.
  ip netns exec "$CT_NS" unshare -m --propagation private sh -c '
    mount --bind "$0/lib" /var/lib/dhcpcd && mount --bind "$0/run" /run && exec "$@"' \
    "$dir" dhcpcd -f "$dir/dhcpcd.conf" -c "$dir/hook.sh" "$@"
}

scenario_dhcpcd() {
  local name=$1 mode=$2; shift 2
  local dir=$WORK/$name
  mkdir -p "$dir/lib" "$dir/run/dhcpcd"
  cp "$WORK/dhcpcd-hook.sh" "$dir/hook.sh"
  printf '%s\n' ipv4only noipv4ll 'nohook resolv.conf' duid 'option host_name' "$@" > "$dir/dhcpcd.conf"
  setup_host "$name"
  add_container "$name" 3
  start_dnsmasq "$dir" "${DNSMASQ_ARGS[@]}"
  if [ "$mode" = decline ]; then
    # a squatter already uses the address dnsmasq will offer, so dhcpcd's ARP probe finds it
    local client_ns=$CT_NS
    add_container "$name" 4
    ip -n "$CT_NS" addr add 10.0.0.150/24 dev eth0
    CT_NS=$client_ns
  fi
  start_capture "$dir"
  case $mode in
    lease|lease-rebind)
      run_dhcpcd "$dir" -4 -B -t 10 -h "ct-$name" "${DHCPCD_ARGS[@]}" eth0 > "$dir/client.log" 2>&1 &
      PIDS+=($!)
      wait_for_text "$dir/state" '^EVENT BOUND' 10
      if [ "$mode" = lease-rebind ]; then
        run_dhcpcd "$dir" -4 -n eth0 >> "$dir/client.log" 2>&1
        wait_for_text "$dir/state" '^EVENT (RENEW|REBIND|REBOOT)' 10
      fi
      run_dhcpcd "$dir" -4 -k eth0 >> "$dir/client.log" 2>&1
      wait_for_text "$dir/state" '^EVENT (RELEASE|STOPPED)' 10 ;;
    inform)
      run_dhcpcd "$dir" -4 -B -1 -t 10 -h "ct-$name" "${DHCPCD_ARGS[@]}" eth0 > "$dir/client.log" 2>&1 &
      PIDS+=($!)
      wait_for_text "$dir/state" '^EVENT (BOUND|INFORM)' 10 ;;
    decline)
      run_dhcpcd "$dir" -4 -B -t 15 -h "ct-$name" eth0 > "$dir/client.log" 2>&1 &
      PIDS+=($!)
      wait_for_text "$dir/client.log" 'DAD detected|declin|in use' 15 ;;
  esac
  finish_capture "$dir" "$name"
  end_scenario
}

main() {
  [ "$(id -u)" = 0 ] || { echo 'capture.sh must run as root' >&2; exit 1; }
  mkdir -p "$OUT_DIR"
  write_hooks
  local only=${CAPTURE_ONLY:-all}
  want() { [ "$only" = all ] || [[ ",$only," == *",$1,"* ]]; }
  want udhcpc && scenario_udhcpc
  want dhclient-hostname && scenario_dhclient dhclient-hostname 'send host-name "ct-dhclient";'
  want dhclient-clientid && scenario_dhclient dhclient-clientid 'send host-name "ct-dhclient-id";' \
    'send dhcp-client-identifier 00:11:00:22:00:33:00;'
  DNSMASQ_ARGS=() DHCPCD_ARGS=()
  want dhcpcd-duid && scenario_dhcpcd dhcpcd-duid lease-rebind
  want dhcpcd-fqdn && scenario_dhcpcd dhcpcd-fqdn lease 'fqdn both'
  DNSMASQ_ARGS=(--dhcp-rapid-commit)
  want dhcpcd-rapid-commit && scenario_dhcpcd dhcpcd-rapid-commit lease 'option rapid_commit'
  DNSMASQ_ARGS=() DHCPCD_ARGS=(--inform=10.0.0.50/24)
  want dhcpcd-inform && scenario_dhcpcd dhcpcd-inform inform
  DNSMASQ_ARGS=(--dhcp-host=02:1a:b0:00:00:03,10.0.0.150) DHCPCD_ARGS=()
  want dhcpcd-decline && scenario_dhcpcd dhcpcd-decline decline
  log "done: $OUT_DIR"
}

main
