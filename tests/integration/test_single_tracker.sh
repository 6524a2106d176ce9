#!/bin/bash
# A single-file torrent (~20 MiB, 256 KiB pieces) served by two aria2c
# seeders found through opentracker: the size shows at once, the content
# read through the mount equals the source.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 7700
TRK=$IT_BASE

gen_data "$T/src/film.bin" $((20 * 1024 * 1024 + 12345))
make_torrent "$T/src/film.bin" 18 "$T/film.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/film.torrent")
start_opentracker $TRK "$ih"
start_aria2_seeder 127.0.0.2 $((TRK + 1)) "$T/film.torrent" "$T/src"
start_aria2_seeder 127.0.0.3 $((TRK + 2)) "$T/film.torrent" "$T/src"
wait_tracker_peers $TRK "$ih" 2

mount_p2pfs "$T/film.torrent" "$T/mnt" --bind 127.0.0.5 --port $((TRK + 50))

# stat comes from the metainfo alone: right away, no network
ls -l "$T/mnt" >&2
want=$(stat -c %s "$T/src/film.bin")
got=$(with_timeout 5 stat -c %s "$T/mnt/film.bin") || fail "stat through the mount failed"
[ "$got" = "$want" ] || fail "size through the mount is $got, want $want"
t0=$(now_ms)
a=$(sha_of "$T/src/film.bin")
b=$(sha_of "$T/mnt/film.bin") || true
[ "$a" = "$b" ] || fail "sha256 through the mount $b, source $a"
log "read 20 MiB through the mount in $(($(now_ms) - t0)) ms"
umount_p2pfs "$T/mnt"
log PASS
