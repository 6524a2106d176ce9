#!/bin/bash
# Peers that take requests and do not deliver, each beside one honest
# aria2c seeder (capped at 4 MiB/s, so the read takes a few seconds):
#   unchoke-silent   claims every piece, unchokes, never answers a request
#   close-mid-block  answers with half a block and closes, again and again
#                    (it reconnects up to 50 times)
# A read of the whole file must get the right bytes within 30 s, the honest
# seeder must stay connected, the daemon's memory, fds and CPU bounded, and
# the daemon must exit 0 on unmount.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 6500
P=$IT_BASE

hostile_data "$T/src" $((8 << 20))
make_torrent "$T/src/t" 18 "$T/st.torrent"

n=0
run_case() {
	local c=$1 mnt=$T/mnt-$1
	shift
	n=$((n + 1))
	# a seeder of its own: aria2c's upload cap lets a burst through after
	# an idle spell, and the read must take a while
	start_aria2_seeder 127.0.0.2 $((P + n)) "$T/st.torrent" "$T/src" --max-upload-limit=4M
	local seeder=$LAST_PID
	mount_p2pfs "$T/st.torrent" "$mnt" --cache "$T/cache-$c" --bind 127.0.0.5 \
		--port $((P + 50)) --no-trackers --peer 127.0.0.2:$((P + n))
	local daemon=$LAST_PID
	daemon_watch "$daemon"
	wait_peer_listed "$mnt" 127.0.0.2 10 || fail "$c: p2pfs did not connect to the seeder"
	hostile_start "$c" --torrent "$T/st.torrent" --data "$T/src" \
		--connect 127.0.0.5:$((P + 50)) --bind 127.0.66.$((20 + n)) --secs 60 "$@"
	hostile_wait_handshake 10
	# the peer must be in the swarm (unchoking us) before the read starts
	wait_peer_listed "$mnt" 127.0.66.$((20 + n)) 10 || fail "$c: the scripted peer is not listed"
	local cpu0 w0
	cpu0=$(daemon_cpu "$daemon")
	w0=$(now_ms)
	timed_read "$mnt/t/a.bin" "$T/src/t/a.bin" 30
	daemon_check "$daemon" "$c" "$cpu0" "$w0" 80
	peers_of "$mnt" | grep -q "^127.0.0.2:$((P + n)) " || fail "$c: the honest seeder was dropped"
	hostile_stop 10
	[ "$(hget "r['requests_in']")" -gt 0 ] || fail "$c: p2pfs never asked the scripted peer: the case tested nothing"
	umount_p2pfs "$mnt"
	stop_aria2 "$seeder"
}

run_case unchoke-silent
run_case close-mid-block --reconnect 50 --reconnect-delay 0.2
log PASS
