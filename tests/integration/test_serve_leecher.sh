#!/bin/bash
# A mount that holds every piece seeds: after reading the whole torrent
# through the mount the original seeders stop, and an aria2c leecher whose
# only possible peer is p2pfs (announced to the tracker from 127.0.0.5)
# downloads it all.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 7600
TRK=$IT_BASE

S=$T/src/share
gen_data "$S/a.bin" $((8 * 1024 * 1024 + 5))
gen_data "$S/b/c.bin" $((3 * 1024 * 1024 + 100000))
make_torrent "$S" 18 "$T/share.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/share.torrent")
start_opentracker $TRK "$ih"
start_aria2_seeder 127.0.0.2 $((TRK + 1)) "$T/share.torrent" "$T/src"
s1=$LAST_PID
start_aria2_seeder 127.0.0.3 $((TRK + 2)) "$T/share.torrent" "$T/src"
s2=$LAST_PID
wait_tracker_peers $TRK "$ih" 2

mount_p2pfs "$T/share.torrent" "$T/mnt" --bind 127.0.0.5 --port $((TRK + 50))
# a leecher can only find p2pfs if it announced from its --bind address
wait_tracker_lists $TRK "$ih" 127.0.0.5:$((TRK + 50))
compare_trees "$S" "$T/mnt/share"
stop_aria2 "$s1"
stop_aria2 "$s2"
log "original seeders stopped; p2pfs is the only peer left"

start_aria2_leecher 127.0.0.9 $((TRK + 60)) "$T/share.torrent" "$T/leech"
wait_leecher "$LAST_PID" 60
compare_trees "$S" "$T/leech/share"
grep -q '127.0.0.5' "$LOGS"/aria2-leech-*.log || fail "the leecher never talked to p2pfs"
if grep -qE 'From: 127\.0\.0\.[23]:[0-9]+ piece' "$LOGS"/aria2-leech-*.log; then
	fail "the leecher got pieces from an original seeder"
fi
umount_p2pfs "$T/mnt"
log PASS
