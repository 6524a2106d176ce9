#!/bin/bash
# Peers that break the wire protocol, one case at a time, each against a
# fresh mount beside one honest aria2c seeder: a block past its piece's
# end, length prefixes of 2^31 and 2^32-1 (each followed by a 64 MiB
# stream), requests of 2^31 and 2^32-1 bytes, bitfields one byte short, one
# byte long and with spare bits set, haves for piece NPIECES and 2^32-1.
# Each one must be dropped within 10 s of what it did (its own report says
# the other side closed), while a read through the mount gets the right
# bytes in bounded time, the honest seeder stays connected, the daemon's
# RSS and fds stay bounded, and the daemon exits 0 on unmount (under ASan:
# no leak, no UB).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 6200
P=$IT_BASE

# 4 MiB + a bit: 17 pieces, the last one short
hostile_data "$T/src" $(((4 << 20) + 4321))
make_torrent "$T/src/t" 18 "$T/b.torrent"
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/b.torrent" "$T/src"

n=0
run_case() {
	local c=$1 mnt=$T/mnt-$1 reader
	n=$((n + 1))
	mount_p2pfs "$T/b.torrent" "$mnt" --cache "$T/cache-$c" --bind 127.0.0.5 \
		--port $((P + 50)) --no-trackers --peer 127.0.0.2:$((P + 1))
	local daemon=$LAST_PID
	daemon_watch "$daemon"
	wait_peer_listed "$mnt" 127.0.0.2 10 || fail "$c: p2pfs did not connect to the seeder"
	hostile_start "$c" --torrent "$T/b.torrent" --connect 127.0.0.5:$((P + 50)) \
		--bind 127.0.66.$((10 + n)) --secs 30
	hostile_wait_handshake 10
	# the read runs while the peer misbehaves (past-end needs it: only a
	# request makes it send its bad block)
	(timed_read "$mnt/t/a.bin" "$T/src/t/a.bin" 30) &
	reader=$!
	it_track "$reader"
	hostile_end 20
	[ "$(hget "r['remote_closed']")" = 1 ] || fail "$c: the peer was not dropped"
	local ms
	ms=$(hget "r['drop_ms'][0]")
	log "$c: dropped $ms ms after it connected"
	[ "$ms" -le 10000 ] || fail "$c: dropped only after $ms ms"
	wait_exit "$reader" 40 || fail "$c: the read did not end"
	[ "$(exit_status "$reader")" = 0 ] || fail "$c: the read failed"
	daemon_check "$daemon" "$c"
	peers_of "$mnt" | grep -q "^127.0.0.2:$((P + 1)) " || fail "$c: the honest seeder was dropped"
	umount_p2pfs "$mnt"
}

for c in past-end len-2g len-4g req-len-2g req-len-4g bitfield-short \
	bitfield-long bitfield-spare have-oob have-max; do
	run_case "$c"
done
log PASS
