#!/bin/bash
# `p2pfs seed` checks PATH before it serves anything: a folder with one
# corrupted file and one missing file is refused with status 2 and both are
# named (and no good file is); --partial seeds just the pieces that verify,
# which is exactly what a libtorrent leecher then gets. Also: a single-file
# torrent seeds from the file under another name or from its folder, and as
# a daemon (a busy port still reported on the terminal); a bad PATH is
# status 2; nothing is ever written under PATH. The verified map saved in
# the cache folder spares a second run the hashing, and is not trusted once
# a file changed (even with its mtime put back).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 8740
PORT=$IT_BASE

S=$T/src/trip
gen_data "$S/day1/a.jpg" $((2 * 1024 * 1024 + 100))
gen_data "$S/day1/b.jpg" $((1024 * 1024 + 3))
gen_data "$S/day2/c.jpg" $((3 * 1024 * 1024))
gen_data "$S/notes.txt" 5000
gen_data "$S/z.mov" $((4 * 1024 * 1024 + 17))
make_torrent "$S" 18 "$T/trip.torrent"
C=(--cache "$T/cache")
# intact: seeds; a second run reuses the verified map saved in the cache
for run in 1 2; do
	"$P2PFS" seed -f --no-trackers "${C[@]}" "$T/trip.torrent" "$S" --port 0 2>"$T/err$run" &
	it_track $!
	sleep 0.5
	pid_alive "$LAST_PID" || fail "seed of the intact folder exited: status $(exit_status "$LAST_PID")"
	stop_p2pfs_seed "$LAST_PID"
done
grep -q 'unchanged since' "$T/err1" && fail "first run claims a saved map"
grep -q '41 pieces verified on .* unchanged since' "$T/err2" || fail "second run hashed again: $(cat "$T/err2")"
ls "$T/cache/seed/" | grep -q "^$(infohash "$T/trip.torrent")-" || fail "no saved map under the cache root"

# damage: one byte of c.jpg flipped in the middle with its mtime put back
# (the ctime still moves: the saved map must not be trusted), b.jpg gone
touch -r "$S/day2/c.jpg" "$T/stamp"
printf 'X' | dd of="$S/day2/c.jpg" bs=1 seek=$((1500 * 1024)) conv=notrunc 2>/dev/null
touch -r "$T/stamp" "$S/day2/c.jpg"
rm "$S/day1/b.jpg"
snap() { (cd "$S" && find . -printf '%P %s %T@ %A@\n' | LC_ALL=C sort); }
snap >/dev/null
before=$(snap)
rc=0
"$P2PFS" seed -f --no-trackers --port 0 "${C[@]}" "$T/trip.torrent" "$S" >"$T/out" 2>"$T/err" || rc=$?
cat "$T/err" >&2
[ "$rc" = 2 ] || fail "seed of a damaged folder: status $rc, wanted 2"
grep -q '^  missing: *day1/b.jpg$' "$T/err" || fail "b.jpg not reported missing"
grep -q '^  bad data: *day2/c.jpg (1 of ' "$T/err" || fail "c.jpg not reported as bad data"
[ "$(grep -c '^  ' "$T/err")" = 2 ] || fail "more than the two bad files listed"
grep -q -- '--partial' "$T/err" || fail "no hint about --partial"
if grep -q $'\r' "$T/err"; then fail "progress bar written to a non-terminal"; fi
[ "$before" = "$(snap)" ] || fail "the folder changed"

# --partial seeds what verified; the leecher ends with exactly that
start_p2pfs_seed 127.0.0.5 $((PORT + 50)) "$T/trip.torrent" "$S" --no-trackers --partial
seed=$LAST_PID
grep -q 'partial' "$SEED_OUT" || fail "no 'partial' in the seed's banner"
good=$(sed -n 's/.* \([0-9]*\) of \([0-9]*\) pieces verify$/\1/p' "$SEED_OUT")
[ -n "$good" ] || fail "no piece count in: $(cat "$SEED_OUT")"
lt_leech "$T/lt.json" torrent="$T/trip.torrent" save="$T/leech" ip=127.0.0.4 \
	port=$((PORT + 60)) peers=127.0.0.5:$((PORT + 50)) want="$good" settle=3 secs=40 ||
	fail "libtorrent leecher failed: $(cat "$T/lt.json")"
stop_p2pfs_seed "$seed"
[ "$before" = "$(snap)" ] || fail "the folder changed while seeding"
# (reading the folder here changes its atimes: after the check above)
/usr/bin/python3 - "$T/trip.torrent" "$S" "$T/lt.json" <<'PY' || fail "the leecher's pieces are not those that verify"
import hashlib, json, os, sys
sys.path.insert(0, os.path.dirname(sys.argv[3]))
from it import bdecode
meta, _ = bdecode(open(sys.argv[1], 'rb').read())
info = meta[b'info']
pl = info[b'piece length']
# the source stream as it now is (missing file = nothing there)
stream = b''
for f in info[b'files']:
    p = os.path.join(sys.argv[2], *[c.decode() for c in f[b'path']])
    d = open(p, 'rb').read() if os.path.exists(p) else b''
    stream += d[:f[b'length']].ljust(f[b'length'], b'\0')
want = ''.join('1' if hashlib.sha1(stream[i:i + pl]).digest() ==
               info[b'pieces'][20 * k:20 * k + 20] else '0'
               for k, i in enumerate(range(0, len(stream), pl)))
got = json.load(open(sys.argv[3]))['have']
print('want', want)
print('got ', got)
sys.exit(want != got)
PY

# single file: the file under another name, or its folder
gen_data "$T/one/film.mkv" $((1024 * 1024 + 1))
make_torrent "$T/one/film.mkv" 18 "$T/film.torrent"
mv "$T/one/film.mkv" "$T/one/renamed.mkv"
start_p2pfs_seed 127.0.0.6 $((PORT + 51)) "$T/film.torrent" "$T/one/renamed.mkv" --no-trackers
stop_p2pfs_seed "$LAST_PID"
mv "$T/one/renamed.mkv" "$T/one/film.mkv"
start_p2pfs_seed 127.0.0.6 $((PORT + 51)) "$T/film.torrent" "$T/one" --no-trackers
stop_p2pfs_seed "$LAST_PID"

# daemon mode: the parent returns 0 once the child serves; a busy port is
# reported on the terminal (status 1) before daemonising
rc=0
"$P2PFS" seed "${C[@]}" --no-trackers --bind 127.0.0.8 --port $((PORT + 52)) \
	"$T/film.torrent" "$T/one" 2>"$T/err" || rc=$?
[ "$rc" = 0 ] || fail "daemon seed: status $rc: $(cat "$T/err")"
wait_port 127.0.0.8 $((PORT + 52)) 5 || fail "the daemon does not listen"
dpid=$(ss -Hltnp "src 127.0.0.8:$((PORT + 52))" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
[ -n "$dpid" ] || fail "no pid for the daemon"
it_track "$dpid"
rc=0
"$P2PFS" seed "${C[@]}" --no-trackers --bind 127.0.0.8 --port $((PORT + 52)) \
	"$T/film.torrent" "$T/one" 2>"$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'in use' "$T/err" || fail "busy port: status $rc: $(cat "$T/err")"
kill -TERM "$dpid"
wait_exit "$dpid" 10 || fail "the daemon ignored SIGTERM"
log "daemon mode: ready, busy port reported, stopped by SIGTERM"

# bad PATH, bad torrent: status 2 with a reason
rc=0
"$P2PFS" seed -f --no-trackers "${C[@]}" "$T/trip.torrent" "$T/nowhere" 2>"$T/err" || rc=$?
[ "$rc" = 2 ] && grep -q 'No such file' "$T/err" || fail "missing PATH: status $rc: $(cat "$T/err")"
rc=0
"$P2PFS" seed -f --no-trackers "${C[@]}" "$T/trip.torrent" "$S/notes.txt" 2>"$T/err" || rc=$?
[ "$rc" = 2 ] || fail "a file for a multi-file torrent: status $rc"
rc=0
"$P2PFS" seed -f "${C[@]}" "$S/notes.txt" "$S" 2>"$T/err" || rc=$?
[ "$rc" = 2 ] || fail "a bad torrent: status $rc"
log PASS
