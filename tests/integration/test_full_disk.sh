#!/bin/bash
# A full disk: the cache root is a 6 MiB tmpfs (made by the test; root only,
# skipped otherwise) and the torrent is 16 MiB. A read of the whole file
# through the mount must fail with an error in bounded time (not hang) once
# the disk is full; the daemon must exit 0 on unmount; and the next mount of
# the same cache, with no peer at all, must know every piece the first one
# had verified (its `pieces_have` before the unmount) and serve each of them
# right: the verified map's room is reserved, so the full disk did not cost
# it.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 5700
P=$IT_BASE

mkdir -p "$T/disk"
mount -t tmpfs -o size=6m,mode=0700 p2pfs-it-disk "$T/disk" 2>/dev/null ||
	{ log "SKIP: cannot mount a tmpfs (needs root)"; exit 77; }
gen_data "$T/src/d.bin" $((16 << 20))
make_torrent "$T/src/d.bin" 18 "$T/d.torrent"
ih=$(infohash "$T/d.torrent")
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/d.torrent" "$T/src"
seeder=$LAST_PID

stats() {
	with_timeout 10 "$IT_PY" -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.p2pfs.stats").decode())' "$1" |
		awk -v k="$2" '$1 == k { print $2 }'
}

mount_p2pfs "$T/d.torrent" "$T/mnt" --cache "$T/disk" --bind 127.0.0.5 --port $((P + 50)) \
	--no-trackers --peer 127.0.0.2:$((P + 1))
rc=0
with_timeout 60 cat "$T/mnt/d.bin" >/dev/null 2>"$T/read.err" || rc=$?
[ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "the read hung on a full disk"
[ "$rc" != 0 ] || fail "the whole 16 MiB file was read into a 6 MiB cache"
log "the read failed as it should (status $rc): $(head -c 200 "$T/read.err")"
df -k "$T/disk" | tail -n 1 >&2
have=$(stats "$T/mnt" pieces_have)
log "the first mount verified $have of 64 pieces"
((have > 4)) || fail "only $have pieces verified before the disk was full: the case tested too little"
umount_p2pfs "$T/mnt"
stop_aria2 "$seeder"

mount_p2pfs "$T/d.torrent" "$T/mnt" --cache "$T/disk" --bind 127.0.0.5 --port $((P + 50)) \
	--no-trackers
again=$(stats "$T/mnt" pieces_have)
log "the next mount knows $again pieces"
[ "$again" = "$have" ] || fail "the next mount knows $again of the $have pieces that had verified"
it_py verified "$T/disk" "$ih" 64 >"$T/claimed"
with_timeout 60 "$IT_PY" - "$T/claimed" "$T/src/d.bin" "$T/mnt/d.bin" <<'PY' || fail "a kept piece was not served right"
import os, sys
claimed = open(sys.argv[1]).read().strip()
src, mnt = os.open(sys.argv[2], os.O_RDONLY), os.open(sys.argv[3], os.O_RDONLY)
pl = 1 << 18
bad = [i for i, c in enumerate(claimed) if c == '1' and
       os.pread(src, pl, i * pl) != os.pread(mnt, pl, i * pl)]
print('%d kept pieces read, %d differ %s' % (claimed.count('1'), len(bad), bad[:10]))
sys.exit(1 if bad else 0)
PY
umount_p2pfs "$T/mnt"
umount "$T/disk"
log PASS
