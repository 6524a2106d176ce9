#!/bin/bash
# udp:// trackers (BEP 15) in the daemon, against opentracker's UDP port:
#  1. a mount whose torrent's only tracker is udp:// finds a
#     python3-libtorrent seeder through it and reads the right bytes;
#     `p2pfs status` shows the tracker ok with its peer; once the whole
#     torrent is read, `completed` makes the tracker count it a seeder. The time from the
#     mount to the first peer from the tracker is measured, then the same
#     over opentracker's HTTP port (printed as "time to first peer").
#  2. BEP 12 tiers: tier 0 is a refused udp:// and a refused http://, tier
#     1 opentracker over udp://: the mount still finds the seeder (through
#     tier 1, quickly: the refusals are ICMP errors, not timeouts) and
#     status shows both dead trackers' errors.
#  3. `p2pfs seed` of a udp://-only torrent registers with opentracker
#     over UDP (an HTTP announce to the same opentracker lists it), an
#     aria2c leecher finds it and downloads the whole file; at shutdown its
#     `stopped` over UDP takes it off the tracker's list.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 9600
TRK=$IT_BASE
DEAD_U=$((TRK + 7)) DEAD_H=$((TRK + 8))

S=$T/src/u
gen_data "$S/movie.bin" $((6 * 1024 * 1024 + 123))
UDP="udp://127.0.0.1:$TRK/announce"
make_torrent "$S" 18 "$T/udp.torrent" "$UDP"
make_torrent "$S" 18 "$T/http.torrent" "$(tracker_url $TRK)"
# mktorrent: one -a per tier, commas inside a tier
make_torrent "$S" 18 "$T/tiers.torrent" \
	"udp://127.0.0.1:$DEAD_U/announce,http://127.0.0.1:$DEAD_H/announce" "$UDP"
ih=$(infohash "$T/udp.torrent")
[ "$(infohash "$T/tiers.torrent")" = "$ih" ] || fail "the torrents differ in their info-hash"
start_opentracker $TRK "$ih"

# the seeder announces over HTTP: only p2pfs uses UDP here
lt_seed 127.0.0.4 $((TRK + 4)) "$T/http.torrent" "$T/src"
wait_tracker_lists $TRK "$ih" 127.0.0.4:$((TRK + 4)) 20

# first_peer LOG URL: ms from MOUNT_T0 until LOG says URL gave a peer (10 s)
first_peer() {
	local lg=$1 url=$2 i
	for ((i = 0; i < 1000; i++)); do
		if grep -qF "'$url' gave" "$lg" 2>/dev/null &&
			! grep -F "'$url' gave 0 peers" "$lg" | grep -q .; then
			echo $(($(now_ms) - MOUNT_T0))
			return 0
		fi
		sleep 0.01
	done
	fail "no peer from $url within 10 s: $(grep -F tracker "$lg" | tail -n 3)"
}

# rtt LOG URL: ms from the log's "announcing to URL" to "URL gave" (-vv)
rtt() {
	awk -v u="'$2'" 'index($0, "announcing to " u) && !a { split($2, t, ":"); a = t[1] * 3600000 + t[2] * 60000 + t[3] * 1000 }
		index($0, u " gave") && !b { split($2, t, ":"); b = t[1] * 3600000 + t[2] * 60000 + t[3] * 1000 }
		END { printf "%d", b - a }' "$1"
}

# ---- 1. udp:// only ----
mount_p2pfs "$T/udp.torrent" "$T/mnt1" --cache "$T/c1" --bind 127.0.0.5 --port $((TRK + 50)) -v
udp_ms=$(first_peer "$MOUNT_LOG" "$UDP")
udp_rtt=$(rtt "$MOUNT_LOG" "$UDP")
timed_read "$T/mnt1/u/movie.bin" "$S/movie.bin" 60
# the whole torrent was read: `completed` over UDP makes it a seeder there
wait_tracker_peers $TRK "$ih" 2 0 10
grep -q "announcing to '$UDP' (completed)" "$MOUNT_LOG" || fail "no completed announce"
out=$(with_timeout 10 "$P2PFS" status "$T/mnt1" 2>&1) || fail "status failed: $out"
echo "$out" | sed 's/^/    /' >&2
echo "$out" | grep -qE "^  tracker +$UDP +ok" || fail "status does not show the udp tracker ok"
umount_p2pfs "$T/mnt1"

# the same over HTTP, for the comparison
mount_p2pfs "$T/http.torrent" "$T/mnt2" --cache "$T/c2" --bind 127.0.0.5 --port $((TRK + 51)) -v
http_ms=$(first_peer "$MOUNT_LOG" "$(tracker_url $TRK)")
http_rtt=$(rtt "$MOUNT_LOG" "$(tracker_url $TRK)")
umount_p2pfs "$T/mnt2"
log "time to first peer: udp:// $udp_ms ms, http:// $http_ms ms from the start of p2pfs mount; announce to answer: udp:// $udp_rtt ms, http:// $http_rtt ms"

# ---- 2. tiers: a dead tier 0 ----
mount_p2pfs "$T/tiers.torrent" "$T/mnt3" --cache "$T/c3" --bind 127.0.0.5 --port $((TRK + 52))
tier_ms=$(first_peer "$MOUNT_LOG" "$UDP")
((tier_ms < 8000)) || fail "tier 1 answered only after $tier_ms ms"
timed_read "$T/mnt3/u/movie.bin" "$S/movie.bin" 60
out=$(with_timeout 10 "$P2PFS" status "$T/mnt3" 2>&1) || fail "status failed: $out"
echo "$out" | sed 's/^/    /' >&2
echo "$out" | grep -E "^  tracker +udp://127.0.0.1:$DEAD_U/announce +error" | grep -qi "refused" ||
	fail "status does not show the dead udp tracker's refusal"
echo "$out" | grep -E "^  tracker +http://127.0.0.1:$DEAD_H/announce +error" | grep -qi "refused" ||
	fail "status does not show the dead http tracker's refusal"
echo "$out" | grep -qE "^  tracker +$UDP +ok" || fail "status does not show tier 1 ok"
log "tiers: tier 1 gave the seeder after $tier_ms ms"
umount_p2pfs "$T/mnt3"

# ---- 3. p2pfs seed over udp://, aria2c leeches ----
start_p2pfs_seed 127.0.0.6 $((TRK + 60)) "$T/udp.torrent" "$S" --cache "$T/c4"
seed=$LAST_PID
wait_tracker_lists $TRK "$ih" 127.0.0.6:$((TRK + 60)) 10
start_aria2_leecher 127.0.0.7 $((TRK + 61)) "$T/http.torrent" "$T/leech"
wait_leecher "$LAST_PID" 60
cmp -s "$S/movie.bin" "$T/leech/u/movie.bin" || fail "aria2c's copy differs"
log "aria2c downloaded the file from p2pfs seed (found over udp://)"
grep -q "'$UDP' gave" "$SEED_LOG" || fail "the seed never heard from the udp tracker"
stop_p2pfs_seed "$seed"
# its `stopped` took it off the list
for ((i = 0; i < 25; i++)); do
	it_py peers "$TRK" "$ih" | grep -qx "127.0.0.6:$((TRK + 60))" || break
	sleep 0.2
done
it_py peers "$TRK" "$ih" | grep -qx "127.0.0.6:$((TRK + 60))" &&
	fail "the tracker still lists the stopped seed"
log "the seed's stopped over udp:// reached the tracker"
log PASS
