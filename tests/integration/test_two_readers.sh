#!/bin/bash
# Two readers of two files of one torrent are served side by side: each
# reads its file in 1 MiB chunks and notes when each chunk arrived; both
# finish with the right bytes, and each one got the first half of its file
# before the other one was done (neither waited for the other's whole
# read-ahead). Seeders capped at 6 MiB/s so the reads overlap.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 8400
P=$IT_BASE

S=$T/src/two
gen_data "$S/a.bin" $((20 * 1024 * 1024 + 3))
gen_data "$S/b.bin" $((20 * 1024 * 1024 + 5))
make_torrent "$S" 18 "$T/two.torrent"
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/two.torrent" "$T/src" --max-upload-limit=6M
start_aria2_seeder 127.0.0.3 $((P + 2)) "$T/two.torrent" "$T/src" --max-upload-limit=6M

mount_p2pfs "$T/two.torrent" "$T/mnt" --bind 127.0.0.5 --port $((P + 50)) --no-trackers \
	--peer 127.0.0.2:$((P + 1)) --peer 127.0.0.3:$((P + 2))
cat >"$T/reader.py" <<'PY'
import hashlib, os, sys, time
f, out = sys.argv[1], sys.argv[2]
h = hashlib.sha256()
times = []
with open(f, 'rb', buffering=0) as fp:
    while True:
        b = fp.read(1 << 20)
        if not b:
            break
        h.update(b)
        times.append(time.monotonic())
with open(out, 'w') as o:
    o.write(h.hexdigest() + '\n' + ' '.join('%.3f' % t for t in times) + '\n')
PY
with_timeout 100 python3 "$T/reader.py" "$T/mnt/two/a.bin" "$T/a.out" &
ra=$!
it_track "$ra"
with_timeout 100 python3 "$T/reader.py" "$T/mnt/two/b.bin" "$T/b.out" &
rb=$!
it_track "$rb"
wait_exit "$ra" 110 || fail "reader of a.bin did not finish"
wait_exit "$rb" 110 || fail "reader of b.bin did not finish"
[ "$(exit_status "$ra")" = 0 ] || fail "reader of a.bin failed"
[ "$(exit_status "$rb")" = 0 ] || fail "reader of b.bin failed"
[ "$(head -n 1 "$T/a.out")" = "$(sha_of "$S/a.bin")" ] || fail "a.bin differs"
[ "$(head -n 1 "$T/b.out")" = "$(sha_of "$S/b.bin")" ] || fail "b.bin differs"
python3 - "$T/a.out" "$T/b.out" <<'PY' || fail "one reader waited for the other"
import sys
ta = [float(x) for x in open(sys.argv[1]).read().split('\n')[1].split()]
tb = [float(x) for x in open(sys.argv[2]).read().split('\n')[1].split()]
half_a, half_b = ta[len(ta) // 2], tb[len(tb) // 2]
print('a: half at %+.2f s, done at %+.2f s; b: half at %+.2f s, done at %+.2f s'
      % (half_a - ta[0], ta[-1] - ta[0], half_b - ta[0], tb[-1] - ta[0]))
sys.exit(0 if half_a < tb[-1] and half_b < ta[-1] else 1)
PY
log "both readers progressed side by side"
umount_p2pfs "$T/mnt"
log PASS
