#!/bin/bash
# Read everything, unmount (with `p2pfs umount`), stop every seeder and the
# tracker, remount with the same --cache: every file reads back from the
# cache alone.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 7500
TRK=$IT_BASE

S=$T/src/pack
gen_data "$S/one.bin" $((9 * 1024 * 1024 + 333))
gen_data "$S/sub/two.bin" $((4 * 1024 * 1024))
gen_data "$S/sub/three.txt" 4321
: >"$S/sub/empty"
make_torrent "$S" 18 "$T/pack.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/pack.torrent")
start_opentracker $TRK "$ih"
start_aria2_seeder 127.0.0.2 $((TRK + 1)) "$T/pack.torrent" "$T/src"
s1=$LAST_PID
start_aria2_seeder 127.0.0.3 $((TRK + 2)) "$T/pack.torrent" "$T/src"
s2=$LAST_PID
wait_tracker_peers $TRK "$ih" 2

mount_p2pfs "$T/pack.torrent" "$T/mnt" --cache "$T/cache" --bind 127.0.0.5 --port $((TRK + 50))
compare_trees "$S" "$T/mnt/pack"
pid=${IT_MOUNT_PID[$T/mnt]}
with_timeout 10 "$P2PFS" umount "$T/mnt" || fail "p2pfs umount failed"
wait_exit "$pid" 10 || fail "p2pfs still running 10 s after p2pfs umount"
rc=$(exit_status "$pid")
[ "$rc" = 0 ] || fail "p2pfs exited with status $rc after p2pfs umount"
is_mounted "$T/mnt" && fail "still mounted after p2pfs umount"
unset "IT_MOUNT_PID[$T/mnt]"

stop_aria2 "$s1"
stop_aria2 "$s2"
stop_pid "$TRACKER_PID"
log "seeders and tracker stopped; remounting from the cache alone"

mount_p2pfs "$T/pack.torrent" "$T/mnt" --cache "$T/cache" --bind 127.0.0.5 --port $((TRK + 51))
SHA_TIMEOUT=20 compare_trees "$S" "$T/mnt/pack"
umount_p2pfs "$T/mnt"
log PASS
