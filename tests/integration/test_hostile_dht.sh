#!/bin/bash
# Hostile DHT nodes (tests/integration/hostile_dht.py), one case a mount,
# each beside an honest DHT: two python3-libtorrent DHT nodes and a
# libtorrent seeder that is found only through the DHT (no tracker, no
# --peer). The mount bootstraps from the hostile node first, then from an
# honest one:
#   fake-peers  every get_peers answered with 7,000 fake peers and fake nodes
#   garbage     every answer broken (not bencode, wrong ids, 50 KB strings,
#               30k levels of nesting, odd node strings)
#   flood       queries as fast as it can from 20 ports for 10 s, with
#               announce_peer under made-up tokens
# Each time: the seeder is still found and a read gets the right bytes in
# bounded time, the daemon's memory, fds and CPU stay bounded, and it exits
# 0 on unmount. The flood gets at most a rate-limited trickle of answers,
# and its bad-token announces store nothing (a get_peers for that
# info-hash afterwards returns no peer). Loopback only; every wait bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 10000
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }

R0=127.0.0.81 R1=127.0.0.82 S_IP=127.0.0.83 P_IP=127.0.0.84 H_IP=127.0.0.85
R0_PORT=$IT_BASE R1_PORT=$((IT_BASE + 1)) S_PORT=$((IT_BASE + 2))

gen_data "$T/data/t/a.bin" 3M
gen_data "$T/data/t/z.bin" 300K
make_torrent "$T/data/t" 16 "$T/t.torrent"
IH=$(infohash "$T/t.torrent")

cfg=$(printf '{"secs": 200, "boot": "%s:%d", "watch": ["%s"], "nodes": [
 {"role": "router", "ip": "%s", "port": %d, "boot": "%s:%d"},
 {"role": "router", "ip": "%s", "port": %d},
 {"role": "seed", "ip": "%s", "port": %d, "torrents": ["%s"], "save": "%s"}]}' \
	"$R0" "$R0_PORT" "$IH" \
	"$R0" "$R0_PORT" "$R1" "$R1_PORT" "$R1" "$R1_PORT" \
	"$S_IP" "$S_PORT" "$T/t.torrent" "$T/data")
"$IT_LT_PY" "$(dirname "$0")/lt_dht_swarm.py" "$cfg" >"$LOGS/swarm.log" 2>&1 </dev/null &
it_track $!
SWARM=$!
announced() { grep -q '^router: .* has peers' "$LOGS/swarm.log" 2>/dev/null; }
for ((i = 0; i < 400; i++)); do
	announced && break
	pid_alive "$SWARM" || fail "the libtorrent swarm exited: $(tail -n 5 "$LOGS/swarm.log")"
	sleep 0.1
done
announced || fail "the seeder's announce never reached the DHT: $(tail -n 5 "$LOGS/swarm.log")"

n=0
for c in fake-peers garbage flood; do
	n=$((n + 1))
	port=$((IT_BASE + 10 + n))
	hport=$((IT_BASE + 20 + n))
	out=$T/hdht-$c.json
	"$IT_PY" "$(dirname "$0")/hostile_dht.py" "$c" --bind "$H_IP:$hport" \
		--target "$P_IP:$port" --secs 60 --out "$out" --check-bind 127.0.0.86 \
		>"$LOGS/hdht-$c.log" 2>&1 </dev/null &
	it_track $!
	hpid=$!
	sleep 0.3
	mount_p2pfs "$T/t.torrent" "$T/mnt-$c" --no-trackers --bind "$P_IP" --port "$port" \
		--cache "$T/cache-$c" --dht-bootstrap "$H_IP:$hport" --dht-bootstrap "$R0:$R0_PORT" -v
	daemon=$LAST_PID
	daemon_watch "$daemon"
	cpu0=$(daemon_cpu "$daemon")
	w0=$(now_ms)
	# the mount has asked the hostile node, and lived with it for 3 s
	# (its lookups repeat every few seconds while it has few peers)
	for ((i = 0; i < 100; i++)); do
		grep -q 'first query' "$LOGS/hdht-$c.log" && break
		sleep 0.1
	done
	grep -q 'first query' "$LOGS/hdht-$c.log" ||
		fail "$c: p2pfs never queried the hostile node: $(tail -n 3 "$LOGS/hdht-$c.log")"
	sleep 3
	timed_read "$T/mnt-$c/t/a.bin" "$T/data/t/a.bin" 40
	if [ "$c" = flood ]; then
		# the flood starts once the mount has queried the hostile node;
		# let it run its 10 s against a mount that is still up
		for ((i = 0; i < 200; i++)); do
			grep -q 'flood done' "$LOGS/hdht-$c.log" && break
			pid_alive "$hpid" || break
			sleep 0.1
		done
		grep -q 'flood done' "$LOGS/hdht-$c.log" ||
			fail "flood: the hostile node never flooded: $(tail -n 3 "$LOGS/hdht-$c.log")"
		timed_read "$T/mnt-$c/t/z.bin" "$T/data/t/z.bin" 20
	fi
	daemon_check "$daemon" "dht $c" "$cpu0" "$w0" 80
	umount_p2pfs "$T/mnt-$c"
	kill "$hpid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do [ -s "$out" ] && break; sleep 0.1; done
	[ -s "$out" ] || fail "$c: no summary from the hostile node"
	log "$c: $(cat "$out")"
	"$IT_PY" - "$out" "$c" <<'PY' || fail "$c: see the summary above"
import json, sys
s = json.load(open(sys.argv[1]))
case = sys.argv[2]
if s['queries_in'] < 1:
    sys.exit('p2pfs never queried the hostile node (it was its bootstrap)')
if s['from_non_loopback']:
    sys.exit('datagrams from off loopback')
if case == 'flood':
    if s['flood_sent'] < 5000:
        sys.exit('the flood sent only %d queries' % s['flood_sent'])
    # 8 queries/s per address (burst 32) are answered: 10 s is ~112
    if s['flood_answers'] > 500:
        sys.exit('%d of %d flood queries answered: no rate limit'
                 % (s['flood_answers'], s['flood_sent']))
    if s['bad_token_values'] is None:
        sys.exit('no answer to the get_peers after the flood')
    if s['bad_token_values'] != 0:
        sys.exit('announces under bad tokens were stored (%d peers)'
                 % s['bad_token_values'])
PY
done
log PASS
