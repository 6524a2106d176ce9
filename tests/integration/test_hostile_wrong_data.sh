#!/bin/bash
# A liar: a peer that claims every piece, unchokes and answers every request
# with random bytes, beside one honest aria2c seeder. The read must get the
# right bytes in bounded time; the liar must be dropped and banned (it
# reconnects from the same address after every close: no later connection
# may get a handshake); the honest seeder, whose blocks were in the same
# failed pieces, must not be dropped (it is still connected at the end).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 6100
P=$IT_BASE

hostile_data "$T/src" $((16 << 20))
make_torrent "$T/src/t" 18 "$T/w.torrent"
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/w.torrent" "$T/src" --max-upload-limit=8M
mount_p2pfs "$T/w.torrent" "$T/mnt" --bind 127.0.0.5 --port $((P + 50)) --no-trackers \
	--peer 127.0.0.2:$((P + 1))
daemon=$LAST_PID
daemon_watch "$daemon"
wait_peer_listed "$T/mnt" 127.0.0.2 10 || fail "p2pfs did not connect to the seeder"

hostile_start wrong-data --torrent "$T/w.torrent" --connect 127.0.0.5:$((P + 50)) \
	--bind 127.0.66.2 --secs 60 --reconnect 50 --reconnect-delay 0.3
hostile_wait_handshake 10
cpu0=$(daemon_cpu "$daemon")
w0=$(now_ms)
timed_read "$T/mnt/t/a.bin" "$T/src/t/a.bin" 40
daemon_check "$daemon" wrong-data "$cpu0" "$w0" 90
peers=$(peers_of "$T/mnt")
log "peers at the end:"$'\n'"$peers"
grep -q "^127.0.0.2:$((P + 1)) " <<<"$peers" ||
	fail "the honest seeder was dropped (not connected any more)"
hostile_stop 10
[ "$(hget "r['blocks_sent']")" -gt 0 ] || fail "the liar was never asked for a block: the case tested nothing"
[ "$(hget "r['remote_closed']")" -ge 1 ] || fail "the liar was never dropped"
grep -q "^127.0.66.2:" <<<"$peers" && fail "the liar is still connected"
hs=$(hget "r['handshakes']")
[ "$hs" = 1 ] || fail "the liar came back: $hs handshakes over $(hget "r['connects']") connections"
umount_p2pfs "$T/mnt"
log PASS
