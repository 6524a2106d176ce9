#!/bin/bash
# The everyday path: `p2pfs mount` without -f returns once the mount is
# live and leaves a daemon behind; `p2pfs umount` removes the mount and
# waits for that daemon to exit.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 7900
P=$IT_BASE

gen_data "$T/src/d.bin" $((3 * 1024 * 1024 + 5))
make_torrent "$T/src/d.bin" 18 "$T/d.torrent"
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/d.torrent" "$T/src"

mkdir -p "$T/mnt"
IT_MOUNTS+=("$T/mnt")
rc=0
with_timeout 15 "$P2PFS" mount --cache "$T/cache" --log "$LOGS/p2pfs-daemon.log" -v \
	--no-trackers --peer 127.0.0.2:$((P + 1)) --bind 127.0.0.5 --port $((P + 50)) \
	"$T/d.torrent" "$T/mnt" >"$LOGS/p2pfs-daemon.out" 2>&1 || rc=$?
# the daemon (found by its unique mount point) is ours to clean up
for pid in $(pgrep -f -- "$T/mnt" || true); do it_track "$pid"; done
[ "$rc" = 0 ] || fail "p2pfs mount (daemon mode) exited $rc: $(cat "$LOGS/p2pfs-daemon.out")"
is_mounted "$T/mnt" || fail "p2pfs mount returned 0 but $T/mnt is not mounted yet"
[ -n "$(pgrep -f -- "$T/mnt" || true)" ] || fail "no p2pfs daemon left running"
a=$(sha_of "$T/src/d.bin")
b=$(sha_of "$T/mnt/d.bin") || true
[ "$a" = "$b" ] || fail "sha256 through the mount $b, source $a"
rc=0
with_timeout 10 "$P2PFS" umount "$T/mnt" >"$LOGS/umount.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "p2pfs umount exited $rc: $(cat "$LOGS/umount.out")"
is_mounted "$T/mnt" && fail "still mounted after p2pfs umount"
left=$(pgrep -f -- "$T/mnt" || true)
[ -z "$left" ] || fail "p2pfs daemon (pid $left) still running after p2pfs umount returned"
log PASS
