#!/bin/bash
# Malformed extension traffic and handshakes that never finish, one case at
# a time, each against a fresh mount beside one honest aria2c seeder:
#   ext-garbage      BEP 10 handshakes that are not bencode, 50k levels
#                    deep, with fields of the wrong types, an unknown id
#   ut-metadata-bad  ut_metadata with a wrong metadata_size, unasked pieces
#                    of the wrong size, requests for absurd pieces
#   ut-pex-flood     ut_pex messages adding 200k fake loopback peers
#   mse-stall        96 random bytes and padding (the start of an MSE
#                    handshake), then silence
# The first three then serve the right bytes like an honest seed. p2pfs
# may keep or drop them, but a read must get the right bytes in bounded
# time, the honest seeder must stay connected, the daemon's memory, fds
# and CPU stay bounded and it exits 0 on unmount. A handshake that never
# completes must not hold its connection for more than 30 s.
# p2pfs speaks BEP 9/10/11: a PEX flooder is dropped (its fake peers
# bounded), the others may be.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 6900
P=$IT_BASE

hostile_data "$T/src" $(((4 << 20) + 999))
make_torrent "$T/src/t" 18 "$T/e.torrent"
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/e.torrent" "$T/src"

n=0
run_case() {
	local c=$1 mnt=$T/mnt-$1
	shift
	n=$((n + 1))
	mount_p2pfs "$T/e.torrent" "$mnt" --cache "$T/cache-$c" --bind 127.0.0.5 \
		--port $((P + 50)) --no-trackers --peer 127.0.0.2:$((P + 1))
	local daemon=$LAST_PID
	daemon_watch "$daemon"
	wait_peer_listed "$mnt" 127.0.0.2 10 || fail "$c: p2pfs did not connect to the seeder"
	hostile_start "$c" --torrent "$T/e.torrent" --data "$T/src" \
		--connect 127.0.0.5:$((P + 50)) --bind 127.0.66.$((40 + n)) "$@"
	local cpu0 w0
	cpu0=$(daemon_cpu "$daemon")
	w0=$(now_ms)
	sleep 1
	timed_read "$mnt/t/a.bin" "$T/src/t/a.bin" 30
	hostile_end 40
	daemon_check "$daemon" "$c" "$cpu0" "$w0" 80
	peers_of "$mnt" | grep -q "^127.0.0.2:$((P + 1)) " || fail "$c: the honest seeder was dropped"
	umount_p2pfs "$mnt"
}

run_case ext-garbage --secs 4
run_case ut-metadata-bad --secs 4
run_case ut-pex-flood --secs 6 --flood 200000
# p2pfs drops a PEX flooder (bt_pexstate), or takes the whole flood
sent=$(hget "r.get('pex_peers_sent', 0)")
closed=$(hget "r.get('remote_closed', 0)")
[ "$sent" -ge 100000 ] || { [ "$closed" -ge 1 ] && [ "$sent" -ge 2000 ]; } ||
	fail "ut-pex-flood sent only $sent peers and was not dropped"
log "ut-pex-flood: $sent fake peers sent, dropped by p2pfs: $closed"
run_case mse-stall --secs 35
[ "$(hget "r['remote_closed']")" = 1 ] || fail "mse-stall: the unfinished handshake was still open after 35 s"
ms=$(hget "r['drop_ms'][0]")
log "mse-stall: closed after $ms ms"
[ "$ms" -le 30000 ] || fail "mse-stall: the unfinished handshake held its connection for $ms ms"
log PASS
