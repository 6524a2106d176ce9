#!/bin/bash
# `p2pfs seed` alone feeds an aria2c leecher a whole multi-file torrent
# (nested folders, an empty file, odd sizes, 256 KiB pieces) from the folder
# itself: once found through opentracker, once with no tracker at all
# (p2pfs dials the leecher with --peer). SIGTERM stops the seeder cleanly:
# status 0, and the tracker forgets it ("stopped").
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 8600
TRK=$IT_BASE

S=$T/src/share
gen_data "$S/a.bin" $((24 * 1024 * 1024 + 12345))
gen_data "$S/sub/deeper/b.bin" $((5 * 1024 * 1024 + 1))
gen_data "$S/sub/c.txt" 777
gen_data "$S/sub/d.bin" $((256 * 1024))
: >"$S/sub/empty"
gen_data "$S/z.bin" 3
make_torrent "$S" 18 "$T/share.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/share.torrent")
chmod -R a-w "$S" # read-only: seed must not need to write there
before=$(cd "$S" && find . -printf '%P %s %T@\n' | LC_ALL=C sort | sha256sum)
start_opentracker $TRK "$ih"

# 1. through the tracker; PATH is the torrent's top folder
start_p2pfs_seed 127.0.0.5 $((TRK + 50)) "$T/share.torrent" "$S"
seed=$LAST_PID
wait_tracker_lists $TRK "$ih" 127.0.0.5:$((TRK + 50))
wait_tracker_peers $TRK "$ih" 1
t0=$(now_ms)
start_aria2_leecher 127.0.0.9 $((TRK + 60)) "$T/share.torrent" "$T/leech"
wait_leecher "$LAST_PID" 60
dt=$(($(now_ms) - t0))
compare_trees "$S" "$T/leech/share"
total=$(find "$S" -type f -printf "%s\n" | awk "{ s += \$1 } END { print s }")
log "aria2c got $total bytes from p2pfs seed in $dt ms ($((total / 1000 / (dt > 0 ? dt : 1))) MB/s, start-up included)"
grep -q "127.0.0.5" "$LOGS"/aria2-leech-127.0.0.9-*.log || fail "the leecher never talked to p2pfs"
log "transfer from p2pfs: $(aria2_rate "$LOGS"/aria2-leech-127.0.0.9-*.log 127.0.0.5:$((TRK + 50)))"
stop_p2pfs_seed "$seed"
# "stopped" reached the tracker: it no longer counts a seeder
for ((i = 0; i < 25; i++)); do
	read -r c _ < <(it_py scrape $TRK "$ih")
	[ "$c" = 0 ] && break
	sleep 0.2
done
[ "$c" = 0 ] || fail "the tracker still counts $c seeder(s) after SIGTERM"
grep -q 'uploaded' "$SEED_LOG" || fail "no closing line in the seed log"

# 2. no tracker: the leecher listens, p2pfs dials it (--peer); PATH is
# the parent folder this time
make_torrent "$S" 18 "$T/notrk.torrent"
start_aria2_leecher 127.0.0.10 $((TRK + 61)) "$T/notrk.torrent" "$T/leech2"
leech=$LAST_PID
wait_port 127.0.0.10 $((TRK + 61)) 10 || fail "aria2c leecher is not listening"
start_p2pfs_seed 127.0.0.6 $((TRK + 51)) "$T/notrk.torrent" "$T/src" \
	--no-trackers --peer 127.0.0.10:$((TRK + 61))
seed=$LAST_PID
wait_leecher "$leech" 60
compare_trees "$S" "$T/leech2/share"
stop_p2pfs_seed "$seed"

after=$(cd "$S" && find . -printf '%P %s %T@\n' | LC_ALL=C sort | sha256sum)
[ "$before" = "$after" ] || fail "the seeded folder changed"
chmod -R u+w "$S"
log PASS
