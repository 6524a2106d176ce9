#!/bin/bash
# A seek lands without fetching what lies between: open a 64 MiB file, read
# 64 KiB at 40 MiB and close it. Once unmounted, the cache's verified-piece
# map holds the piece under that read but none of the pieces between the
# head (prefetched at open) and the read, nor the far side of the read-ahead
# window (dropped when the file closed). The same mount again with
# --fetch-all then fetches the whole file with no read at all.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 8200
P=$IT_BASE

PL=$((256 * 1024))
gen_data "$T/src/s.bin" $((64 * 1024 * 1024))
make_torrent "$T/src/s.bin" 18 "$T/s.torrent"
ih=$(infohash "$T/s.torrent")
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/s.torrent" "$T/src"
start_aria2_seeder 127.0.0.3 $((P + 2)) "$T/s.torrent" "$T/src"
peers=(--no-trackers --peer 127.0.0.2:$((P + 1)) --peer 127.0.0.3:$((P + 2)))

mount_p2pfs "$T/s.torrent" "$T/mnt" --bind 127.0.0.5 --port $((P + 50)) "${peers[@]}"
off=$((40 * 1024 * 1024))
with_timeout 30 python3 - "$T/mnt/s.bin" "$T/src/s.bin" $off <<'PY' || fail "the read at 40 MiB failed or differs"
import os, sys
a = os.open(sys.argv[1], os.O_RDONLY)
b = os.open(sys.argv[2], os.O_RDONLY)
off = int(sys.argv[3])
got, exp = os.pread(a, 65536, off), os.pread(b, 65536, off)
os.close(a)
sys.exit(0 if got == exp else 1)
PY
pct=$(xattr_of "$T/mnt/s.bin" user.p2pfs.progress)
log "progress after the seek read: $pct%"
umount_p2pfs "$T/mnt"

map=$(it_py verified "$T/cache" "$ih" 256)
log "verified map: $map"
seek=$((off / PL))
[ "${map:$seek:1}" = 1 ] || fail "piece $seek under the read is not verified"
# head: 1 MiB = pieces 0..3; read-ahead after the read: a few pieces
between=${map:8:$((seek - 8))}
[ "${between//0/}" = "" ] || fail "pieces between the head and the seek were fetched: $between"
beyond=${map:$((seek + 24)):60}
[ "${beyond//0/}" = "" ] || fail "pieces far past the seek were fetched: $beyond"
have=${map//0/}
[ "${#have}" -lt 64 ] || fail "${#have} of 256 pieces fetched for one 64 KiB read"
log "one read at 40 MiB fetched ${#have} of 256 pieces, none in between"

# --fetch-all: idle bandwidth fetches everything, rarest first
mount_p2pfs "$T/s.torrent" "$T/mnt" --bind 127.0.0.5 --port $((P + 50)) "${peers[@]}" --fetch-all
for ((i = 0; i < 600; i++)); do
	pct=$(xattr_of "$T/mnt/s.bin" user.p2pfs.progress)
	[ "$pct" = 100.0 ] && break
	sleep 0.1
done
[ "$pct" = 100.0 ] || fail "--fetch-all: progress $pct% after 60 s without reads"
[ "$(sha_of "$T/mnt/s.bin")" = "$(sha_of "$T/src/s.bin")" ] || fail "--fetch-all: data differs"
log "--fetch-all fetched the whole file without a read"
umount_p2pfs "$T/mnt"
log PASS
