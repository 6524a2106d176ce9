#!/bin/bash
# A multi-file torrent (nested folders, empty files, a file smaller than a
# piece, 1 MiB pieces, ~30 MiB): the tree through the mount lists the same
# names and sizes as the source and every file has the same sha256.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 7200
TRK=$IT_BASE

S=$T/src/album
gen_data "$S/cd1/01 - intro.bin" $((7 * 1024 * 1024 + 1))
gen_data "$S/cd1/02.bin" $((5 * 1024 * 1024 - 17))
gen_data "$S/cd1/deep/er/still/deeper.bin" $((3 * 1024 * 1024))
: >"$S/cd1/deep/empty1"
: >"$S/empty-top"
gen_data "$S/small.txt" 999
gen_data "$S/cd2/a.bin" $((6 * 1024 * 1024 + 524288))
: >"$S/cd2/zero"
gen_data "$S/cd2/b.bin" 1048576
gen_data "$S/cd2/c.bin" $((7 * 1024 * 1024 + 3))
gen_data "$S/cd2/tiny" 1
make_torrent "$S" 20 "$T/album.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/album.torrent")
start_opentracker $TRK "$ih"
start_aria2_seeder 127.0.0.2 $((TRK + 1)) "$T/album.torrent" "$T/src"
start_aria2_seeder 127.0.0.3 $((TRK + 2)) "$T/album.torrent" "$T/src"
wait_tracker_peers $TRK "$ih" 2

mount_p2pfs "$T/album.torrent" "$T/mnt" --bind 127.0.0.5 --port $((TRK + 50))
with_timeout 10 ls -lR "$T/mnt" >&2 || fail "ls -lR of the mount failed"
compare_trees "$S" "$T/mnt/album"
umount_p2pfs "$T/mnt"
log PASS
