#!/bin/bash
# test_magnet_nowait — `p2pfs mount --no-wait MAGNET`: the mount is live at
# once, before any peer is there; listing its root waits for the metadata
# and returns once a python3-libtorrent seeder (x.pe=) appears; the files
# then read right; the remount (metadata cached) lists at once; a listing
# is interruptible; with nobody to ask it fails with ETIMEDOUT after
# --metadata-timeout; an unmount with a listing waiting ends the daemon at
# once (status 0). Every wait bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9720
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }

S=$T/src/share
gen_data "$S/a.bin" 6M
echo hello >"$S/c.txt"
make_torrent "$S" 15 "$T/share.torrent"
ih=$(infohash "$T/share.torrent")
LT_IP=127.0.0.81 LT_PORT=$((IT_BASE + 1))
M="magnet:?xt=urn:btih:$ih&dn=share&x.pe=$LT_IP:$LT_PORT"

# 1. live before the metadata (in the background, as a boot mount runs)
mkdir -p "$T/mnt"
t0=$(now_ms)
with_timeout 10 "$P2PFS" mount --no-wait --cache "$T/cache" --bind 127.0.0.82 \
	--metadata-timeout 60 -v --log "$LOGS/nowait.log" "$M" "$T/mnt" >"$LOGS/nowait.out" 2>&1 ||
	fail "mount --no-wait: $(cat "$LOGS/nowait.out")"
IT_MOUNTS+=("$T/mnt")
dt=$(($(now_ms) - t0))
is_mounted "$T/mnt" || fail "not mounted after mount --no-wait returned"
((dt < 3000)) || fail "mount --no-wait took $dt ms"
log "1. mount --no-wait returned after $dt ms, mounted, no peer yet"

# 2. a listing waits, and returns once the seeder comes
(t1=$(now_ms); with_timeout 40 ls "$T/mnt" >"$T/ls.out" 2>&1; echo "$? $(($(now_ms) - t1))" >"$T/ls.rc") &
lsjob=$!
sleep 1.5
[ -s "$T/ls.rc" ] && fail "the listing did not wait for the metadata: $(cat "$T/ls.out")"
"$IT_LT_PY" "$IT_ROOT/tests/bench/ltseed.py" "$LT_IP" "$LT_PORT" "$T/share.torrent" "$T/src" \
	>"$LOGS/ltseed.out" 2>&1 </dev/null &
it_track $!
LT_SEED=$LAST_PID
wait "$lsjob"
read -r rc ms <"$T/ls.rc"
[ "$rc" = 0 ] && [ "$(cat "$T/ls.out")" = share ] || fail "the waiting listing: status $rc: $(cat "$T/ls.out")"
log "2. the listing waited $ms ms and shows '$(cat "$T/ls.out")'"
compare_trees "$S" "$T/mnt/share"
fusermount3 -u "$T/mnt"
for ((i = 0; i < 50; i++)); do pgrep -f "$LOGS/nowait.log" >/dev/null || break; sleep 0.1; done
pgrep -f "$LOGS/nowait.log" >/dev/null && fail "the daemon did not exit after the unmount"

# 3. the remount: the metadata is in the cache
stop_pid "$LT_SEED"
mount_p2pfs "$M" "$T/mnt" --no-wait --bind 127.0.0.82
t0=$(now_ms)
[ "$(with_timeout 5 ls "$T/mnt")" = share ] || fail "the cached remount does not list at once"
[ "$(sha_of "$T/mnt/share/c.txt")" = "$(sha_of "$S/c.txt")" ] || fail "cached read differs"
log "3. cached remount listed in $(($(now_ms) - t0)) ms"
umount_p2pfs "$T/mnt"

# 4. nobody to ask: interruptible, then ETIMEDOUT; an unmount ends it
M2="magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&x.pe=127.0.0.83:$((IT_BASE + 3))"
mount_p2pfs "$M2" "$T/mnt2" --cache "$T/c2" --no-wait --metadata-timeout 3 --bind 127.0.0.82
t0=$(now_ms)
rc=0
timeout -s INT 1 ls "$T/mnt2" >/dev/null 2>&1 || rc=$?
dt=$(($(now_ms) - t0))
[ "$rc" != 0 ] && ((dt < 2500)) || fail "an interrupted listing: status $rc after $dt ms"
log "4a. the listing was interrupted after $dt ms"
t0=$(now_ms)
out=$(with_timeout 20 ls "$T/mnt2" 2>&1) && fail "listing without metadata succeeded: $out"
grep -q 'timed out' <<<"$out" || fail "want ETIMEDOUT, got: $out"
log "4b. '$out' after $(($(now_ms) - t0)) ms"
umount_p2pfs "$T/mnt2"
mount_p2pfs "$M2" "$T/mnt3" --cache "$T/c3" --no-wait --metadata-timeout 60 --bind 127.0.0.82
pid=$LAST_PID
(with_timeout 70 ls "$T/mnt3" >/dev/null 2>&1) &
lsjob=$!
sleep 1
t0=$(now_ms)
fusermount3 -u -z "$T/mnt3"
wait_exit "$pid" 10 || fail "a daemon with a listing waiting did not exit after the unmount"
[ "$(exit_status "$pid")" = 0 ] || fail "it exited with status $(exit_status "$pid")"
log "4c. unmounted with a listing waiting: exited after $(($(now_ms) - t0)) ms"
wait_exit "$lsjob" 10 || fail "the waiting listing did not end"
log "PASS"
