#!/bin/bash
# `p2pfs status --watch` while a file is read from a rate-limited aria2c
# seeder (512 KiB/s, so the read takes seconds): frames repeat (plain text,
# not a terminal), the file being read shows with a rate and an ETA, and
# in the xattrs the totals never lag the cache: at every sample,
# "downloaded" (user.p2pfs.stats) is at least the bytes verified of the
# file (user.p2pfs.reading, read first).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 11100
P=$IT_BASE

size=$(((4 << 20) + 5))
gen_data "$T/src/w.bin" $size
make_torrent "$T/src/w.bin" 18 "$T/w.torrent"
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/w.torrent" "$T/src" --max-upload-limit=512K

mount_p2pfs "$T/w.torrent" "$T/mnt" --no-trackers --peer 127.0.0.2:$((P + 1)) \
	--bind 127.0.0.5 --port $((P + 50))
cat "$T/mnt/w.bin" >"$T/copy.bin" 2>"$LOGS/cat.err" &
cpid=$!
it_track "$cpid"

# the totals against the cache, sampled every 50 ms while the read runs
"$IT_PY" - "$T/mnt" $((1 << 18)) $size >"$LOGS/samples.log" 2>&1 <<'PYEOF' &
import os, sys, time
mnt, pl, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bad = n = 0
t0 = time.time()
def reading_have():
    # the exact verified bytes of the one file (single-file torrent)
    for l in os.getxattr(mnt, 'user.p2pfs.reading').decode().splitlines():
        f = dict(x.split('=', 1) for x in l.split()[1:])
        return int(f['have'])
    return None
while time.time() - t0 < 6:
    verified = reading_have()
    st = dict(l.split() for l in os.getxattr(mnt, 'user.p2pfs.stats').decode().splitlines())
    if verified is None:
        break  # the reader closed the file
    n += 1
    if int(st['downloaded']) < verified:
        bad += 1
        print('lag: downloaded %s < verified %d (%s pieces)' % (st['downloaded'], verified, st['pieces_have']))
    if verified == size:
        break
    time.sleep(0.05)
print('%d samples, %d lagging' % (n, bad))
sys.exit(1 if bad or n < 5 else 0)
PYEOF
spid=$!
it_track "$spid"

out=$(with_timeout 20 "$P2PFS" status --watch -n 0.5 --count 8 "$T/mnt" 2>&1) ||
	fail "status --watch failed: $out"
log "p2pfs status --watch (last frame):"$'\n'"$(awk '/^p2pfs status at/ { f = "" } { f = f $0 "\n" } END { printf "%s", f }' <<<"$out")"
frames=$(grep -c '^p2pfs status at [0-9-]* [0-9:]* (every 0.5 s)$' <<<"$out")
[ "$frames" = 8 ] || fail "$frames frames, want 8"
# a frame after the first has the file with a rate and an ETA (or done)
grep -Eq '^ +[0-9.]+%  +4\.0 MiB +[0-9.]+ (B|KiB|MiB)/s  ETA ([0-9]+ (s|min)|done).* w\.bin$' <<<"$out" ||
	fail "no reading line with a rate and an ETA"
grep -q "^reading:" <<<"$out" || fail "no reading section"

wait_exit "$spid" 15 || fail "the sampler did not finish"
rc=$(exit_status "$spid")
log "sampler: $(tail -n 1 "$LOGS/samples.log")"
[ "$rc" = 0 ] || fail "the totals lagged the cache: $(tail -n 3 "$LOGS/samples.log")"
wait_exit "$cpid" 30 || fail "the read did not finish"
[ "$(exit_status "$cpid")" = 0 ] || fail "the read failed: $(cat "$LOGS/cat.err")"
cmp -s "$T/copy.bin" "$T/src/w.bin" || fail "the copy differs"
umount_p2pfs "$T/mnt"
log PASS
