#!/bin/bash
# A dead mount left by a p2pfs killed with -9 ("Transport endpoint is not
# connected") is found at the next `p2pfs mount` on that folder, removed,
# and the new mount takes its place: one mount there, never two stacked,
# and it works. A live p2pfs mount there is refused, naming `p2pfs
# umount`; so is a live one after `umount`... and the folder is empty
# again at the end.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 11400
P=$IT_BASE

gen_data "$T/src/k.bin" $((2 << 20))
make_torrent "$T/src/k.bin" 18 "$T/k.torrent"
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/k.torrent" "$T/src"
count_mounts() { awk -v m="$1" '$5 == m { n++ } END { print n + 0 }' /proc/self/mountinfo; }

mkdir -p "$T/mnt"
IT_MOUNTS+=("$T/mnt")
opts=(--cache "$T/cache" --no-trackers --peer 127.0.0.2:$((P + 1)) --bind 127.0.0.5)
with_timeout 15 "$P2PFS" mount "${opts[@]}" --port $((P + 50)) "$T/k.torrent" "$T/mnt" \
	>"$LOGS/mount1.out" 2>&1 || fail "mount 1: $(cat "$LOGS/mount1.out")"
pid=$(xattr_of "$T/mnt" user.p2pfs.pid)
[ -n "$pid" ] || fail "no pid on the mount"
it_track "$pid"
[ "$(sha_of "$T/mnt/k.bin")" = "$(sha_of "$T/src/k.bin")" ] || fail "k.bin differs"

# a live mount: refused, the one mount stays
rc=0
"$P2PFS" mount "${opts[@]}" "$T/k.torrent" "$T/mnt" >"$LOGS/again.out" 2>&1 || rc=$?
log "mount over a live mount: status $rc: $(cat "$LOGS/again.out")"
[ "$rc" = 2 ] || fail "mount over a live mount exited $rc"
grep -q "already a p2pfs mount (pid $pid): 'p2pfs umount .*' first" "$LOGS/again.out" ||
	fail "mount over a live mount: $(cat "$LOGS/again.out")"
[ "$(count_mounts "$T/mnt")" = 1 ] || fail "$(count_mounts "$T/mnt") mounts on $T/mnt"

# kill -9: the mount stays behind, dead
kill -KILL "$pid"
wait_exit "$pid" 5 || fail "p2pfs survived SIGKILL"
# (a request in flight as the connection goes gets ECONNABORTED; then
# every one gets ENOTCONN)
for ((i = 0; i < 20; i++)); do
	err=$(stat "$T/mnt" 2>&1) && fail "stat of the dead mount worked"
	grep -q "Transport endpoint is not connected" <<<"$err" && break
	sleep 0.1
done
grep -q "Transport endpoint is not connected" <<<"$err" || fail "the dead mount: $err"
[ "$(count_mounts "$T/mnt")" = 1 ] || fail "no dead mount to recover from"

# mount again: the dead one is removed, the new one is the only one
with_timeout 15 "$P2PFS" mount "${opts[@]}" --port $((P + 51)) "$T/k.torrent" "$T/mnt" \
	>"$LOGS/mount2.out" 2>&1 || fail "mount over the dead mount: $(cat "$LOGS/mount2.out")"
log "mount over the dead mount: $(cat "$LOGS/mount2.out")"
grep -q "removed the dead mount of a p2pfs that was killed" "$LOGS/mount2.out" ||
	fail "mount 2 did not say it removed the dead mount"
pid2=$(xattr_of "$T/mnt" user.p2pfs.pid)
[ -n "$pid2" ] && [ "$pid2" != "$pid" ] || fail "no new daemon on the mount"
it_track "$pid2"
[ "$(count_mounts "$T/mnt")" = 1 ] || fail "$(count_mounts "$T/mnt") mounts on $T/mnt: stacked"
[ "$(sha_of "$T/mnt/k.bin")" = "$(sha_of "$T/src/k.bin")" ] || fail "k.bin differs on the new mount"
with_timeout 10 "$P2PFS" umount "$T/mnt" || fail "umount failed"
[ "$(count_mounts "$T/mnt")" = 0 ] || fail "a mount is left on $T/mnt: the dead one was stacked under"
[ -z "$(ls -A "$T/mnt")" ] || fail "$T/mnt is not empty at the end"
log PASS
