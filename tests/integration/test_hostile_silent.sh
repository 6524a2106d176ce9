#!/bin/bash
# Handshake-then-silence x 200: a scripted peer keeps 200 inbound
# connections (from 50 addresses) that finish the handshake and then send
# nothing at all, reopening each one p2pfs closes (a second later, at most
# 5000 connections). An honest seeder (python3-libtorrent) that connects in
# 3 s later must still find a slot: a read of the whole file must complete
# with the right bytes in bounded time, with the daemon's memory, fds and
# CPU bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 6400
P=$IT_BASE

hostile_data "$T/src" $((8 << 20))
make_torrent "$T/src/t" 18 "$T/s.torrent"
mount_p2pfs "$T/s.torrent" "$T/mnt" --bind 127.0.0.5 --port $((P + 50)) --no-trackers
daemon=$LAST_PID
daemon_watch "$daemon"

hostile_start silent --torrent "$T/s.torrent" --connect 127.0.0.5:$((P + 50)) \
	--bind 127.0.66.100 --bind-count 50 --conns 200 --secs 90 \
	--reconnect-delay 1 --max-connects 5000
hostile_wait_handshake 10
sleep 3
log "p2pfs lists $(peers_of "$T/mnt" | wc -l) peers"
cpu0=$(daemon_cpu "$daemon")
w0=$(now_ms)
lt_seed 127.0.0.3 $((P + 2)) "$T/s.torrent" "$T/src" 127.0.0.5:$((P + 50))
timed_read "$T/mnt/t/a.bin" "$T/src/t/a.bin" 40
daemon_check "$daemon" silent "$cpu0" "$w0" 80
# the peer list is a snapshot published about once a second, and the
# seeder may have connected less than a second ago (libtorrent tries an
# encrypted connection first, which is refused, then a plain one)
wait_peer_listed "$T/mnt" 127.0.0.3 5 || fail "the honest seeder is not listed"
hostile_stop 10
umount_p2pfs "$T/mnt"
log PASS
