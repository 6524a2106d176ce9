#!/bin/bash
# A request flood: a peer that declares itself interested and sends a burst
# of 1,000,000 requests (valid blocks, many duplicates) without reading what
# comes back for 5 s, then reads. It arrives after one file was read (so
# the mount has pieces to serve); a second file must then be read with the
# right bytes in bounded time from the honest aria2c seeder, and the daemon must keep its memory, fds and CPU bounded, keep the
# honest seeder, and exit 0 on unmount. What p2pfs does with the flooder
# (serves some, rejects, chokes or drops it) is its own choice.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 6300
P=$IT_BASE

hostile_data "$T/src" $((8 << 20))
gen_data "$T/src/t/b.bin" $((8 << 20))
make_torrent "$T/src/t" 18 "$T/f.torrent"
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/f.torrent" "$T/src" --max-upload-limit=8M
mount_p2pfs "$T/f.torrent" "$T/mnt" --bind 127.0.0.5 --port $((P + 50)) --no-trackers \
	--peer 127.0.0.2:$((P + 1))
daemon=$LAST_PID
daemon_watch "$daemon"
wait_peer_listed "$T/mnt" 127.0.0.2 10 || fail "p2pfs did not connect to the seeder"
timed_read "$T/mnt/t/a.bin" "$T/src/t/a.bin" 30
rss0=$(awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$daemon/status")
log "before the flood: RSS $rss0 MiB"

hostile_start request-flood --torrent "$T/f.torrent" --connect 127.0.0.5:$((P + 50)) \
	--bind 127.0.66.50 --flood 1000000 --unread 5 --secs 10
hostile_wait_handshake 10
cpu0=$(daemon_cpu "$daemon")
w0=$(now_ms)
timed_read "$T/mnt/t/b.bin" "$T/src/t/b.bin" 30
hostile_end 30
daemon_check "$daemon" request-flood "$cpu0" "$w0" 80
[ "$(hget "r['requests_sent']")" -ge 500000 ] || fail "the flood sent only $(hget "r['requests_sent']") requests"
log "flooder: dropped $(hget "r['remote_closed']") time(s), received $(hget "r['msgs_in']")"
peers_of "$T/mnt" | grep -q "^127.0.0.2:$((P + 1)) " || fail "the honest seeder was dropped"
umount_p2pfs "$T/mnt"
log PASS
