#!/bin/bash
# `p2pfs mount --seed-after`: after reading everything through the mount and
# unmounting it (`p2pfs umount`, which does not wait for such a daemon),
# the p2pfs process keeps seeding: with the original seeder stopped, an
# aria2c leecher still downloads it all from p2pfs; `p2pfs ls` lists it as
# seeding and `p2pfs stop` then stops it with status 0 and a "stopped"
# announce. A signal while still mounted ends it as usual.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 8880
TRK=$IT_BASE

S=$T/src/share
gen_data "$S/a.bin" $((6 * 1024 * 1024 + 5))
gen_data "$S/b/c.bin" $((1024 * 1024 + 77777))
: >"$S/b/empty"
make_torrent "$S" 18 "$T/share.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/share.torrent")
start_opentracker $TRK "$ih"
start_aria2_seeder 127.0.0.2 $((TRK + 1)) "$T/share.torrent" "$T/src"
s1=$LAST_PID
wait_tracker_peers $TRK "$ih" 1

mount_p2pfs "$T/share.torrent" "$T/mnt" --bind 127.0.0.5 --port $((TRK + 50)) --seed-after
pid=$LAST_PID
[ "$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.p2pfs.seed_after").decode())' "$T/mnt" 2>/dev/null)" = 1 ] ||
	fail "no user.p2pfs.seed_after on the mount"
compare_trees "$S" "$T/mnt/share"
t0=$(now_ms)
"$P2PFS" umount "$T/mnt" 2>"$T/umount.err" || fail "p2pfs umount failed: $(cat "$T/umount.err")"
dt=$(($(now_ms) - t0))
log "p2pfs umount: $(cat "$T/umount.err") (${dt} ms)"
((dt < 3000)) || fail "p2pfs umount waited ${dt} ms for a --seed-after daemon"
is_mounted "$T/mnt" && fail "still mounted"
unset "IT_MOUNT_PID[$T/mnt]"
sleep 0.5
pid_alive "$pid" || fail "p2pfs exited on unmount despite --seed-after (status $(exit_status "$pid"))"
grep -q 'still seeding' "$MOUNT_LOG" || fail "no 'still seeding' in the log"

stop_aria2 "$s1"
log "original seeder stopped; the unmounted p2pfs is the only peer left"
wait_tracker_lists $TRK "$ih" 127.0.0.5:$((TRK + 50))
start_aria2_leecher 127.0.0.9 $((TRK + 60)) "$T/share.torrent" "$T/leech"
wait_leecher "$LAST_PID" 60
compare_trees "$S" "$T/leech/share"
grep -q '127.0.0.5' "$LOGS"/aria2-leech-*.log || fail "the leecher never talked to p2pfs"

# p2pfs ls shows it as seeding after its unmount; p2pfs stop ends it
out=$(with_timeout 10 "$P2PFS" ls 2>&1) || fail "p2pfs ls failed: $out"
log "p2pfs ls:"$'\n'"$out"
grep -Eq "^$pid +seeding +$((TRK + 50)) .* share +$T/mnt$" <<<"$out" ||
	fail "p2pfs ls does not show the unmounted p2pfs as seeding"
out=$(with_timeout 20 "$P2PFS" stop "$pid" 2>&1) || fail "p2pfs stop $pid: $out"
wait_exit "$pid" 10 || fail "p2pfs still running 10 s after p2pfs stop"
rc=$(exit_status "$pid")
[ "$rc" = 0 ] || fail "p2pfs exited with status $rc after p2pfs stop"
for ((i = 0; i < 25; i++)); do
	read -r c _ < <(it_py scrape $TRK "$ih")
	[ "$c" = 0 ] && break
	sleep 0.2
done
[ "$c" = 0 ] || fail "the tracker still counts $c seeder(s) after p2pfs stop"
log "p2pfs stop: p2pfs exited 0 and announced stopped"

# a signal while mounted ends it at once, mount and all
mount_p2pfs "$T/share.torrent" "$T/mnt2" --seed-after --no-trackers
pid=$LAST_PID
kill -TERM "$pid"
wait_exit "$pid" 10 || fail "a mounted --seed-after p2pfs ignored SIGTERM"
rc=$(exit_status "$pid")
[ "$rc" = 0 ] || fail "status $rc after SIGTERM while mounted"
unset "IT_MOUNT_PID[$T/mnt2]"
is_mounted "$T/mnt2" && fail "still mounted after SIGTERM"
log PASS
