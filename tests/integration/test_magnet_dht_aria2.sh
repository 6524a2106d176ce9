#!/bin/bash
# test_magnet_dht_aria2 — a bare magnet link (no tr=, no x.pe=) whose only
# seeder is aria2c, found through the DHT alone: aria2c seeds a trackerless
# torrent with its DHT on (its own routing-table file, its entry point a
# python3-libtorrent DHT node), and `p2pfs mount MAGNET --no-trackers
# --dht-bootstrap` to the libtorrent node gets the metadata from aria2c
# (ut_metadata) and reads every file with the right sha256. aria2c is a
# second, independent DHT and ut_metadata implementation beside
# libtorrent's. Loopback only; every wait bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9940
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }
command -v aria2c >/dev/null || { log "SKIP: no aria2c"; exit 77; }

R0=127.0.0.131 R1=127.0.0.132 A_IP=127.0.0.133 P_IP=127.0.0.134
R0_PORT=$IT_BASE R1_PORT=$((IT_BASE + 1)) A_DHT=$((IT_BASE + 2))
A_PORT=$((IT_BASE + 3)) P_PORT=$((IT_BASE + 4))

S=$T/data/share
gen_data "$S/film.bin" $((3 * 1024 * 1024 + 99))
gen_data "$S/sub/notes.bin" 200K
echo hello >"$S/hello.txt"
make_torrent "$S" 16 "$T/share.torrent" # no tracker
IH=$(infohash "$T/share.torrent")

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
	"$T/share.torrent" >"$LOGS/aria2.out" 2>&1 </dev/null &
it_track $!
ARIA=$!
T0=$(now_ms)
# aria2c's announce reached the DHT (a libtorrent node's lookup sees it)
for ((i = 0; i < 600; i++)); do
	grep -q "^router: $IH has peers .*$A_IP:$A_PORT" "$LOGS/routers.log" 2>/dev/null && break
	pid_alive "$ARIA" || fail "aria2c exited: $(tail -n 5 "$LOGS/aria2.out")"
	pid_alive "$ROUTERS" || fail "the libtorrent nodes exited: $(tail -n 5 "$LOGS/routers.log")"
	sleep 0.1
done
grep -q "^router: $IH has peers .*$A_IP:$A_PORT" "$LOGS/routers.log" ||
	fail "aria2c's announce never reached the DHT: $(tail -n 3 "$LOGS/routers.log")"
log "aria2c's announce is in the DHT after $(($(now_ms) - T0)) ms"

MAG="magnet:?xt=urn:btih:$IH&dn=share"
mount_p2pfs "$MAG" "$T/mnt" --no-trackers --dht-bootstrap "$R0:$R0_PORT" \
	--bind "$P_IP" --port "$P_PORT" --metadata-timeout 30
grep -q "first peer from the DHT ('$A_IP:$A_PORT')" "$MOUNT_LOG" ||
	fail "aria2c was not found through the DHT: $(grep -m5 dht "$MOUNT_LOG")"
meta=$(grep -m1 -o "metadata of 'share': .*" "$MOUNT_LOG") || fail "no metadata line"
t_mounted=$(($(now_ms) - MOUNT_T0))
with_timeout 30 dd if="$T/mnt/share/film.bin" of=/dev/null bs=64k count=1 2>/dev/null ||
	fail "no first 64 KiB"
t_first=$(($(now_ms) - MOUNT_T0))
compare_trees "$S" "$T/mnt/share"
umount_p2pfs "$T/mnt"
[ -s "$T/cache/$IH/torrent" ] || fail "the metadata is not kept in the cache folder"
log "$meta (from aria2c, found by DHT); mounted after $t_mounted ms, first 64 KiB after $t_first ms; every file right"
log "PASS"
