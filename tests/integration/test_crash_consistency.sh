#!/bin/bash
# Crash consistency: a mount reading a 64 MiB torrent from one aria2c
# seeder (capped at 4 MiB/s) is killed with SIGKILL at a random moment, six
# times, each time remounted on the same cache. Then, with the seeder gone,
# a last mount with no peer at all must serve every piece its verified map
# claims, and each one must equal the source (checked both through the
# mount and in the cache's data file); its piece count must be the map's.
# Bounded: six rounds of at most 4 s each (plus the remounts).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 5900
P=$IT_BASE

gen_data "$T/src/c.bin" $((64 << 20))
make_torrent "$T/src/c.bin" 18 "$T/c.torrent"
ih=$(infohash "$T/c.torrent")
np=256
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/c.torrent" "$T/src" --max-upload-limit=4M
seeder=$LAST_PID

count() { { it_py verified "$T/cache" "$ih" $np 2>/dev/null || true; } | tr -cd 1 | wc -c; }
mid=0
for ((k = 1; k <= 6; k++)); do
	mount_p2pfs "$T/c.torrent" "$T/mnt" --bind 127.0.0.5 --port $((P + 50)) --no-trackers \
		--peer 127.0.0.2:$((P + 1))
	pid=$LAST_PID
	cat "$T/mnt/c.bin" >/dev/null 2>&1 &
	reader=$!
	it_track "$reader"
	# 1.0 to 3.9 s: the map is written about once a second
	sleep "$((1 + RANDOM % 3)).$((RANDOM % 10))"
	kill -KILL "$pid"
	wait_exit "$pid" 5 || fail "p2pfs survived SIGKILL"
	fusermount3 -u -z "$T/mnt" 2>/dev/null || umount -l "$T/mnt"
	wait_exit "$reader" 10 || fail "the reader hung after the kill"
	exit_status "$pid" >/dev/null
	exit_status "$reader" >/dev/null
	unset "IT_MOUNT_PID[$T/mnt]"
	n=$(count)
	log "kill $k: the map claims $n of $np pieces"
	((n < np)) && mid=$((mid + 1))
done
((mid >= 3)) || fail "only $mid of the 6 kills came mid-download: the case tested too little"
stop_aria2 "$seeder"

n=$(count)
((n > 0)) || fail "the map claims no piece after six rounds"
# the cache's data file itself, piece by piece
it_py verified "$T/cache" "$ih" $np >"$T/claimed"
"$IT_PY" - "$T/claimed" "$T/src/c.bin" "$T/cache/$ih/data" <<'PY' || fail "a claimed piece differs in the data file"
import sys
claimed = open(sys.argv[1]).read().strip()
src, data = open(sys.argv[2], 'rb'), open(sys.argv[3], 'rb')
pl = 1 << 18
bad = [i for i, c in enumerate(claimed) if c == '1' and
       (src.seek(i * pl) or src.read(pl)) != (data.seek(i * pl) or data.read(pl))]
print('data file: %d claimed pieces, %d differ %s' % (claimed.count('1'), len(bad), bad[:10]))
sys.exit(1 if bad else 0)
PY
# and through a mount with no peer: every claimed piece is served, right
mount_p2pfs "$T/c.torrent" "$T/mnt" --bind 127.0.0.5 --port $((P + 50)) --no-trackers
with_timeout 60 "$IT_PY" - "$T/claimed" "$T/src/c.bin" "$T/mnt/c.bin" <<'PY' || fail "a claimed piece was not served right without a peer"
import os, sys
claimed = open(sys.argv[1]).read().strip()
src, mnt = os.open(sys.argv[2], os.O_RDONLY), os.open(sys.argv[3], os.O_RDONLY)
pl = 1 << 18
bad = [i for i, c in enumerate(claimed) if c == '1' and
       os.pread(src, pl, i * pl) != os.pread(mnt, pl, i * pl)]
print('mount: %d claimed pieces read, %d differ %s' % (claimed.count('1'), len(bad), bad[:10]))
sys.exit(1 if bad else 0)
PY
have=$(with_timeout 10 "$IT_PY" -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.p2pfs.stats").decode())' "$T/mnt" |
	awk '$1 == "pieces_have" { print $2 }')
[ "$have" = "$n" ] || fail "the remount knows $have pieces, the map claims $n"
log "the remount with no peer serves all $n claimed pieces right"
umount_p2pfs "$T/mnt"
log PASS
