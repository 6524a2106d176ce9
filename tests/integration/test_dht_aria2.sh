#!/bin/bash
# p2pfs mount finds an aria2c seeder through the DHT alone: aria2c seeds a
# trackerless torrent with its DHT on (its own routing-table file, its
# entry point a python3-libtorrent DHT node), p2pfs mounts it with
# --no-trackers --dht-bootstrap on the libtorrent node, and reads every
# byte right; then an aria2c leecher whose only DHT entry point is p2pfs's
# node (of a `p2pfs seed`) finds that seed and downloads from it. aria2c
# is a second, independent DHT implementation beside libtorrent. Loopback only; every wait bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9880
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }
command -v aria2c >/dev/null || { log "SKIP: no aria2c"; exit 77; }

R0=127.0.0.101 R1=127.0.0.102 A_IP=127.0.0.103 P_IP=127.0.0.104
R0_PORT=$IT_BASE R1_PORT=$((IT_BASE + 1)) A_DHT=$((IT_BASE + 2))
A_PORT=$((IT_BASE + 3)) P_PORT=$((IT_BASE + 4))

gen_data "$T/data/film.bin" 3M
make_torrent "$T/data/film.bin" 16 "$T/film.torrent"
IH=$(infohash "$T/film.torrent")

cfg=$(printf '{"secs": 150, "boot": "%s:%d", "watch": ["%s"], "nodes": [
 {"role": "router", "ip": "%s", "port": %d, "boot": "%s:%d"},
 {"role": "router", "ip": "%s", "port": %d}]}' \
	"$R0" "$R0_PORT" "$IH" "$R0" "$R0_PORT" "$R1" "$R1_PORT" "$R1" "$R1_PORT")
"$IT_LT_PY" "$(dirname "$0")/lt_dht_swarm.py" "$cfg" >"$LOGS/routers.log" 2>&1 </dev/null &
it_track $!
ROUTERS=$!

mkdir -p "$T/aria2"
aria2c --no-conf --enable-rpc=false --daemon=false \
	--bt-enable-lpd=false --enable-peer-exchange=false --disable-ipv6=true \
	--enable-dht=true --enable-dht6=false --dht-listen-port="$A_DHT" \
	--dht-entry-point="$R0:$R0_PORT" --dht-file-path="$T/aria2/dht.dat" \
	--interface="$A_IP" --bt-external-ip="$A_IP" --listen-port="$A_PORT" \
	--check-integrity=true --bt-hash-check-seed=true --seed-ratio=0.0 \
	--dir="$T/data" --log="$LOGS/aria2.log" --log-level=info \
	--console-log-level=warn --summary-interval=0 --stop-with-process=$$ \
	"$T/film.torrent" >"$LOGS/aria2.out" 2>&1 </dev/null &
it_track $!
ARIA=$!
# aria2c's announce reached the DHT (a libtorrent node's lookup sees it)
for ((i = 0; i < 600; i++)); do
	grep -q "^router: $IH has peers .*$A_IP:$A_PORT" "$LOGS/routers.log" && break
	pid_alive "$ARIA" || fail "aria2c exited: $(tail -n 5 "$LOGS/aria2.out")"
	pid_alive "$ROUTERS" || fail "the libtorrent nodes exited: $(tail -n 5 "$LOGS/routers.log")"
	sleep 0.1
done
grep -q "^router: $IH has peers .*$A_IP:$A_PORT" "$LOGS/routers.log" ||
	fail "aria2c's announce never reached the DHT: $(tail -n 3 "$LOGS/routers.log")"
log "$(grep -m1 '^router:' "$LOGS/routers.log")"

mount_p2pfs "$T/film.torrent" "$T/mnt" --no-trackers --bind "$P_IP" --port "$P_PORT" \
	--dht-bootstrap "$R0:$R0_PORT"
got=$(with_timeout 60 sha256sum <"$T/mnt/film.bin" | cut -d' ' -f1) || fail "reading film.bin failed"
[ "$got" = "$(sha_of "$T/data/film.bin")" ] || fail "film.bin: wrong sha256"
grep -q "first peer from the DHT ('$A_IP:$A_PORT')" "$MOUNT_LOG" ||
	fail "aria2c was not found through the DHT: $(grep -m5 dht "$MOUNT_LOG")"
log "$(grep -m1 -o 'first peer from the DHT.*' "$MOUNT_LOG"); right sha256"
umount_p2pfs "$T/mnt"

# the reverse: p2pfs seeds a torrent of its own; an aria2c leecher whose
# only DHT entry point is p2pfs's node finds it there and downloads it
gen_data "$T/src/notes.bin" 2M
make_torrent "$T/src/notes.bin" 16 "$T/notes.torrent"
start_p2pfs_seed "$P_IP" $((P_PORT + 1)) "$T/notes.torrent" "$T/src/notes.bin" \
	--no-trackers --dht-bootstrap "$R0:$R0_PORT"
seed=$LAST_PID
mkdir -p "$T/leech"
with_timeout 90 aria2c --no-conf --enable-rpc=false --daemon=false \
	--bt-enable-lpd=false --enable-peer-exchange=false --disable-ipv6=true \
	--enable-dht=true --enable-dht6=false --dht-listen-port=$((IT_BASE + 5)) \
	--dht-entry-point="$P_IP:$((P_PORT + 1))" --dht-file-path="$T/aria2/dht2.dat" \
	--interface=127.0.0.105 --bt-external-ip=127.0.0.105 --listen-port=$((IT_BASE + 6)) \
	--seed-time=0 --bt-stop-timeout=80 --dir="$T/leech" --log="$LOGS/aria2-leech.log" \
	--log-level=info --console-log-level=warn --summary-interval=0 \
	"$T/notes.torrent" >"$LOGS/aria2-leech.out" 2>&1 </dev/null ||
	fail "the aria2c leecher did not complete: $(tail -n 3 "$LOGS/aria2-leech.out")"
[ "$(sha_of "$T/leech/notes.bin")" = "$(sha_of "$T/src/notes.bin")" ] ||
	fail "aria2c's copy differs"
grep -q "peer: connected to '127.0.0.105:" "$SEED_LOG" ||
	fail "aria2c never connected to p2pfs"
stop_p2pfs_seed "$seed"
log "aria2c found p2pfs's seed through p2pfs's own DHT node: right sha256"
log "ok"
