#!/bin/bash
# A seeder killed (SIGKILL) in the middle of a read is survived: the read
# completes from the remaining seeders with the right bytes. The seeders
# are capped at 4 MiB/s each so that the read is still running when one of
# them dies.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 8500
P=$IT_BASE

gen_data "$T/src/k.bin" $((40 * 1024 * 1024 + 12345))
make_torrent "$T/src/k.bin" 18 "$T/k.torrent"
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/k.torrent" "$T/src" --max-upload-limit=4M
victim=$LAST_PID
start_aria2_seeder 127.0.0.3 $((P + 2)) "$T/k.torrent" "$T/src" --max-upload-limit=4M
start_aria2_seeder 127.0.0.4 $((P + 3)) "$T/k.torrent" "$T/src" --max-upload-limit=4M

mount_p2pfs "$T/k.torrent" "$T/mnt" --bind 127.0.0.5 --port $((P + 50)) --no-trackers \
	--peer 127.0.0.2:$((P + 1)) --peer 127.0.0.3:$((P + 2)) --peer 127.0.0.4:$((P + 3))
with_timeout 100 sha256sum "$T/mnt/k.bin" >"$T/sum" 2>"$T/sum.err" &
reader=$!
it_track "$reader"
# kill one seeder once the read is under way (bounded wait)
for ((i = 0; i < 300; i++)); do
	pct=$(xattr_of "$T/mnt/k.bin" user.p2pfs.progress)
	[ -n "$pct" ] && [ "${pct%%.*}" -ge 10 ] && break
	pid_alive "$reader" || break
	sleep 0.1
done
pid_alive "$reader" || fail "the read ended before a seeder could be killed"
kill -KILL "$victim"
log "killed seeder 127.0.0.2 (pid $victim) at $pct%"
wait_exit "$reader" 110 || fail "the read did not finish after a seeder died"
rc=$(exit_status "$reader")
[ "$rc" = 0 ] || fail "sha256sum through the mount exited $rc: $(cat "$T/sum.err")"
a=$(cut -d' ' -f1 "$T/sum")
[ "$a" = "$(sha_of "$T/src/k.bin")" ] || fail "data read through the mount differs"
grep -q "closing '127.0.0.2:$((P + 1))'" "$MOUNT_LOG" || fail "p2pfs did not notice the dead seeder"
log "the read finished from the two remaining seeders"
umount_p2pfs "$T/mnt"
log PASS
