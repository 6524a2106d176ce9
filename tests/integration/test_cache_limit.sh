#!/bin/bash
# --cache-size smaller than the file: a full sequential read through the
# mount returns the right bytes, twice (the second read fetches evicted
# pieces again), and the store's real allocation (du -B1 of its data file,
# polled during the reads) never exceeds the limit plus one piece for the
# one reader; two readers at once get the right bytes and stay under the
# limit plus one piece each; random reads under the limit return the right
# bytes, and a remount finds only intact pieces in the map.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9200
TRK=$IT_BASE
PIECE=$((1 << 20))
CAP=$((8 << 20))

gen_data "$T/src/big.bin" $((40 << 20))
make_torrent "$T/src/big.bin" 20 "$T/big.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/big.torrent")
start_opentracker $TRK "$ih"
start_aria2_seeder 127.0.0.2 $((TRK + 1)) "$T/big.torrent" "$T/src"
start_aria2_seeder 127.0.0.3 $((TRK + 2)) "$T/big.torrent" "$T/src"
wait_tracker_peers $TRK "$ih" 2
want=$(sha_of "$T/src/big.bin")

mount_p2pfs "$T/big.torrent" "$T/mnt" --bind 127.0.0.5 --port $((TRK + 50)) \
	--cache-size 8M
data=$T/cache/$ih/data
xattr() { "$IT_PY" -c 'import os, sys; sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2]).decode())' "$@"; }

# read_and_watch N: sha256 of a full read through the mount, while du -B1
# of the data file is sampled every 50 ms (bounded: 90 s)
read_and_watch() {
	local out=$T/sha.$1 max=0 u i
	# the kernel's page cache of the mount would answer a second read
	# without asking p2pfs: drop it for this file first
	(with_timeout 90 "$IT_PY" -c '
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
h = hashlib.sha256()
while True:
    b = os.read(fd, 1 << 20)
    if not b:
        break
    h.update(b)
print(h.hexdigest())' "$T/mnt/big.bin" >"$out" 2>&1) &
	local rpid=$!
	for ((i = 0; i < 1800; i++)); do
		u=$(du -B1 "$data" 2>/dev/null | cut -f1) || u=0
		((u > max)) && max=$u
		pid_alive "$rpid" || break
		sleep 0.05
	done
	wait "$rpid" || fail "read $1 failed: $(cat "$out")"
	local got
	got=$(cut -d' ' -f1 "$out")
	[ "$got" = "$want" ] || fail "read $1: sha256 $got, want $want"
	log "read $1: sha256 ok; largest allocation seen $max bytes (limit $CAP)"
	((max <= CAP + PIECE)) || fail "read $1: the cache took $max bytes, over $((CAP + PIECE))"
}

read_and_watch 1
# evicted pieces are missing pieces: we stay interested in the seeders
# (were they taken as had, p2pfs would say "not interested" after one pass
# and be choked until aria2c's next choke round, 10 s later); the peer
# snapshot is a second old at most
sleep 1.2
peers=$(xattr "$T/mnt" user.p2pfs.peers)
log "peers after read 1:"$'\n'"$peers"
[ "$(awk '$5 ~ /[Dd]/' <<<"$peers" | wc -l)" -ge 1 ] ||
	fail "not interested in any seeder after a pass under the limit"
read_and_watch 2
# two readers at once, on two halves: they share the read-ahead, so the
# cache holds the limit plus one piece per reader
cat >"$T/range.py" <<'PYEOF'
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
off, left = int(sys.argv[2]), int(sys.argv[3])
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
h = hashlib.sha256()
while left > 0:
    b = os.pread(fd, min(left, 1 << 20), off)
    if not b:
        break
    h.update(b)
    off += len(b)
    left -= len(b)
print(h.hexdigest())
PYEOF
# FILE OFF LEN: sha256 of that range, its page cache dropped first
range_sha() { with_timeout 90 "$IT_PY" "$T/range.py" "$@"; }
half=$((20 << 20))
(range_sha "$T/mnt/big.bin" 0 $half >"$T/r1" 2>&1) &
r1=$!
(range_sha "$T/mnt/big.bin" $half $half >"$T/r2" 2>&1) &
r2=$!
max=0
for ((i = 0; i < 1800; i++)); do
	u=$(du -B1 "$data" | cut -f1)
	((u > max)) && max=$u
	pid_alive $r1 || pid_alive $r2 || break
	sleep 0.05
done
wait $r1 || fail "reader 1: $(cat "$T/r1")"
wait $r2 || fail "reader 2: $(cat "$T/r2")"
[ "$(cat "$T/r1")" = "$(range_sha "$T/src/big.bin" 0 $half)" ] || fail "reader 1: wrong bytes"
[ "$(cat "$T/r2")" = "$(range_sha "$T/src/big.bin" $half $half)" ] || fail "reader 2: wrong bytes"
log "two readers: bytes ok; largest allocation seen $max bytes"
((max <= CAP + 2 * PIECE)) || fail "two readers: the cache took $max bytes, over $((CAP + 2 * PIECE))"

# random reads: every seek leaves a window behind for eviction
seed=${SEED:-$RANDOM}
with_timeout 90 "$IT_PY" "$T/it.py" randreads "$T/mnt/big.bin" "$T/src/big.bin" 100 "$seed" 1500000 >&2 ||
	fail "random reads under the limit differ or timed out (seed $seed)"
apparent=$(du -B1 --apparent-size "$data" | cut -f1)
real=$(du -B1 "$data" | cut -f1)
log "data file: apparent $apparent, allocated $real"
[ "$apparent" = $((40 << 20)) ] || fail "apparent size $apparent"
((real <= CAP)) || fail "allocated $real after the reads, over the limit $CAP"
stats=$(xattr "$T/mnt" user.p2pfs.stats)
ev=$(awk '$1 == "evictions" { print $2 }' <<<"$stats")
lim=$(awk '$1 == "cache_limit" { print $2 }' <<<"$stats")
log "stats: evictions $ev, limit $lim"
[ "$lim" = "$CAP" ] || fail "cache_limit $lim"
((ev >= 60)) || fail "only $ev evictions for two reads of 40 pieces under an 8-piece limit"
((real <= CAP)) || fail "allocated $real after the random reads, over the limit $CAP"
umount_p2pfs "$T/mnt"

# the verified map on disk agrees: at most 8 pieces, all intact
mount_p2pfs "$T/big.torrent" "$T/mnt2" --bind 127.0.0.5 --port $((TRK + 51)) \
	--cache-size 8M --no-trackers
have=$(xattr "$T/mnt2" user.p2pfs.stats | awk '$1 == "pieces_have" { print $2 }')
log "after a remount: $have pieces verified"
((have <= 8 && have > 0)) || fail "$have pieces after the remount"
umount_p2pfs "$T/mnt2"
log PASS
