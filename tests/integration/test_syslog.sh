#!/bin/bash
# Logging. In the background, without --log, a daemon logs to syslog: a
# test log server (a Unix datagram socket bound here, given to p2pfs as
# $P2PFS_SYSLOG_SOCKET, as /dev/log may not exist) receives RFC 3164 lines
# "<PRI>Mmm dd hh:mm:ss p2pfs[PID]: LEVEL MODULE: message" from the
# daemon's own pid, facility daemon with the level's priority (a seed's
# info, a mount's tracker warning). In the foreground the log goes to
# stderr with the date on each line. With no log server the command says
# so once, on the terminal. An error is printed once, in one format.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 11300
P=$IT_BASE

gen_data "$T/src/s.bin" $((1 << 20))
make_torrent "$T/src/s.bin" 18 "$T/s.torrent" "$(tracker_url $P)" # nobody there
SOCK=$T/log.sock
"$IT_PY" - "$SOCK" "$T/syslog.txt" >"$LOGS/logserver.log" 2>&1 <<'PYEOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(120)
with open(sys.argv[2], 'ab', buffering=0) as f:
    while True:
        d = s.recv(65536)
        f.write(d.replace(b'\n', b' ') + b'\n')
PYEOF
it_track $!
for ((i = 0; i < 50; i++)); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || fail "the log server did not start"
export P2PFS_SYSLOG_SOCKET=$SOCK

# a background seed, -v, no --log
"$P2PFS" seed -v --bind 127.0.0.2 --port $((P + 1)) --cache "$T/cache" --no-trackers \
	"$T/s.torrent" "$T/src/s.bin" >"$LOGS/seed.out" 2>"$LOGS/seed.err" ||
	fail "seed: $(cat "$LOGS/seed.err")"
spid=$(sed -n 's/^p2pfs: running in the background as pid \([0-9]*\) .*/\1/p' "$LOGS/seed.out")
[ -n "$spid" ] || fail "no pid from the seed"
it_track "$spid"
for ((i = 0; i < 50; i++)); do grep -q "p2pfs\[$spid\]: info seed: seeding 's.bin'" "$T/syslog.txt" 2>/dev/null && break; sleep 0.1; done
line=$(grep "p2pfs\[$spid\]: info seed: seeding 's.bin'" "$T/syslog.txt") ||
	fail "no 'seeding' line from pid $spid in the log server: $(cat "$T/syslog.txt" 2>/dev/null)"
log "syslog: $line"
grep -Eq '^<30>[A-Z][a-z]{2} [ 1-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} p2pfs\[' <<<"$line" ||
	fail "not an RFC 3164 daemon.info line: $line"
grep -q "running in the background" "$T/syslog.txt" && fail "the parent's terminal output went to syslog"
[ ! -s "$LOGS/seed.err" ] || ! grep -q "warning: no system log" "$LOGS/seed.err" || fail "warned about a missing syslog"
out=$(with_timeout 20 "$P2PFS" stop "$spid") || fail "stop: $out"
grep -q "p2pfs\[$spid\]: info seed: stopping on signal 15" "$T/syslog.txt" || fail "no stop line in syslog"

# a background mount whose tracker refuses: a warning, priority daemon.warning
mkdir -p "$T/mnt"
IT_MOUNTS+=("$T/mnt")
with_timeout 15 "$P2PFS" mount --cache "$T/cache2" --bind 127.0.0.5 --port $((P + 50)) \
	"$T/s.torrent" "$T/mnt" >"$LOGS/mount.out" 2>&1 || fail "mount: $(cat "$LOGS/mount.out")"
mpid=$(xattr_of "$T/mnt" user.p2pfs.pid)
[ -n "$mpid" ] && it_track "$mpid"
for ((i = 0; i < 50; i++)); do grep -q "p2pfs\[$mpid\]: warn tracker: announce" "$T/syslog.txt" && break; sleep 0.1; done
line=$(grep "p2pfs\[$mpid\]: warn tracker: announce" "$T/syslog.txt") || fail "no tracker warning from the mount $mpid"
log "syslog: $line"
grep -Eq "^<28>.* p2pfs\[$mpid\]: warn tracker: announce to 'http://127\.0\.0\.1:$P/announce' failed: Connection refused$" <<<"$line" ||
	fail "not the daemon.warning line wanted: $line"
[ "$(grep -c "p2pfs\[$mpid\]: warn tracker:" "$T/syslog.txt")" = 1 ] || fail "the tracker warning was repeated"
[ ! -s "$LOGS/mount.out" ] || fail "mount printed: $(cat "$LOGS/mount.out")"
with_timeout 10 "$P2PFS" umount "$T/mnt" || fail "umount failed"

# no log server: said once, on the terminal; the daemon still runs
P2PFS_SYSLOG_SOCKET=$T/nobody.sock "$P2PFS" seed --bind 127.0.0.3 --port $((P + 3)) \
	--cache "$T/cache" --no-trackers "$T/s.torrent" "$T/src/s.bin" >"$LOGS/seed2.out" 2>"$LOGS/seed2.err" ||
	fail "seed 2: $(cat "$LOGS/seed2.err")"
p2=$(sed -n 's/^p2pfs: running in the background as pid \([0-9]*\) .*/\1/p' "$LOGS/seed2.out")
[ -n "$p2" ] && it_track "$p2"
[ "$(grep -c "warning: no system log at $T/nobody.sock" "$LOGS/seed2.err")" = 1 ] ||
	fail "no single warning about the missing log: $(cat "$LOGS/seed2.err")"
"$P2PFS" stop "$p2" >/dev/null || fail "stop seed 2"

# the foreground logs to stderr, each line dated
unset P2PFS_SYSLOG_SOCKET
"$P2PFS" seed -f -v --bind 127.0.0.4 --port $((P + 4)) --cache "$T/cache" --no-trackers \
	"$T/s.torrent" "$T/src/s.bin" >"$LOGS/seed3.out" 2>"$LOGS/seed3.err" </dev/null &
p3=$!
it_track "$p3"
for ((i = 0; i < 50; i++)); do grep -q "info seed: seeding 's.bin'" "$LOGS/seed3.err" && break; sleep 0.1; done
grep -Eq "^20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{3} p2pfs info seed: seeding 's\.bin'" "$LOGS/seed3.err" ||
	fail "no dated 'seeding' line on stderr: $(cat "$LOGS/seed3.err")"
stop_p2pfs_seed "$p3"

# an error: once, "p2pfs: ...", also with -v in the foreground
rc=0
"$P2PFS" mount -f -v --bind 192.0.2.1 --no-trackers --cache "$T/cache3" "$T/s.torrent" "$T/mnt" >"$LOGS/bind.out" 2>&1 || rc=$?
log "bad --bind: status $rc: $(cat "$LOGS/bind.out")"
[ "$rc" = 2 ] || fail "a non-local --bind exited $rc"
[ "$(grep -c "192.0.2.1" "$LOGS/bind.out")" = 1 ] || fail "the --bind error was printed $(grep -c 192.0.2.1 "$LOGS/bind.out") times"
grep -q "^p2pfs: --bind 192.0.2.1: not an address of this machine" "$LOGS/bind.out" || fail "--bind error: $(cat "$LOGS/bind.out")"
log PASS
