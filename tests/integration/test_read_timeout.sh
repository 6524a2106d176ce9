#!/bin/bash
# Never a silent hang. A torrent whose only tracker refuses connections,
# mounted with one --peer that refuses and one that accepts but sends no
# handshake back:
#  - a read fails with ETIMEDOUT ("Connection timed out") after the read
#    timeout (--read-timeout 3: in 2.5..8 s), once, not twice (the
#    kernel's retry of the page fails at once);
#  - the log has one warning "no source for the data" (after min(30 s, the
#    read timeout)), naming the tracker's and the peer's errors;
#  - `p2pfs status`, run inside a subfolder of the mount, shows the
#    tracker with "error: Connection refused", the first peer "refused",
#    the reads timed out, and lists only the files under that folder;
#  - the peer id p2pfs sends starts with the -PF.... of `p2pfs --version`;
#  - with -o timeout=0 a read still waits after 5 s (wait forever);
#  - the daemons exit 0 on unmount (under ASan: no leak).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 11000
P=$IT_BASE

gen_data "$T/src/show/top.bin" $((1 << 20))
gen_data "$T/src/show/sub/a.bin" $((1 << 20))
gen_data "$T/src/show/sub/b.bin" $((1 << 20))
# nothing listens on the tracker's port nor on 127.0.0.2:P+1
make_torrent "$T/src/show" 18 "$T/show.torrent" "$(tracker_url $P)"

# a "peer" that takes the connection, records the handshake, says nothing
"$IT_PY" - "$T/hs.bin" 127.0.0.3 $((P + 2)) >"$LOGS/fakepeer.log" 2>&1 <<'PYEOF' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[2], int(sys.argv[3])))
s.listen(4)
s.settimeout(60)
c, _ = s.accept()
c.settimeout(10)
got = b''
while len(got) < 68:
    d = c.recv(68 - len(got))
    if not d:
        break
    got += d
open(sys.argv[1], 'wb').write(got)
time.sleep(60)
PYEOF
it_track $!
wait_port 127.0.0.3 $((P + 2)) 5 || fail "the fake peer does not listen"

# (--encryption off: the fake peer records a plain BitTorrent handshake)
mount_p2pfs "$T/show.torrent" "$T/mnt" --bind 127.0.0.5 --port $((P + 50)) \
	--peer 127.0.0.2:$((P + 1)) --peer 127.0.0.3:$((P + 2)) --read-timeout 3 \
	--encryption off
m1=$LAST_PID
log1=$MOUNT_LOG

t0=$(now_ms)
rc=0
err=$(with_timeout 15 cat "$T/mnt/show/sub/a.bin" 2>&1 >/dev/null) || rc=$?
dt=$(($(now_ms) - t0))
log "cat: status $rc after $dt ms: $err"
[ "$rc" != 124 ] || fail "the read hung for 15 s despite --read-timeout 3"
[ "$rc" != 0 ] || fail "the read succeeded without any source"
grep -q "Connection timed out" <<<"$err" || fail "the read failed with '$err', not ETIMEDOUT"
((dt >= 2500 && dt <= 8000)) || fail "the read failed after $dt ms, want about 3000"

# the no-source warning: once, naming what is wrong
for ((i = 0; i < 50; i++)); do
	grep -q "no source for the data" "$log1" && break
	sleep 0.1
done
n=$(grep -c "warn fs: no source for the data of 'show'" "$log1" || true)
[ "$n" = 1 ] || fail "$n no-source warnings in the log, want 1"
w=$(grep "no source for the data" "$log1")
log "warning: $w"
grep -q "tracker 'http://127.0.0.1:$P/announce': error, Connection refused" <<<"$w" ||
	fail "the warning does not name the tracker's error"
grep -q "peer '127.0.0.2:$((P + 1))': refused" <<<"$w" ||
	fail "the warning does not name the refused peer"

# status from a subfolder, without an operand
out=$(cd "$T/mnt/show/sub" && with_timeout 10 "$P2PFS" status 2>&1) || fail "status in a subfolder failed: $out"
log "p2pfs status (in show/sub):"$'\n'"$out"
grep -Eq "^  tracker +http://127\.0\.0\.1:$P/announce  error: Connection refused" <<<"$out" ||
	fail "status: no tracker line with its error"
grep -Eq "^  peer +127\.0\.0\.2:$((P + 1))  refused: Connection refused" <<<"$out" ||
	fail "status: the refused peer is not shown as refused"
grep -Eq "^  peer +127\.0\.0\.3:$((P + 2))  (connecting|failed)" <<<"$out" ||
	fail "status: the silent peer is not connecting or failed"
grep -Eq "^reads +[0-9]+ waiting for data, [1-9][0-9]* timed out$" <<<"$out" ||
	fail "status: no timed-out reads"
grep -Eq "^warning +no source has any piece" <<<"$out" || fail "status: no warning line"
grep -q "^files under show/sub:" <<<"$out" || fail "status: files not those of the subfolder"
grep -q "  show/sub/a.bin$" <<<"$out" && grep -q "  show/sub/b.bin$" <<<"$out" ||
	fail "status: a.bin or b.bin missing"
grep -q "top.bin" <<<"$out" && fail "status in show/sub lists top.bin"
stats=$(xattr_of "$T/mnt" user.p2pfs.stats)
grep -Eq "^read_timeouts [1-9]" <<<"$stats" || fail "user.p2pfs.stats: no read_timeouts"
grep -Eq "^no_source_secs [1-9]" <<<"$stats" || fail "user.p2pfs.stats: no no_source_secs"

# the handshake our peer got: -PF + the version
[ -s "$T/hs.bin" ] || fail "the fake peer got no handshake"
want=$("$IT_PY" -c 'import sys; v = (sys.argv[1].split()[1].split(".") + ["0"] * 4)[:4]; print("-PF" + "".join(v) + "-")' "$("$P2PFS" --version)")
got=$("$IT_PY" -c 'import sys; print(open(sys.argv[1], "rb").read()[48:56].decode())' "$T/hs.bin")
log "peer id prefix $got (version $("$P2PFS" --version))"
[ "$got" = "$want" ] || fail "peer id prefix $got, want $want"
umount_p2pfs "$T/mnt"

# -o timeout=0: wait forever (here: still waiting after 5 s)
mount_p2pfs "$T/show.torrent" "$T/mnt2" --bind 127.0.0.5 --port $((P + 51)) \
	--no-trackers -o timeout=0
env --default-signal=INT cat "$T/mnt2/show/top.bin" >/dev/null 2>"$LOGS/cat-forever.err" &
cpid=$!
it_track "$cpid"
sleep 5
pid_alive "$cpid" || fail "with -o timeout=0 the read ended: $(cat "$LOGS/cat-forever.err")"
kill -INT "$cpid" 2>/dev/null || true
wait_exit "$cpid" 5 || fail "the waiting read did not end on SIGINT"
umount_p2pfs "$T/mnt2"
log PASS
