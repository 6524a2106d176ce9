#!/bin/bash
# Daemons you can see and stop. `p2pfs seed` in the background prints its
# pid; `p2pfs ls` lists it and a mount of the same torrent (kind, port,
# name, path); `p2pfs status` takes the seed's data path or pid (and says
# a torrent that two processes share is ambiguous); `p2pfs stop PATH`
# stops the seed cleanly: it exits 0 and the tracker forgets it (it
# announced "stopped"); `p2pfs stop PID` too. A seed killed with -9 leaves
# a socket that `p2pfs ls` skips and removes. The channel folder is 0700,
# each socket 0600.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 11200
P=$IT_BASE

gen_data "$T/src/share/a.bin" $((2 << 20))
gen_data "$T/src/share/b.bin" $((1 << 20))
make_torrent "$T/src/share" 18 "$T/share.torrent" "$(tracker_url $P)"
ih=$(infohash "$T/share.torrent")
start_opentracker $P "$ih"

# a background seed: it prints its pid and the command exits 0
rc=0
with_timeout 30 "$P2PFS" seed --bind 127.0.0.2 --port $((P + 1)) --cache "$T/cache" \
	-v --log "$LOGS/seed1.log" "$T/share.torrent" "$T/src/share" \
	>"$LOGS/seed1.out" 2>"$LOGS/seed1.err" || rc=$?
[ "$rc" = 0 ] || fail "p2pfs seed exited $rc: $(cat "$LOGS/seed1.err")"
pid1=$(sed -n 's/^p2pfs: running in the background as pid \([0-9]*\) .*/\1/p' "$LOGS/seed1.out")
[ -n "$pid1" ] || fail "p2pfs seed printed no pid: $(cat "$LOGS/seed1.out")"
it_track "$pid1"
pid_alive "$pid1" || fail "the seed (pid $pid1) is not running"
log "background seed: pid $pid1"
wait_tracker_peers $P "$ih" 1

[ "$(stat -c %a "$XDG_RUNTIME_DIR/p2pfs")" = 700 ] || fail "channel folder mode $(stat -c %a "$XDG_RUNTIME_DIR/p2pfs")"
[ "$(stat -c %a "$XDG_RUNTIME_DIR/p2pfs/$pid1.sock")" = 600 ] || fail "socket mode"

mount_p2pfs "$T/share.torrent" "$T/mnt" --bind 127.0.0.5 --port $((P + 50)) --cache "$T/cache2"
mpid=$LAST_PID
[ "$(sha_of "$T/mnt/share/a.bin")" = "$(sha_of "$T/src/share/a.bin")" ] || fail "a.bin differs"

out=$(with_timeout 10 "$P2PFS" ls 2>&1) || fail "p2pfs ls failed: $out"
log "p2pfs ls:"$'\n'"$out"
grep -Eq "^PID +KIND +PORT +PEERS +DOWN +UP +NAME +PATH$" <<<"$out" || fail "ls: no header"
grep -Eq "^$pid1 +seed +$((P + 1)) +[0-9]+ +[0-9.]+ [KMG]?i?B/s +[0-9.]+ [KMG]?i?B/s +share +$T/src/share$" <<<"$out" ||
	fail "ls: no line for the seed"
grep -Eq "^$mpid +mount +$((P + 50)) +[0-9]+ .* share +$T/mnt$" <<<"$out" || fail "ls: no line for the mount"
[ "$(grep -c . <<<"$out")" = 3 ] || fail "ls: $(grep -c . <<<"$out") lines, want 3"

# status of the seed, by its data and by its pid
for ((i = 0; i < 50; i++)); do
	"$P2PFS" status "$pid1" 2>/dev/null | grep -q "^  tracker .*  ok" && break
	sleep 0.1
done
for what in "$T/src/share" "$pid1"; do
	out=$(with_timeout 10 "$P2PFS" status "$what" 2>&1) || fail "status $what failed: $out"
	grep -q "^seed       $T/src/share (pid $pid1, port $((P + 1)))$" <<<"$out" || fail "status $what: $out"
	grep -Eq "^pieces +12 of 12 \(100\.0%\)$" <<<"$out" || fail "status $what: pieces"
	grep -Eq "^  tracker +http://127\.0\.0\.1:$P/announce  ok" <<<"$out" || fail "status $what: tracker not ok"
done
log "p2pfs status $pid1:"$'\n'"$out"
rc=0; out=$("$P2PFS" status "$T/share.torrent" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "names 2 processes; give a pid" <<<"$out" || fail "status of a shared torrent: $rc $out"

# stop the seed by its data path: it announces "stopped" and exits 0
out=$(with_timeout 20 "$P2PFS" stop "$T/src/share" 2>&1) || fail "p2pfs stop failed: $out"
log "p2pfs stop: $out"
grep -q "^stopped pid $pid1 (seed of 'share', $T/src/share)$" <<<"$out" || fail "stop said: $out"
pid_alive "$pid1" && fail "the seed still runs after p2pfs stop"
for ((i = 0; i < 50; i++)); do
	read -r c l <<<"$(it_py scrape $P "$ih")"
	[ "$c" = 0 ] && break
	sleep 0.1
done
[ "$c" = 0 ] || fail "the tracker still counts $c seeders: no stopped announce"
grep -q "stopping on signal 15" "$LOGS/seed1.log" || fail "the seed's log has no clean stop"
[ -e "$XDG_RUNTIME_DIR/p2pfs/$pid1.sock" ] && fail "the stopped seed left its socket"

# by pid; and a killed one's socket is skipped and removed by ls
for n in 2 3; do
	with_timeout 30 "$P2PFS" seed --bind 127.0.0.$n --port $((P + n)) --cache "$T/cache" \
		--log "$LOGS/seed$n.log" "$T/share.torrent" "$T/src/share" \
		>"$LOGS/seed$n.out" 2>"$LOGS/seed$n.err" || fail "seed $n: $(cat "$LOGS/seed$n.err")"
	p=$(sed -n 's/^p2pfs: running in the background as pid \([0-9]*\) .*/\1/p' "$LOGS/seed$n.out")
	[ -n "$p" ] || fail "seed $n printed no pid"
	it_track "$p"
	eval "pid$n=$p"
done
out=$(with_timeout 20 "$P2PFS" stop "$pid2" 2>&1) || fail "p2pfs stop $pid2: $out"
pid_alive "$pid2" && fail "seed 2 still runs"
kill -KILL "$pid3"
wait_exit "$pid3" 5 || fail "seed 3 survived SIGKILL"
[ -S "$XDG_RUNTIME_DIR/p2pfs/$pid3.sock" ] || fail "the killed seed left no socket (the test needs one)"
out=$(with_timeout 10 "$P2PFS" ls 2>&1) || fail "p2pfs ls failed: $out"
grep -q "^$pid3 " <<<"$out" && fail "ls lists the killed seed"
[ -e "$XDG_RUNTIME_DIR/p2pfs/$pid3.sock" ] && fail "ls left the killed seed's socket"
rc=0; out=$("$P2PFS" stop "$pid3" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "no running p2pfs for '$pid3'" <<<"$out" || fail "stop of a dead pid: $rc $out"

# stopping the mount: unmounts, exits 0
out=$(with_timeout 20 "$P2PFS" stop "$T/mnt" 2>&1) || fail "p2pfs stop of the mount: $out"
is_mounted "$T/mnt" && fail "still mounted after p2pfs stop"
wait_exit "$mpid" 5 || fail "the mount's daemon still runs"
[ "$(exit_status "$mpid")" = 0 ] || fail "the mount's daemon did not exit 0"
unset "IT_MOUNT_PID[$T/mnt]"
out=$(with_timeout 10 "$P2PFS" ls 2>&1)
[ "$out" = "no p2pfs running" ] || fail "ls at the end: $out"
log PASS
