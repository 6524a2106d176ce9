# tests/integration/hostile_lib.sh — helpers for the hostile-world tests
# shellcheck shell=bash
# (test_hostile_*.sh), sourced after lib.sh.
#
# The scripted misbehaving peer is hostile_peer.py (its --list names every
# case), the scripted tracker hostile_tracker.py. Each test runs them beside
# an honest real client and checks what a user sees: the reader gets the
# right bytes in bounded time, the daemon stays up with bounded memory, file
# descriptors and CPU (daemon_watch/daemon_check), and the right peer is
# dropped (the scripted peer's own report of who closed the connection, and
# `user.p2pfs.peers`, what `p2pfs status` shows).
#
# Hostile peers bind 127.0.66.x (the fake peers they announce are 127.4.x.x
# and never listen): everything stays on loopback.

HOSTILE_PY=${HOSTILE_PY:-/usr/bin/python3}
HOSTILE_DIR=$IT_ROOT/tests/integration
IT_NHOSTILE=0

# Bounds of a daemon under attack. The ASan build keeps freed memory in
# quarantine and shadow memory, so its RSS is larger (the daemon peaks at
# 10-40 MiB in these tests, 35-85 MiB under ASan).
# A hostile case can make thousands of failed connects (a tracker or DHT
# node giving 2,000 dead peers): ASan's quarantine (256 MiB by default)
# would keep every freed buffer and be taken for a leak by the RSS bound,
# so the daemons of these tests get a 32 MiB one.
case $(basename "$P2PFS") in
*asan*)
	HOSTILE_RSS_MB=${HOSTILE_RSS_MB:-320}
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=32
	;;
*) HOSTILE_RSS_MB=${HOSTILE_RSS_MB:-128} ;;
esac
HOSTILE_FDS=${HOSTILE_FDS:-256}

# hostile_start CASE [hostile_peer.py options...]: the scripted peer in the
# background (--torrent and --report are the caller's to give or not: the
# report goes to $HOSTILE_REPORT). Sets LAST_PID, HOSTILE_PID, HOSTILE_LOG.
hostile_start() {
	local c=$1
	shift
	IT_NHOSTILE=$((IT_NHOSTILE + 1))
	HOSTILE_LOG=$LOGS/hostile-$IT_NHOSTILE-$c.log
	HOSTILE_REPORT=$T/hostile-$IT_NHOSTILE-$c.json
	log "hostile #$IT_NHOSTILE: $c $*"
	"$HOSTILE_PY" "$HOSTILE_DIR/hostile_peer.py" "$c" --report "$HOSTILE_REPORT" "$@" \
		>"$HOSTILE_LOG.out" 2>"$HOSTILE_LOG" </dev/null &
	it_track $!
	HOSTILE_PID=$!
}

# hostile_wait_handshake [SECS]: until the scripted peer logs a handshake
hostile_wait_handshake() {
	local secs=${1:-10} end
	end=$(($(now_ms) + secs * 1000))
	while (($(now_ms) < end)); do
		grep -q 'handshake from' "$HOSTILE_LOG" 2>/dev/null && return 0
		pid_alive "$HOSTILE_PID" || fail "the scripted peer exited before a handshake: $(tail -n 3 "$HOSTILE_LOG")"
		sleep 0.05
	done
	fail "no handshake between p2pfs and the scripted peer within ${secs}s"
}

# hostile_stop [SECS]: SIGTERM (it writes its report), wait; fails if no
# report came
hostile_stop() {
	local secs=${1:-10}
	kill -TERM "$HOSTILE_PID" 2>/dev/null || true
	wait_exit "$HOSTILE_PID" "$secs" || fail "the scripted peer ignored TERM"
	HOSTILE_RC=$(exit_status "$HOSTILE_PID")
	[ -s "$HOSTILE_REPORT" ] || fail "the scripted peer wrote no report (status $HOSTILE_RC): $(tail -n 5 "$HOSTILE_LOG")"
	log "hostile report: $(cat "$HOSTILE_REPORT")"
}

# hostile_end SECS: wait (bounded) for the scripted peer to end by itself;
# sets HOSTILE_RC
hostile_end() {
	wait_exit "$HOSTILE_PID" "$1" || fail "the scripted peer still running after ${1}s: $(tail -n 3 "$HOSTILE_LOG")"
	HOSTILE_RC=$(exit_status "$HOSTILE_PID")
	[ -s "$HOSTILE_REPORT" ] || fail "the scripted peer wrote no report (status $HOSTILE_RC): $(tail -n 5 "$HOSTILE_LOG")"
	log "hostile report (status $HOSTILE_RC): $(cat "$HOSTILE_REPORT")"
}

# ---- the scripted tracker ------------------------------------------------------------

# hostile_tracker MODE PORT [IP:PORT...]: hostile_tracker.py on
# 127.0.0.1:PORT (handing out the given peers where MODE gives any), its
# request log in $T/tracker-PORT.jsonl. Sets LAST_PID.
hostile_tracker() {
	local mode=$1 port=$2 a=()
	shift 2
	for p in "$@"; do a+=(--peer "$p"); done
	"$HOSTILE_PY" "$HOSTILE_DIR/hostile_tracker.py" "$mode" --listen 127.0.0.1:"$port" \
		--log "$T/tracker-$port.jsonl" "${a[@]}" >"$LOGS/tracker-$port-$mode.log" 2>&1 </dev/null &
	it_track $!
	wait_port 127.0.0.1 "$port" 10 || fail "the $mode tracker did not listen on $port: $(cat "$LOGS/tracker-$port-$mode.log")"
}

# tracker_log PORT EXPR: EXPR (python, over the list L of the request
# records) of a scripted tracker's log
tracker_log() {
	"$HOSTILE_PY" -c 'import json, sys; L = [json.loads(x) for x in open(sys.argv[1])]; print(eval(sys.argv[2]))' \
		"$T/tracker-$1.jsonl" "$2"
}

# hget KEY: a value of the last report (a python expression on r: r['x'])
hget() {
	"$HOSTILE_PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$HOSTILE_REPORT" "$1"
}

# ---- the daemon under attack ----------------------------------------------------

# daemon_watch PID: sample the daemon's VmRSS (kB), open fds and CPU ticks
# every 0.25 s into $T/watch-PID until it exits (bounded: 15 min); bash
# builtins only, so that watching ten daemons costs next to nothing
daemon_watch() {
	local pid=$1 f=$T/watch-$1
	: >"$f"
	(
		for ((i = 0; i < 3600; i++)); do
			pid_alive "$pid" || exit 0
			rss=0
			while read -r k v _; do
				[ "$k" = VmRSS: ] && { rss=$v; break; }
			done <"/proc/$pid/status" 2>/dev/null || exit 0
			fds=("/proc/$pid/fd/"*)
			read -r st <"/proc/$pid/stat" 2>/dev/null || exit 0
			st=${st##*) }
			read -r -a x <<<"$st"
			echo "$(now_ms) $rss ${#fds[@]} $((x[11] + x[12]))" >>"$f"
			sleep 0.25
		done
	) &
	it_track $!
}

# daemon_cpu PID: CPU ticks (user + system) used so far
daemon_cpu() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# daemon_check PID WHAT [CPU_T0 WALL_T0 MAX_CPU_PCT]: the daemon is alive,
# its peak RSS and fd count stayed under HOSTILE_RSS_MB / HOSTILE_FDS, and
# (when given) it used at most MAX_CPU_PCT of one CPU since CPU_T0 (ticks,
# from daemon_cpu) / WALL_T0 (now_ms)
daemon_check() {
	local pid=$1 what=$2 f=$T/watch-$1 rss nfd cpu pct
	pid_alive "$pid" || fail "$what: the daemon died (status $(exit_status "$pid"))"
	rss=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print int(m / 1024) }' "$f")
	nfd=$(awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { print m }' "$f")
	log "$what: daemon peak RSS $rss MiB (bound $HOSTILE_RSS_MB), peak fds $nfd (bound $HOSTILE_FDS)"
	[ "$rss" -le "$HOSTILE_RSS_MB" ] || fail "$what: daemon RSS reached $rss MiB"
	[ "$nfd" -le "$HOSTILE_FDS" ] || fail "$what: daemon had $nfd fds open"
	if [ $# -ge 5 ]; then
		cpu=$(daemon_cpu "$pid")
		pct=$(((cpu - $3) * 1000 * 100 / $(getconf CLK_TCK) / ($(now_ms) - $4 + 1)))
		log "$what: daemon CPU $pct% of one core (bound $5%)"
		[ "$pct" -le "$5" ] || fail "$what: daemon used $pct% CPU"
	fi
}

# ---- what the user sees ------------------------------------------------------------

# peers_of MNT: user.p2pfs.peers (what `p2pfs status` lists), one peer a
# line; empty when unreadable
peers_of() {
	with_timeout 10 "$IT_PY" -c 'import os, sys; sys.stdout.write(os.getxattr(sys.argv[1], "user.p2pfs.peers").decode())' "$1" 2>/dev/null || true
}

# wait_peer_listed MNT IP[:PORT] SECS: until `p2pfs status` lists that peer
wait_peer_listed() {
	local end
	end=$(($(now_ms) + $3 * 1000))
	while (($(now_ms) < end)); do
		peers_of "$1" | grep -q "^$2[: ]" && return 0
		sleep 0.2
	done
	return 1
}

# wait_peer_gone MNT IP SECS: until `p2pfs status` no longer lists it
wait_peer_gone() {
	local end
	end=$(($(now_ms) + $3 * 1000))
	while (($(now_ms) < end)); do
		peers_of "$1" | grep -q "^$2:" || return 0
		sleep 0.2
	done
	return 1
}

# timed_read MNTFILE SRCFILE SECS [OFF LEN]: read (a range of) the file
# through the mount, bounded by SECS, and compare it with the source; sets
# READ_MS. Fails on a timeout, an error or any wrong byte.
timed_read() {
	local mf=$1 sf=$2 secs=$3 off=${4:-0} len=${5:-} t0 rc=0 o
	o=$(mktemp "$T/read.XXXXXX") # several reads may run at once
	t0=$(now_ms)
	if [ -z "$len" ]; then
		with_timeout "$secs" cat "$mf" >"$o.out" 2>"$o.err" || rc=$?
		cp "$sf" "$o.exp"
	else
		with_timeout "$secs" dd if="$mf" of="$o.out" bs=64K iflag=skip_bytes,count_bytes \
			skip="$off" count="$len" status=none 2>"$o.err" || rc=$?
		dd if="$sf" of="$o.exp" bs=64K iflag=skip_bytes,count_bytes \
			skip="$off" count="$len" status=none
	fi
	READ_MS=$(($(now_ms) - t0))
	[ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "the read of $mf did not finish within ${secs}s"
	[ "$rc" = 0 ] || fail "the read of $mf failed (status $rc): $(head -c 300 "$o.err")"
	cmp -s "$o.out" "$o.exp" || fail "the read of $mf gave wrong bytes ($(cmp "$o.out" "$o.exp" 2>&1 | head -n 1))"
	rm -f "$o" "$o.out" "$o.exp" "$o.err"
	log "read ${len:-all of} $(basename "$mf") right in $READ_MS ms"
}

# ---- an honest python3-libtorrent seeder that connects out -------------------------

# lt_seed IP PORT TORRENT DATADIR PEER...: a libtorrent session seeding
# TORRENT from DATADIR (checked first), bound to IP:PORT, connecting to
# every PEER (IP:PORT) every 2 s, until it is stopped. Waits (30 s) until it
# seeds. Sets LAST_PID. DHT, LSD, UPnP, NAT-PMP and uTP off.
lt_seed() {
	local ip=$1 port=$2 torrent=$3 data=$4 i
	shift 4
	"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent for $IT_LT_PY"; exit 77; }
	cat >"$T/ltseed.py" <<'PYEOF'
import sys, time
import libtorrent as lt
ip, port, torrent, data = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
peers = [p.rsplit(':', 1) for p in sys.argv[5:]]
ses = lt.session({
    'listen_interfaces': '%s:%d' % (ip, port), 'outgoing_interfaces': ip,
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
    'enable_natpmp': False, 'dht_bootstrap_nodes': '',
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'alert_mask': 0})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = data
h = ses.add_torrent(atp)
said = False
t0 = time.time()
while time.time() - t0 < 600:
    st = h.status()
    if st.is_seeding and not said:
        print('seeding', flush=True)
        said = True
    if said:
        for pip, pport in peers:
            h.connect_peer((pip, int(pport)))
    time.sleep(2 if said else 0.1)
PYEOF
	"$IT_LT_PY" "$T/ltseed.py" "$ip" "$port" "$torrent" "$data" "$@" \
		>"$LOGS/ltseed-$ip.out" 2>&1 </dev/null &
	it_track $!
	local pid=$!
	for ((i = 0; i < 300; i++)); do
		grep -q '^seeding' "$LOGS/ltseed-$ip.out" && { log "libtorrent seeder $ip:$port seeding (pid $pid)"; LAST_PID=$pid; return 0; }
		pid_alive "$pid" || fail "libtorrent seeder died: $(tail -n 5 "$LOGS/ltseed-$ip.out")"
		sleep 0.1
	done
	fail "libtorrent seeder not seeding after 30 s"
}

# hostile_data DIR SIZE: the content of the hostile tests' torrents: a
# folder DIR/t holding a.bin (SIZE bytes, the one the tests read) and z.bin
# (1 MiB, never read: the mount never holds every piece, so it never drops
# an honest seeder for being a seed like itself, and a seeder missing from
# `p2pfs status` at the end was dropped for some other reason)
hostile_data() {
	gen_data "$1/t/a.bin" "$2"
	gen_data "$1/t/z.bin" $((1 << 20))
}
