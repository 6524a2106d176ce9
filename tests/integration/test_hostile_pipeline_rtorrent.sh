#!/bin/bash
# rtorrent 0.9.8 (libtorrent-rakshasa) leeches a 128 MiB torrent from `p2pfs
# seed`, found through opentracker. rtorrent sets only the extension-
# protocol bit (no BEP 6: it cannot be sent a reject) and pipelines deeply;
# it never re-asks for a request it thinks is outstanding, so one the seeder
# drops silently stalls it for good. Its download must complete within 45 s
# with the right bytes. Skipped when rtorrent is not installed.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 6800
TRK=$IT_BASE
command -v rtorrent >/dev/null || { log "SKIP: no rtorrent"; exit 77; }

gen_data "$T/src/r.bin" $((${RT_MB:-128} << 20))
make_torrent "$T/src/r.bin" 18 "$T/r.torrent" "$(tracker_url "$TRK")"
ih=$(infohash "$T/r.torrent")
start_opentracker "$TRK" "$ih"
start_p2pfs_seed 127.0.0.5 $((TRK + 50)) "$T/r.torrent" "$T/src/r.bin"
seeder=$LAST_PID
daemon_watch "$seeder"
wait_tracker_peers "$TRK" "$ih" 1

# rtorrent without its curses UI (system.daemon), its own home and session,
# bound to 127.0.0.6, DHT, PEX, UDP trackers and encryption off; a finished
# download touches $T/rt-done
mkdir -p "$T/rt/home" "$T/rt/session" "$T/rt/dl"
cat >"$T/rt/rc" <<RC
directory.default.set = $T/rt/dl
session.path.set = $T/rt/session
network.bind_address.set = 127.0.0.6
network.local_address.set = 127.0.0.6
network.port_range.set = $((TRK + 3))-$((TRK + 3))
network.port_random.set = no
dht.mode.set = disable
protocol.pex.set = no
trackers.use_udp.set = no
protocol.encryption.set = none
system.daemon.set = true
method.set_key = event.download.finished, it_done, "execute.nothrow = touch, $T/rt-done"
load.start = $T/r.torrent
RC
t0=$(now_ms)
HOME=$T/rt/home TERM=dumb rtorrent -n -o "import=$T/rt/rc" >"$LOGS/rtorrent.out" 2>&1 </dev/null &
it_track $!
rt=$!
for ((i = 0; i < 450; i++)); do
	[ -e "$T/rt-done" ] && break
	pid_alive "$rt" || fail "rtorrent exited: $(tail -n 5 "$LOGS/rtorrent.out")"
	sleep 0.1
done
have=$(stat -c %s "$T/rt/dl/r.bin" 2>/dev/null || echo 0)
[ -e "$T/rt-done" ] || fail "rtorrent did not finish within 45 s ($have bytes on disk)"
log "rtorrent finished in $(($(now_ms) - t0)) ms"
[ "$(sha_of "$T/rt/dl/r.bin")" = "$(sha_of "$T/src/r.bin")" ] || fail "rtorrent's copy differs"
daemon_check "$seeder" rtorrent
stop_pid "$rt"
stop_p2pfs_seed "$seeder"
log PASS
