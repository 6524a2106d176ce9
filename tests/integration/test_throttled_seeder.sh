#!/bin/bash
# One slow seeder (aria2c --max-upload-limit=100K) among fast ones must not
# stall a reader: a full read of a 48 MiB file through the mount completes
# with the right bytes (blocks late on the slow peer are fetched again from
# a fast one). The only time limit is a generous overall timeout.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 8300
P=$IT_BASE

gen_data "$T/src/t.bin" $((48 * 1024 * 1024 + 777))
make_torrent "$T/src/t.bin" 18 "$T/t.torrent"
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/t.torrent" "$T/src" --max-upload-limit=100K
start_aria2_seeder 127.0.0.3 $((P + 2)) "$T/t.torrent" "$T/src"
start_aria2_seeder 127.0.0.4 $((P + 3)) "$T/t.torrent" "$T/src"

mount_p2pfs "$T/t.torrent" "$T/mnt" --bind 127.0.0.5 --port $((P + 50)) --no-trackers \
	--peer 127.0.0.2:$((P + 1)) --peer 127.0.0.3:$((P + 2)) --peer 127.0.0.4:$((P + 3))
t0=$(now_ms)
a=$(SHA_TIMEOUT=90 sha_of "$T/mnt/t.bin") || fail "reading through the mount failed or timed out"
dt=$(($(now_ms) - t0))
[ "$a" = "$(sha_of "$T/src/t.bin")" ] || fail "data read through the mount differs"
log "48 MiB read in $dt ms with one seeder capped at 100 KiB/s"
# the slow seeder was used (it is a peer like the others), not just ignored
grep -q "127.0.0.2:$((P + 1))' (fast)\|connected to '127.0.0.2:$((P + 1))'" "$MOUNT_LOG" ||
	fail "never connected to the throttled seeder"
umount_p2pfs "$T/mnt"
log PASS
