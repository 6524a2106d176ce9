#!/bin/bash
# Hostile udp:// trackers (tests/integration/hostile_tracker.py --udp), one
# mount each, all at once, every mount also given an honest aria2c seeder
# of its own by --peer:
#   udp-wrong-tid (every reply with another transaction id), udp-short
#   (12-byte announce replies), udp-huge (a 64 KiB reply: 10,914 fake
#   peers after the real one), udp-error (an error action with a 4 KiB
#   message holding newlines and an escape sequence), udp-garbage (the
#   right transaction id, then random bytes).
# Every mount reads its file right in bounded time; within 60 s each
# tracker's state in `p2pfs status` is what it deserves: an error naming
# the problem (no reply / bad reply / the tracker's message, without its
# control characters) or, for udp-huge, ok; no tracker is asked more than
# BEP 15's schedule allows (no hammering); every daemon's memory, fds and
# CPU stay bounded and each exits 0 on unmount.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 9700
P=$IT_BASE
# (udp-huge's 2,000 dead peers make ~2,000 failed connects in the minute
# watched: hostile_lib.sh gives ASan daemons a smaller quarantine)

modes=(udp-wrong-tid udp-short udp-huge udp-error udp-garbage)
hostile_data "$T/src" $((2 << 20))
make_torrent "$T/src/t" 18 "$T/seed.torrent"

declare -A D CPU
k=0
for m in "${modes[@]}"; do
	k=$((k + 1))
	start_aria2_seeder 127.0.0.2 $((P + 30 + k)) "$T/seed.torrent" "$T/src"
	"$HOSTILE_PY" "$HOSTILE_DIR/hostile_tracker.py" "$m" --udp --listen 127.0.0.1:$((P + k)) \
		--log "$T/tracker-$((P + k)).jsonl" --peer 127.0.0.2:$((P + 30 + k)) \
		>"$LOGS/tracker-$((P + k))-$m.log" 2>&1 </dev/null &
	it_track $!
	make_torrent "$T/src/t" 18 "$T/$m.torrent" "udp://127.0.0.1:$((P + k))/announce"
done
for ((i = 0; i < 100; i++)); do
	n=$(cat "$LOGS"/tracker-*-udp-*.log 2>/dev/null | grep -c '^listening') || true
	[ "$n" = "${#modes[@]}" ] && break
	sleep 0.1
done
[ "$n" = "${#modes[@]}" ] || fail "the udp trackers did not start: $(cat "$LOGS"/tracker-*-udp-*.log)"
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

# want MODE: the status line of its tracker must match this (ERE)
declare -A WANT=(
	[udp-wrong-tid]='error: no reply'
	[udp-short]='error: announce reply of 12 bytes'
	[udp-huge]='ok, [0-9]+ peers'
	[udp-error]='error: tracker says: go away\?'
	[udp-garbage]='error: '
)
# udp-wrong-tid fails only after BEP 15's waits (15 s, then 30 s)
declare -A got
end=$((w0 + 60000))
while (($(now_ms) < end)); do
	left=0
	for m in "${modes[@]}"; do
		[ -n "${got[$m]:-}" ] && continue
		line=$(with_timeout 10 "$P2PFS" status "$T/mnt-$m" 2>&1 | grep -E '^  tracker ' || true)
		if echo "$line" | grep -qE "${WANT[$m]}"; then
			got[$m]=$line
			log "$m after $(($(now_ms) - w0)) ms: $line"
		else
			left=$((left + 1))
		fi
	done
	[ "$left" = 0 ] && break
	sleep 1
done
for m in "${modes[@]}"; do
	[ -n "${got[$m]:-}" ] || fail "$m: status says '$(with_timeout 10 "$P2PFS" status "$T/mnt-$m" 2>&1 | grep -E '^  tracker ')', wanted /${WANT[$m]}/"
done
LC_ALL=C grep -q $'\x1b' "$LOGS"/p2pfs-*.log && fail "an escape sequence reached a log"

k=0
for m in "${modes[@]}"; do
	k=$((k + 1))
	daemon_check "${D[$m]}" "$m" "${CPU[$m]}" "$w0" 50
	n=$(tracker_log $((P + k)) 'len(L)')
	log "$m: $n datagram(s) received"
	# connect + announce, each sent at most twice, per round; a failed
	# round is retried after 15 s, 30 s, ...: a handful in 60 s
	((n <= 12)) || fail "$m: the tracker got $n datagrams"
	((n >= 1)) || fail "$m: the tracker was never asked"
done
for m in "${modes[@]}"; do
	umount_p2pfs "$T/mnt-$m"
done
log PASS
