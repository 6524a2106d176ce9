#!/bin/bash
# --max-down and --max-up hold: a mount limited to 2 MiB/s down reads a
# 4 MiB torrent from two aria2c seeders no faster than that; then, with the
# seeders gone, an aria2c leecher whose only peer is that mount (limited to
# 1 MiB/s up) takes about 4 s to download it, and gets the right bytes.
# A functional check of the limiter with generous bounds (at least 0.6 x
# size / limit), not a benchmark.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9100
TRK=$IT_BASE
SIZE=$((4 * 1024 * 1024))

S=$T/src/rl
gen_data "$S/data.bin" $SIZE
make_torrent "$S" 18 "$T/rl.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/rl.torrent")
start_opentracker $TRK "$ih"
start_aria2_seeder 127.0.0.2 $((TRK + 1)) "$T/rl.torrent" "$T/src"
s1=$LAST_PID
start_aria2_seeder 127.0.0.3 $((TRK + 2)) "$T/rl.torrent" "$T/src"
s2=$LAST_PID
wait_tracker_peers $TRK "$ih" 2

mount_p2pfs "$T/rl.torrent" "$T/mnt" --bind 127.0.0.5 --port $((TRK + 50)) \
	--max-down 2M --max-up 1M
wait_tracker_lists $TRK "$ih" 127.0.0.5:$((TRK + 50))
t0=$(now_ms)
compare_trees "$S" "$T/mnt/rl"
dt=$(($(now_ms) - t0))
log "read $SIZE bytes through the mount in $dt ms (limit 2 MiB/s down)"
# 4 MiB at 2 MiB/s: 2 s; allow for bursts and the pieces of a first burst
((dt >= 1200)) || fail "read took $dt ms: faster than --max-down 2M allows"

stop_aria2 "$s1"
stop_aria2 "$s2"
log "original seeders stopped; p2pfs is the only peer left"

t0=$(now_ms)
start_aria2_leecher 127.0.0.9 $((TRK + 60)) "$T/rl.torrent" "$T/leech"
wait_leecher "$LAST_PID" 60
log "the leecher ran for $(($(now_ms) - t0)) ms"
compare_trees "$S" "$T/leech/rl"
# the transfer itself: from the first to the last block the leecher logged
# (its start-up, announce and exit are not the limiter's business)
lg=$(echo "$LOGS"/aria2-leech-*.log)
dt=$(grep -E 'From: 127\.0\.0\.5:[0-9]+ piece' "$lg" | awk '
	{ split($2, t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]
	  if (n++ == 0) first = s; last = s }
	END { if (n < 2) print -1; else printf "%d\n", (last - first) * 1000 }')
((dt >= 0)) || fail "the leecher got no blocks from p2pfs"
blocks=$(grep -cE 'From: 127\.0\.0\.5:[0-9]+ piece' "$lg")
log "the leecher got $blocks blocks from p2pfs in $dt ms:" \
	"$((SIZE * 1000 / (dt > 0 ? dt : 1))) B/s (limit 1 MiB/s up)"
# 4 MiB at 1 MiB/s: 4 s (less the first tenth of a second's burst)
((dt >= 2400)) || fail "upload took $dt ms: faster than --max-up 1M allows"
umount_p2pfs "$T/mnt"
log PASS
