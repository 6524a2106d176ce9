#!/bin/bash
# p2pfs seed is found through the DHT: `p2pfs seed X.torrent DIR
# --no-trackers --dht-bootstrap ROUTER` (a trackerless torrent) announces
# itself to a DHT of two python3-libtorrent nodes on loopback; then two
# libtorrent leechers with the .torrent, no tracker, no peer given, no PEX
# (tests/integration/lt_dht_swarm.py) find it through the DHT and download
# everything from it: one bootstraps from a libtorrent node, the other from
# p2pfs's own DHT node (so p2pfs answers a real client's find_node and
# get_peers). The files match (sha256). Loopback only; every wait bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9820
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }
SWARM_PY=$(dirname "$0")/lt_dht_swarm.py

R0=127.0.0.71 R1=127.0.0.72 P_IP=127.0.0.73 L1=127.0.0.74 L2=127.0.0.75
R0_PORT=$IT_BASE R1_PORT=$((IT_BASE + 1)) P_PORT=$((IT_BASE + 2))
L1_PORT=$((IT_BASE + 3)) L2_PORT=$((IT_BASE + 4))

S=$T/src/share
gen_data "$S/film.bin" $((6 * 1024 * 1024 + 321))
gen_data "$S/notes.txt" 5000
make_torrent "$S" 16 "$T/share.torrent"
IH=$(infohash "$T/share.torrent")

cfg=$(printf '{"secs": 150, "boot": "%s:%d", "watch": ["%s"], "nodes": [
 {"role": "router", "ip": "%s", "port": %d, "boot": "%s:%d"},
 {"role": "router", "ip": "%s", "port": %d}]}' \
	"$R0" "$R0_PORT" "$IH" "$R0" "$R0_PORT" "$R1" "$R1_PORT" "$R1" "$R1_PORT")
"$IT_LT_PY" "$SWARM_PY" "$cfg" >"$LOGS/routers.log" 2>&1 </dev/null &
it_track $!
ROUTERS=$!

T0=$(now_ms)
start_p2pfs_seed "$P_IP" "$P_PORT" "$T/share.torrent" "$S" --no-trackers \
	--dht-bootstrap "$R0:$R0_PORT"
seed=$LAST_PID
for ((i = 0; i < 300; i++)); do
	grep -q "^router: $IH has peers .*$P_IP:$P_PORT" "$LOGS/routers.log" && break
	pid_alive "$ROUTERS" || fail "the libtorrent routers exited: $(tail -n 5 "$LOGS/routers.log")"
	sleep 0.1
done
grep -q "^router: $IH has peers .*$P_IP:$P_PORT" "$LOGS/routers.log" ||
	fail "p2pfs's announce never reached the libtorrent DHT: $(grep -m5 dht "$SEED_LOG")"
log "libtorrent's DHT has p2pfs's announce $(($(now_ms) - T0)) ms after the seed started"

# the leechers: one through a libtorrent node, one through p2pfs's node
cfg=$(printf '{"secs": 120, "boot": "%s:%d", "nodes": [
 {"role": "leech", "ip": "%s", "port": %d, "torrents": ["%s"], "save": "%s"},
 {"role": "leech", "ip": "%s", "port": %d, "torrents": ["%s"], "save": "%s", "boot": "%s:%d"}]}' \
	"$R0" "$R0_PORT" "$L1" "$L1_PORT" "$T/share.torrent" "$T/leech1" \
	"$L2" "$L2_PORT" "$T/share.torrent" "$T/leech2" "$P_IP" "$P_PORT")
mkdir -p "$T/leech1" "$T/leech2"
"$IT_LT_PY" "$SWARM_PY" "$cfg" >"$LOGS/leechers.log" 2>&1 </dev/null &
it_track $!
LEECH=$!
for ((i = 0; i < 900; i++)); do
	[ "$(grep -c "^leech: $IH done" "$LOGS/leechers.log" 2>/dev/null || true)" = 2 ] && break
	pid_alive "$LEECH" || break
	sleep 0.1
done
[ "$(grep -c "^leech: $IH done" "$LOGS/leechers.log" 2>/dev/null || true)" = 2 ] ||
	fail "the libtorrent leechers did not both complete: $(tail -n 8 "$LOGS/leechers.log")"
log "$(grep "^leech: " "$LOGS/leechers.log" | tr '\n' ' ')"
# each found p2pfs (its only possible source: no tracker, no PEX)
# (a download can take 40 ms: the leechers' peer lists, read every 50 ms,
# may miss it, so p2pfs's log of its incoming peers counts too)
for l in "$L1" "$L2"; do
	grep -q "^leech: $IH peer $P_IP:$P_PORT at $l\$" "$LOGS/leechers.log" ||
		grep -q "peer: connected to '$l:" "$SEED_LOG" ||
		fail "the leecher on $l never connected to p2pfs ($P_IP:$P_PORT)"
done
compare_trees "$S" "$T/leech1/share"
compare_trees "$S" "$T/leech2/share"
log "both leechers have every file (sha256)"
stop_p2pfs_seed "$seed"
grep -m1 -o 'dht: stopped: .*' "$SEED_LOG" >&2 || fail "no DHT stop line in the seed's log"
up=$(grep -m1 -o 'stopping on signal 15: .* uploaded' "$SEED_LOG" || true)
log "seed: $up"
# p2pfs was the only source of the first leecher's data: 6 MiB at least
grep -Eq ': ([6-9]|[1-9][0-9]+)\.[0-9] MiB uploaded' <<<"$up" ||
	fail "p2pfs uploaded less than the torrent: $up"
log "ok"
