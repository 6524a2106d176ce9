#!/bin/bash
# A mount that fetched only about half of a torrent (the first file read
# through it; fetch-all is off) feeds those pieces, and only those, to a
# python3-libtorrent leecher once the original seeders are gone: the
# leecher's have-bitfield ends equal to p2pfs's verified map, and the bytes
# it holds for those pieces equal the source. Then an aria2c leecher, which
# finds p2pfs through the tracker, gets the same pieces (its partial files
# hold the source's bytes for every one of them).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 8810
TRK=$IT_BASE
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }

S=$T/src/share
gen_data "$S/a.bin" $((4 * 1024 * 1024 + 1000))
gen_data "$S/b.bin" $((4 * 1024 * 1024))
make_torrent "$S" 18 "$T/share.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/share.torrent")
start_opentracker $TRK "$ih"
start_aria2_seeder 127.0.0.2 $((TRK + 1)) "$T/share.torrent" "$T/src"
s1=$LAST_PID
start_aria2_seeder 127.0.0.3 $((TRK + 2)) "$T/share.torrent" "$T/src"
s2=$LAST_PID
wait_tracker_peers $TRK "$ih" 2

mount_p2pfs "$T/share.torrent" "$T/mnt" --bind 127.0.0.5 --port $((TRK + 50))
[ "$(sha_of "$T/mnt/share/a.bin")" = "$(sha_of "$S/a.bin")" ] || fail "a.bin differs through the mount"
sleep 1.5 # read-ahead in flight lands, the verified map is flushed
stop_aria2 "$s1"
stop_aria2 "$s2"
sleep 1.5
log "original seeders stopped; p2pfs holds part of the torrent"

# p2pfs's verified map (cache/<ih>/verified: 28-byte header, then the
# bitmap) as a string of 0/1
have=$(/usr/bin/python3 - "$T/cache/$ih/verified" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
assert d[:8] == b'P2PFSMAP'
n = struct.unpack('>I', d[12:16])[0]
bm = d[28:28 + (n + 7) // 8]
print(''.join('1' if bm[i // 8] & (0x80 >> (i % 8)) else '0' for i in range(n)))
PY
) || fail "cannot read p2pfs's verified map"
n=${#have}
k=$(tr -cd 1 <<<"$have" | wc -c)
log "p2pfs has $k of $n pieces: $have"
first=$(((4 * 1024 * 1024 + 1000 + 256 * 1024 - 1) / (256 * 1024)))
[ "${have:0:$first}" = "$(printf '1%.0s' $(seq 1 "$first"))" ] || fail "p2pfs lacks some of a.bin's $first pieces"
((k < n)) || fail "p2pfs has every piece: the test needs a partial mount"

# same_pieces DIR SECS: within SECS (0: now) the files under DIR hold the
# source's bytes for every piece p2pfs has ($have)
same_pieces() {
	/usr/bin/python3 - "$S" "$1" "$have" "$2" <<'PY'
import os, sys, time
src, dst, have, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
pl = 256 * 1024
def stream(d):
    out = b''
    for f, n in (('a.bin', 4 * 1024 * 1024 + 1000), ('b.bin', 4 * 1024 * 1024)):
        p = os.path.join(d, f)
        b = open(p, 'rb').read() if os.path.exists(p) else b''
        out += b[:n].ljust(n, b'\0')
    return out
a = stream(src)
end = time.time() + secs
while True:
    b = stream(dst)
    bad = [i for i, h in enumerate(have) if h == '1' and a[i * pl:(i + 1) * pl] != b[i * pl:(i + 1) * pl]]
    if not bad:
        sys.exit(0)
    if time.time() >= end:
        print('pieces missing or differing:', bad)
        sys.exit(1)
    time.sleep(0.5)
PY
}

lt_leech "$T/lt.json" torrent="$T/share.torrent" save="$T/leech" ip=127.0.0.4 \
	port=$((TRK + 60)) peers=127.0.0.5:$((TRK + 50)) want="$k" settle=4 secs=40 ||
	fail "libtorrent leecher failed: $(cat "$T/lt.json")"
got=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["have"])' "$T/lt.json")
log "the leecher has         $got"
[ "$got" = "$have" ] || fail "the leecher's pieces differ from p2pfs's"
same_pieces "$T/leech/share" 0 || fail "the leecher's bytes differ from the source"

start_aria2_leecher 127.0.0.6 $((TRK + 70)) "$T/share.torrent" "$T/aleech"
aleech=$LAST_PID
same_pieces "$T/aleech/share" 40 || fail "the aria2c leecher did not get p2pfs's pieces within 40 s"
stop_aria2 "$aleech"
grep -q '127.0.0.5' "$LOGS"/aria2-leech-127.0.0.6-*.log || fail "the aria2c leecher never talked to p2pfs"
log "the aria2c leecher holds every piece p2pfs had, byte for byte"
umount_p2pfs "$T/mnt"
log PASS
