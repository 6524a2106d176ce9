#!/bin/bash
# ~200 reads of random sizes at random offsets (some across piece
# boundaries, some at or past EOF) on a fresh mount, each compared with the
# same range of the source file.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 7400
TRK=$IT_BASE

gen_data "$T/src/r.bin" $((16 * 1024 * 1024 + 4097))
make_torrent "$T/src/r.bin" 18 "$T/r.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/r.torrent")
start_opentracker $TRK "$ih"
start_aria2_seeder 127.0.0.2 $((TRK + 1)) "$T/r.torrent" "$T/src"
start_aria2_seeder 127.0.0.3 $((TRK + 2)) "$T/r.torrent" "$T/src"
wait_tracker_peers $TRK "$ih" 2

mount_p2pfs "$T/r.torrent" "$T/mnt" --bind 127.0.0.5 --port $((TRK + 50))
seed=${SEED:-$RANDOM}
log "random reads, seed $seed"
t0=$(now_ms)
with_timeout 90 "$IT_PY" "$T/it.py" randreads "$T/mnt/r.bin" "$T/src/r.bin" 200 "$seed" 1500000 >&2 ||
	fail "random reads differ or timed out (seed $seed)"
log "200 random reads in $(($(now_ms) - t0)) ms"
umount_p2pfs "$T/mnt"
log PASS
