#!/bin/bash
# The DHT over IPv6 (BEP 32) against python3-libtorrent, in a network
# namespace this test makes: lo only, with fd50::1..9/128 (nodad) on it,
# since IPv6 has one loopback address only. Inside it p2pfs runs with
# P2PFS_LOOPBACK_ONLY=1 and P2PFS_LOOPBACK_NET=fd50::/64 (those addresses
# count as loopback; nothing leaves the namespace anyway).
#  (a) two libtorrent DHT routers and a seeder on IPv6 only; `p2pfs mount
#      A.torrent --no-trackers --bind [fd50::4] --dht-bootstrap
#      [fd50::1]:PORT` finds the seeder through the DHT alone (its source
#      is the DHT), reads every byte right; the time to the first DHT peer
#      is logged;
#  (b) `p2pfs mount magnet:?xt=urn:btih:HEX --bind fd50::5` with only the
#      IPv6 --dht-bootstrap: the metadata and then the data, right;
#  (c) dual stack: routers on both families, one seeder on IPv6 only and
#      one on IPv4 only; a mount bound to no address (one dual-stack
#      socket) reaches both seeders through the DHT, from both families'
#      bootstrap nodes, and also from an IPv6 one alone and an IPv4 one
#      alone (BEP 32's "want": the other family's nodes come in nodes/
#      nodes6); our own announce, back from the DHT under this machine's
#      addresses, is not taken for a peer;
#  (e) `p2pfs seed --bind fd50::8 --dht-bootstrap [fd50::1]:PORT`: two
#      IPv6 libtorrent leechers find it through the DHT, one through a
#      libtorrent node, one through p2pfs's own node, and download it all;
#  (d) without P2PFS_LOOPBACK_NET the IPv6 bootstrap is refused (the
#      loopback-only rule holds) and no peer is found.
# SKIP (77) without python3-libtorrent or when a namespace with IPv6
# cannot be made here. Every wait bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 12200
P=$IT_BASE
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }

NS=p2pfs-v6-$$-$P
NSFILE=/run/netns/$NS
if ! ip netns add "$NS" 2>"$LOGS/netns.err"; then
	log "SKIP: cannot make a network namespace: $(cat "$LOGS/netns.err")"
	exit 77
fi
# (set +e: under set -e the (exit) would end the trap before the cleanup)
# shellcheck disable=SC2154 # rc_ is assigned in the trap
trap 'rc_=$?; set +e; ip netns del "$NS" 2>/dev/null; (exit $rc_); it_cleanup' EXIT
ip -n "$NS" link set lo up
for i in 1 2 3 4 5 6 7 8 9; do
	ip -n "$NS" addr add "fd50::$i/128" dev lo nodad 2>>"$LOGS/netns.err" ||
		{ log "SKIP: no IPv6 in the namespace: $(cat "$LOGS/netns.err")"; exit 77; }
done

# everything p2pfs runs inside the namespace (the FUSE mount is seen here
# too: nsenter changes the network namespace only)
REAL=$P2PFS
P2PFS=$T/p2pfs-ns
cat >"$P2PFS" <<EOF
#!/bin/sh
exec nsenter --net=$NSFILE -- env P2PFS_LOOPBACK_NET=\${IT_V6_NET-fd50::/64} "$REAL" "\$@"
EOF
chmod +x "$P2PFS"
# listening ports are in the namespace: look there
wait_port() {
	local ip=$1 port=$2 n=$(($3 * 10)) i
	[[ $ip == *:* ]] && ip="[$ip]"
	for ((i = 0; ; i++)); do
		if nsenter --net="$NSFILE" ss -Hltn "src $ip:$port" 2>/dev/null | grep -q .; then return 0; fi
		if ((i >= n)); then return 1; fi
		sleep 0.1
	done
}

R0_PORT=$P R1_PORT=$((P + 1)) S_PORT=$((P + 2)) S4_PORT=$((P + 3))
gen_data "$T/data/a/one.bin" 3M
gen_data "$T/data/a/two.bin" 700K
gen_data "$T/data/b.bin" 2M
gen_data "$T/data/c.bin" 1500K
gen_data "$T/src/d/film.bin" 4M
make_torrent "$T/data/a" 16 "$T/a.torrent"
make_torrent "$T/data/b.bin" 16 "$T/b.torrent"
make_torrent "$T/data/c.bin" 16 "$T/c.torrent"
IH_A=$(infohash "$T/a.torrent") IH_B=$(infohash "$T/b.torrent")
IH_C=$(infohash "$T/c.torrent")
make_torrent "$T/src/d" 16 "$T/d.torrent"
IH_D=$(infohash "$T/d.torrent")

# routers on both families (libtorrent runs one DHT node per listening
# socket); the IPv6 seeder holds A, B, C (and serves ut_metadata), the
# IPv4 one C only, with the IPv4 routers alone as its bootstrap.
# dht_block_ratelimit: an unbound p2pfs talks to [fd50::3] from fd50::3
# itself (the kernel's source for a local address), so every unbound mount
# here shares one source address toward the seeder's node, and
# libtorrent's default (5 datagrams/s an address, over 10 s) blocked it
# for 5 minutes after two mounts: the next one then got no IPv6 answer
R0_4=127.0.0.1:$R0_PORT R0_6="[fd50::1]:$R0_PORT"
R1_4=127.0.0.2:$R1_PORT R1_6="[fd50::2]:$R1_PORT"
cfg=$(printf '{"secs": 240, "dht_block_ratelimit": 1000, "boot": "%s,%s", "watch": ["%s", "%s", "%s"], "nodes": [
 {"role": "router", "ip": "fd50::1", "port": %d, "listen": "%s,%s", "outgoing": "", "boot": "%s,%s"},
 {"role": "router", "ip": "fd50::2", "port": %d, "listen": "%s,%s", "outgoing": ""},
 {"role": "seed", "ip": "fd50::3", "port": %d, "boot": "%s",
  "torrents": ["%s", "%s", "%s"], "save": "%s"},
 {"role": "seed", "ip": "127.0.0.6", "port": %d, "boot": "%s", "torrents": ["%s"], "save": "%s"}]}' \
	"$R0_4" "$R0_6" "$IH_A" "$IH_B" "$IH_C" \
	"$R0_PORT" "$R0_4" "$R0_6" "$R1_4" "$R1_6" \
	"$R1_PORT" "$R1_4" "$R1_6" \
	"$S_PORT" "$R0_6" "$T/a.torrent" "$T/b.torrent" "$T/c.torrent" "$T/data" \
	"$S4_PORT" "$R0_4" "$T/c.torrent" "$T/data")
nsenter --net="$NSFILE" "$IT_LT_PY" "$(dirname "$0")/lt_dht_swarm.py" "$cfg" \
	>"$LOGS/swarm.log" 2>&1 </dev/null &
it_track $!
SWARM=$!
announced() { [ "$(grep -c '^router: .* has peers' "$LOGS/swarm.log" 2>/dev/null || true)" = 3 ]; }
for ((i = 0; i < 400; i++)); do
	announced && break
	pid_alive "$SWARM" || fail "the libtorrent swarm exited: $(tail -n 5 "$LOGS/swarm.log")"
	sleep 0.1
done
announced || fail "the seeders' announces never reached the DHT: $(tail -n 5 "$LOGS/swarm.log")"
log "$(grep '^router:' "$LOGS/swarm.log" | tr '\n' ' ')"

# log_ms LOG STRING: the time (ms since the epoch) of LOG's first line
# holding STRING, or nothing
log_ms() {
	local l
	l=$(grep -m1 -F "$2" "$1" | cut -c1-23) || return 0
	[ -n "$l" ] && date -d "$l" +%s%3N
}
# first_dht MOUNTLOG PEER WHAT: log the time from the mount's start to its
# first DHT peer and to its connection to PEER
first_dht() {
	local t1 t2
	t1=$(log_ms "$1" "first peer from the DHT")
	t2=$(log_ms "$1" "connected to '$2'")
	log "$3: first DHT peer $((t1 - MOUNT_T0)) ms after the start, connected to $2 after $((t2 - MOUNT_T0)) ms"
}
wait_dht_peer() { # MNT PEER...: each PEER listed with source dht
	local mnt=$1 pl p ok i
	shift
	for ((i = 0; i < 75; i++)); do
		pl=$(xattr_of "$mnt" user.p2pfs.peers)
		ok=1
		for p in "$@"; do
			awk -v p="$p" '$1 == p && $NF == "dht" { f = 1 } END { exit !f }' <<<"$pl" || ok=0
		done
		[ $ok = 1 ] && return 0
		sleep 0.2
	done
	fail "$mnt: not every one of $* listed as found through the DHT: $pl"
}
check_file() { # FILE SOURCE
	local got
	got=$(with_timeout 60 sha256sum <"$1" | cut -d' ' -f1) || fail "reading $1 failed"
	[ "$got" = "$(sha_of "$2")" ] || fail "$1: wrong sha256"
}

# ---- (a) IPv6 only, bound to [fd50::4] ----
mount_p2pfs "$T/a.torrent" "$T/mnt-a" --cache "$T/c-a" --no-trackers \
	--bind '[fd50::4]' --port $((P + 4)) --dht-bootstrap "$R0_6"
LOG_A=$MOUNT_LOG
grep -q 'dht: node [0-9a-f]* .*loopback only and P2PFS_LOOPBACK_NET \[fd50::\]/64' "$LOG_A" ||
	fail "the DHT does not say it takes fd50::/64: $(grep -m3 dht "$LOG_A")"
wait_dht_peer "$T/mnt-a" "[fd50::3]:$S_PORT"
for f in one.bin two.bin; do check_file "$T/mnt-a/a/$f" "$T/data/a/$f"; done
log "(a) read every file of A through the IPv6 DHT: right sha256"
grep -q "first peer from the DHT ('\[fd50::3\]:$S_PORT')" "$LOG_A" ||
	fail "the seeder was not the first DHT peer: $(grep -m5 'dht' "$LOG_A")"
first_dht "$LOG_A" "[fd50::3]:$S_PORT" "(a)"
re='^  dht +[1-9][0-9]* good nodes? \([0-9]+ in the table\), [0-9]+ lookups?, [1-9][0-9]* peers?'
for ((i = 0; i < 30; i++)); do
	st=$(with_timeout 20 "$P2PFS" status "$T/mnt-a" 2>&1) || fail "status failed: $st"
	grep -Eq "$re" <<<"$st" && break
	sleep 0.2
done
grep -Eq "$re" <<<"$st" || fail "status shows no DHT line with a peer: $st"
log "(a) status: $(grep -m1 '^  dht' <<<"$st")"
umount_p2pfs "$T/mnt-a"
log "(a) $(grep -m1 -o 'dht: stopped: .*' "$LOG_A")"

# ---- (b) a magnet link through the IPv6 DHT ----
mount_p2pfs "magnet:?xt=urn:btih:$IH_B" "$T/mnt-b" --cache "$T/c-b" \
	--bind fd50::5 --port $((P + 5)) --dht-bootstrap "$R0_6"
LOG_B=$MOUNT_LOG
check_file "$T/mnt-b/b.bin" "$T/data/b.bin"
grep -q 'magnet: metadata of .* bytes after [0-9]* ms' "$LOG_B" || fail "no metadata line"
log "(b) magnet through the IPv6 DHT: $(grep -m1 -o 'metadata of .* bytes after [0-9]* ms' "$LOG_B"); b.bin right"
first_dht "$LOG_B" "[fd50::3]:$S_PORT" "(b)"
umount_p2pfs "$T/mnt-b"

# ---- (c) dual stack: no --bind ----
n=0
for boot in "$R0_4,$R0_6" "$R0_6" "$R0_4"; do
	n=$((n + 1))
	args=()
	IFS=, read -ra bs <<<"$boot"
	for b in "${bs[@]}"; do args+=(--dht-bootstrap "$b"); done
	mount_p2pfs "$T/c.torrent" "$T/mnt-c$n" --cache "$T/c-c$n" --no-trackers \
		--port $((P + 5 + n)) "${args[@]}" -v
	wait_dht_peer "$T/mnt-c$n" "[fd50::3]:$S_PORT" "127.0.0.6:$S4_PORT"
	# the next lookups (from 5 s, while the torrent is not complete)
	# bring our own announce back, as the nodes saw it: from fd50::1,
	# fd50::2, 127.0.0.1...; an unbound node knows those are its own
	# addresses and does not connect to itself
	if [ $n = 2 ]; then sleep 6; fi
	check_file "$T/mnt-c$n/c.bin" "$T/data/c.bin"
	t6=$(log_ms "$MOUNT_LOG" "connected to '[fd50::3]:$S_PORT'")
	t4=$(log_ms "$MOUNT_LOG" "connected to '127.0.0.6:$S4_PORT'")
	log "(c) unbound, bootstrap $boot: both seeders found through the DHT (IPv6 after $((t6 - MOUNT_T0)) ms, IPv4 after $((t4 - MOUNT_T0)) ms); c.bin right"
	umount_p2pfs "$T/mnt-c$n"
	if grep -q 'connected to ourselves' "$MOUNT_LOG"; then
		fail "the unbound mount connected to itself: $(grep -m3 'ourselves' "$MOUNT_LOG")"
	fi
done

# ---- (e) p2pfs seed over the IPv6 DHT, found by libtorrent ----
D_PORT=$((P + 10))
start_p2pfs_seed fd50::8 "$D_PORT" "$T/d.torrent" "$T/src/d" --cache "$T/c-e" \
	--no-trackers --dht-bootstrap "$R0_6"
seed=$LAST_PID
cfg=$(printf '{"secs": 120, "boot": "%s", "nodes": [
 {"role": "leech", "ip": "fd50::9", "port": %d, "torrents": ["%s"], "save": "%s"},
 {"role": "leech", "ip": "fd50::6", "port": %d, "torrents": ["%s"], "save": "%s", "boot": "[fd50::8]:%d"}]}' \
	"$R0_6" $((P + 11)) "$T/d.torrent" "$T/leech1" \
	$((P + 12)) "$T/d.torrent" "$T/leech2" "$D_PORT")
mkdir -p "$T/leech1" "$T/leech2"
T0=$(now_ms)
nsenter --net="$NSFILE" "$IT_LT_PY" "$(dirname "$0")/lt_dht_swarm.py" "$cfg" \
	>"$LOGS/leechers.log" 2>&1 </dev/null &
it_track $!
LEECH=$!
for ((i = 0; i < 600; i++)); do
	[ "$(grep -c "^leech: $IH_D done" "$LOGS/leechers.log" 2>/dev/null || true)" = 2 ] && break
	pid_alive "$LEECH" || break
	sleep 0.1
done
[ "$(grep -c "^leech: $IH_D done" "$LOGS/leechers.log" 2>/dev/null || true)" = 2 ] ||
	fail "the IPv6 libtorrent leechers did not both complete: $(tail -n 8 "$LOGS/leechers.log")"
log "(e) $(grep "^leech: .* done" "$LOGS/leechers.log" | tr '\n' ' ')($(($(now_ms) - T0)) ms after they started)"
for l in fd50::9 fd50::6; do
	grep -q "^leech: $IH_D peer fd50::8:$D_PORT at $l\$" "$LOGS/leechers.log" ||
		grep -qF "peer: connected to '[$l]:" "$SEED_LOG" ||
		fail "the leecher on $l never connected to p2pfs ([fd50::8]:$D_PORT)"
done
compare_trees "$T/src/d" "$T/leech1/d"
compare_trees "$T/src/d" "$T/leech2/d"
stop_p2pfs_seed "$seed"
log "(e) both IPv6 leechers have every file (sha256); $(grep -m1 -o 'dht: stopped: .*' "$SEED_LOG")"

# ---- (d) without P2PFS_LOOPBACK_NET: the IPv6 node is not loopback ----
export IT_V6_NET=
mount_p2pfs "$T/a.torrent" "$T/mnt-d" --cache "$T/c-d" --no-trackers \
	--bind fd50::7 --port $((P + 9)) --dht-bootstrap "$R0_6"
LOG_D=$MOUNT_LOG
unset IT_V6_NET
sleep 3
pl=$(xattr_of "$T/mnt-d" user.p2pfs.peers)
umount_p2pfs "$T/mnt-d"
grep -q "bootstrap '\[fd50::1\]:$R0_PORT' .*not used: not a loopback address" "$LOG_D" ||
	fail "without P2PFS_LOOPBACK_NET the IPv6 bootstrap was not refused: $(grep -m3 dht "$LOG_D")"
grep -q "fd50::3" <<<"$pl" && fail "a peer was found without P2PFS_LOOPBACK_NET: $pl"
grep -q 'dht: stopped: 0 datagrams' "$LOG_D" ||
	fail "the node sent datagrams: $(grep -m1 'dht: stopped' "$LOG_D")"
log "(d) without P2PFS_LOOPBACK_NET: bootstrap refused, 0 datagrams sent"
log PASS
