#!/bin/bash
# test_magnet_dht_seed — a friend with only the magnet link: `p2pfs create`
# (no -t: no tracker in the torrent) prints the link, `p2pfs seed` seeds it
# and announces it to a DHT of two python3-libtorrent nodes on loopback;
# then a libtorrent session (lt_dht_swarm.py) and an aria2c, each given
# ONLY the magnet link and p2pfs's node as their one DHT bootstrap node
# (no tracker, no peer, no PEX, no LSD), one after the other, find p2pfs
# through the DHT, fetch the metadata from it (ut_metadata) and download
# everything: the files match (sha256), and p2pfs saw both connect. Last, a DHT of two: a seed
# that knows no DHT node and a libtorrent leecher booted from it alone.
# Loopback only; every wait bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9920
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }
command -v aria2c >/dev/null || { log "SKIP: no aria2c"; exit 77; }
SWARM_PY=$(dirname "$0")/lt_dht_swarm.py

R0=127.0.0.121 R1=127.0.0.122 P_IP=127.0.0.123 L_IP=127.0.0.124 A_IP=127.0.0.125
R0_PORT=$IT_BASE R1_PORT=$((IT_BASE + 1)) P_PORT=$((IT_BASE + 2))
L_PORT=$((IT_BASE + 3)) A_PORT=$((IT_BASE + 4)) A_DHT=$((IT_BASE + 5))

S=$T/src/share
gen_data "$S/film.bin" $((6 * 1024 * 1024 + 321))
gen_data "$S/sub/notes.bin" 5000
echo hello >"$S/hello.txt"
"$P2PFS" create "$S" -o "$T/share.torrent" >"$LOGS/create.out" 2>&1 ||
	fail "p2pfs create failed: $(cat "$LOGS/create.out")"
MAG=$(sed -n 's/^magnet: *//p' "$LOGS/create.out")
IH=$(infohash "$T/share.torrent")
[ "$MAG" = "magnet:?xt=urn:btih:$IH&dn=share" ] || fail "create printed the link '$MAG'"
grep -q announce "$T/share.torrent" && fail "the torrent of create without -t has a tracker"
log "made $MAG"

cfg=$(printf '{"secs": 150, "boot": "%s:%d", "watch": ["%s"], "nodes": [
 {"role": "router", "ip": "%s", "port": %d, "boot": "%s:%d"},
 {"role": "router", "ip": "%s", "port": %d}]}' \
	"$R0" "$R0_PORT" "$IH" "$R0" "$R0_PORT" "$R1" "$R1_PORT" "$R1" "$R1_PORT")
"$IT_LT_PY" "$SWARM_PY" "$cfg" >"$LOGS/routers.log" 2>&1 </dev/null &
it_track $!
ROUTERS=$!

T0=$(now_ms)
start_p2pfs_seed "$P_IP" "$P_PORT" "$T/share.torrent" "$S" --dht-bootstrap "$R0:$R0_PORT"
seed=$LAST_PID
for ((i = 0; i < 300; i++)); do
	grep -q "^router: $IH has peers .*$P_IP:$P_PORT" "$LOGS/routers.log" && break
	pid_alive "$ROUTERS" || fail "the libtorrent nodes exited: $(tail -n 5 "$LOGS/routers.log")"
	sleep 0.1
done
grep -q "^router: $IH has peers .*$P_IP:$P_PORT" "$LOGS/routers.log" ||
	fail "p2pfs's announce never reached the libtorrent DHT: $(grep -m5 dht "$SEED_LOG")"
log "the DHT has p2pfs's announce $(($(now_ms) - T0)) ms after the seed started"

# libtorrent: the magnet link, its DHT bootstrap p2pfs's node
mkdir -p "$T/leech"
cfg=$(printf '{"secs": 60, "boot": "%s:%d", "nodes": [
 {"role": "leech", "ip": "%s", "port": %d, "magnets": ["%s"], "save": "%s"}]}' \
	"$P_IP" "$P_PORT" "$L_IP" "$L_PORT" "$MAG" "$T/leech")
"$IT_LT_PY" "$SWARM_PY" "$cfg" >"$LOGS/leecher.log" 2>&1 </dev/null &
it_track $!
LEECH=$!
for ((i = 0; i < 600; i++)); do
	grep -q "^leech: $IH done" "$LOGS/leecher.log" 2>/dev/null && break
	pid_alive "$LEECH" || break
	sleep 0.1
done
grep -q "^leech: $IH done" "$LOGS/leecher.log" ||
	fail "the libtorrent leecher did not complete from the magnet: $(tail -n 8 "$LOGS/leecher.log")"
log "libtorrent: $(grep '^leech: .*\(metadata\|done\)' "$LOGS/leecher.log" | cut -d' ' -f3- | tr '\n' ' ')"
compare_trees "$S" "$T/leech/share"
grep -q "peer: connected to '$L_IP:" "$SEED_LOG" ||
	grep -q "^leech: $IH peer $P_IP:$P_PORT at $L_IP\$" "$LOGS/leecher.log" ||
	fail "the libtorrent leecher never connected to p2pfs"

# gone before aria2c starts, so that aria2c has p2pfs alone to get it from
stop_pid "$LEECH"

# aria2c: the magnet link, its DHT entry point p2pfs's node (it resolves a
# magnet only once its DHT has bootstrapped: several seconds)
mkdir -p "$T/aria2"
T1=$(now_ms)
with_timeout 70 aria2c --no-conf --enable-rpc=false --daemon=false \
	--bt-enable-lpd=false --enable-peer-exchange=false --disable-ipv6=true \
	--enable-dht=true --enable-dht6=false --dht-listen-port="$A_DHT" \
	--dht-entry-point="$P_IP:$P_PORT" --dht-file-path="$T/aria2/dht.dat" \
	--interface="$A_IP" --bt-external-ip="$A_IP" --listen-port="$A_PORT" \
	--seed-time=0 --bt-stop-timeout=60 --bt-metadata-only=false \
	--dir="$T/aria2" --log="$LOGS/aria2.log" --log-level=info \
	--console-log-level=warn --summary-interval=0 --stop-with-process=$$ \
	"$MAG" >"$LOGS/aria2.out" 2>&1 </dev/null &
it_track $!
ARIA=$!

wait_exit "$ARIA" 75 || fail "aria2c not done after 75 s: $(tail -n 3 "$LOGS/aria2.out")"
rc=$(exit_status "$ARIA")
[ "$rc" = 0 ] || fail "aria2c exited with status $rc: $(tail -n 5 "$LOGS/aria2.out")"
log "aria2c: the magnet resolved and downloaded in $(($(now_ms) - T1)) ms"
compare_trees "$S" "$T/aria2/share"
grep -q "peer: connected to '$A_IP:" "$SEED_LOG" || fail "aria2c never connected to p2pfs"
grep -q "$P_IP:$P_PORT" "$LOGS/aria2.log" || fail "aria2c's log never names p2pfs"

stop_p2pfs_seed "$seed"
up=$(grep -m1 -o 'stopping on signal 15: .* uploaded' "$SEED_LOG" || true)
log "seed: $up"

# a DHT of two: a `p2pfs seed` that knows no node at all (no bootstrap, a
# fresh cache root) and a libtorrent leecher with the link and p2pfs as
# its only node; they meet through each other's DHT node alone
S2=$T/src/two
gen_data "$S2/two.bin" 1500K
"$P2PFS" create "$S2" -o "$T/two.torrent" >"$LOGS/create2.out" 2>&1 ||
	fail "p2pfs create failed: $(cat "$LOGS/create2.out")"
MAG2=$(sed -n 's/^magnet: *//p' "$LOGS/create2.out")
IH2=$(infohash "$T/two.torrent")
start_p2pfs_seed "$P_IP" $((IT_BASE + 6)) "$T/two.torrent" "$S2" --cache "$T/cache2"
seed=$LAST_PID
mkdir -p "$T/leech2"
cfg=$(printf '{"secs": 40, "boot": "%s:%d", "nodes": [
 {"role": "leech", "ip": "%s", "port": %d, "magnets": ["%s"], "save": "%s"}]}' \
	"$P_IP" $((IT_BASE + 6)) "$L_IP" $((IT_BASE + 7)) "$MAG2" "$T/leech2")
"$IT_LT_PY" "$SWARM_PY" "$cfg" >"$LOGS/leecher2.log" 2>&1 </dev/null &
it_track $!
LEECH=$!
for ((i = 0; i < 300; i++)); do
	grep -q "^leech: $IH2 done" "$LOGS/leecher2.log" 2>/dev/null && break
	pid_alive "$LEECH" || break
	sleep 0.1
done
grep -q "^leech: $IH2 done" "$LOGS/leecher2.log" ||
	fail "a DHT of two: the libtorrent leecher did not complete: $(tail -n 5 "$LOGS/leecher2.log")"
compare_trees "$S2" "$T/leech2/two"
stop_pid "$LEECH"
stop_p2pfs_seed "$seed"
log "a DHT of two (p2pfs's node and libtorrent's): $(grep "^leech: $IH2 done" "$LOGS/leecher2.log" | cut -d' ' -f3-)"
log "PASS"
