#!/bin/bash
# Hostile trackers (tests/integration/hostile_tracker.py), one mount each,
# all at once, every mount also given an honest aria2c seeder of its own
# (one aria2c unchokes only a few leechers at a time) by --peer:
#   garbage, huge (Content-Length 1 GiB, endless body), endless (no length),
#   trickle (a byte every 0.5 s), redirect-loop (302 to itself), failure (a
#   4 KiB reason with newlines and an escape sequence), http-500,
#   interval-0, interval-neg (-1), peers-100k (100,000 fake loopback peers).
# Over 22 s every mount must read its file with the right bytes in bounded
# time, no tracker may be asked more than 3 times (no hammering on a zero,
# negative or failed interval), huge and endless bodies must be cut off
# (the client closes within 16 MiB), a trickling answer must be given up
# within 20 s, the failure reason must be logged without its control
# characters, every daemon's memory, fds and CPU stay bounded and each
# exits 0 on unmount.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 5800
P=$IT_BASE

modes=(garbage huge endless trickle redirect-loop failure http-500 interval-0
	interval-neg peers-100k)
hostile_data "$T/src" $((2 << 20))
# the seeder's copy has no tracker; the mounts' copies each name their own
# (the info dict, hence the info-hash, is the same)
make_torrent "$T/src/t" 18 "$T/seed.torrent"

declare -A D CPU
k=0
for m in "${modes[@]}"; do
	k=$((k + 1))
	start_aria2_seeder 127.0.0.2 $((P + 30 + k)) "$T/seed.torrent" "$T/src"
	hostile_tracker "$m" $((P + k)) 127.0.0.2:$((P + 30 + k))
	make_torrent "$T/src/t" 18 "$T/$m.torrent" "$(tracker_url $((P + k)))"
done
w0=$(now_ms)
k=0
for m in "${modes[@]}"; do
	k=$((k + 1))
	mount_p2pfs "$T/$m.torrent" "$T/mnt-$m" --cache "$T/cache-$m" --bind 127.0.0.5 \
		--port $((P + 50 + k)) --peer 127.0.0.2:$((P + 30 + k))
	D[$m]=$LAST_PID
	CPU[$m]=$(daemon_cpu "$LAST_PID")
	daemon_watch "$LAST_PID"
done
readers=()
for m in "${modes[@]}"; do
	(timed_read "$T/mnt-$m/t/a.bin" "$T/src/t/a.bin" 30) &
	readers+=($!)
	it_track $!
done
for r in "${readers[@]}"; do
	wait_exit "$r" 40 || fail "a read did not end"
	[ "$(exit_status "$r")" = 0 ] || fail "a read failed (see above)"
done
log "every mount read its file right"
# watch the trackers for 22 s from the first mount
while (($(now_ms) - w0 < 22000)); do sleep 0.5; done

k=0
for m in "${modes[@]}"; do
	k=$((k + 1))
	daemon_check "${D[$m]}" "$m" "${CPU[$m]}" "$w0" 50
	n=$(tracker_log $((P + k)) 'len(L)')
	inflight=$(ss -Htn state established "dst 127.0.0.1:$((P + k))" | wc -l)
	log "$m: $n announce(s) answered, $inflight open: $(tracker_log $((P + k)) "[(r['t_ms'], r['bytes'], r['dur_ms'], r['client_closed']) for r in L]")"
	((n + inflight <= 3)) || fail "$m: the tracker was asked $((n + inflight)) times in 22 s"
	((n + inflight >= 1)) || fail "$m: the tracker was never asked"
	case $m in
	huge | endless)
		[ "$n" -ge 1 ] || fail "$m: the endless answer was not cut off"
		[ "$(tracker_log $((P + k)) "all(r['client_closed'] and r['bytes'] <= 16 << 20 for r in L)")" = True ] ||
			fail "$m: the client read more than 16 MiB of an endless answer"
		;;
	trickle)
		[ "$n" -ge 1 ] || fail "$m: the trickling answer was not given up within 22 s"
		[ "$(tracker_log $((P + k)) "all(r['client_closed'] and r['dur_ms'] <= 20000 for r in L)")" = True ] ||
			fail "$m: the trickling answer was waited for too long"
		;;
	esac
done
lg=$LOGS/p2pfs-$(( $(printf '%s\n' "${modes[@]}" | grep -n '^failure$' | cut -d: -f1) )).log
grep -q 'go away' "$lg" || fail "the failure reason is not in the log ($lg)"
LC_ALL=C grep -q $'\x1b' "$lg" && fail "the failure reason's escape sequence reached the log"
for m in "${modes[@]}"; do
	umount_p2pfs "$T/mnt-$m"
done
log PASS
