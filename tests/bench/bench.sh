#!/bin/bash
# make bench: how p2pfs compares with btfs (when installed) and with a plain
# aria2c download on a loopback swarm. A benchmark, never a test: it prints
# figures beside their targets and does not pass or fail on them.
#
# The swarm: opentracker on 127.0.0.1 and three aria2c seeders on 127.0.0.2-4
# serving a big file (1 GiB) and a 200-file tree with a short real video,
# each as a torrent with 256 KiB and one with 1 MiB pieces. Everything runs
# in a network namespace of its own that has nothing but `lo` (btfs turns on
# DHT, LSD, UPnP and NAT-PMP with public routers): this script creates it,
# re-runs itself inside it (nsenter --net only, so the FUSE mounts made
# there are visible from the host) and removes it on exit, also on Ctrl-C.
#
# Each figure is measured on BENCH_RUNS (default 3) cold runs: before each
# group of mounts `sync; echo 3 > /proc/sys/vm/drop_caches`, then the
# seeders' files are read once so they serve from memory; every mount gets a
# fresh p2pfs cache dir / btfs data dir. The table shows the median over the
# runs; the raw per-run numbers go to build/bench/results.txt and the logs
# of the last run to build/bench/logs/.
#
# Settings (environment):
#   BENCH_RUNS=3         cold runs per figure
#   BENCH_QUICK=1        small data (64 MiB big file, tiny tree), 1 run
#                        unless BENCH_RUNS is set: for developing this script
#   BENCH_PIECES="256k 1m"   piece sizes to measure
#   BENCH_BTFS=0         leave btfs out even when it is installed
#   BENCH_NREAD=20       random 64 KiB reads per run
#   BENCH_ONLY=enc       only the --encryption off/require rows
#   BENCH_SEQ_CAP=20     seconds a cold sequential read may take; a slower
#                        client is measured on the part it read by then
#   BENCH_TIMEOUT=1500   hard limit (s) for the whole bench
#   KEEP=1               keep the temp dir (as in tests/integration)
# Needs root (FUSE, netns, drop_caches) and the packages of .ci/deps.sh.

set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$ROOT/build/bench

# ---- outside: make the namespace, run the bench in it, clean up ----------

# (ns and rundir are globals: the EXIT trap runs after this function is gone)
bench_outer() {
	local c missing='' rc=0
	[ "$(id -u)" = 0 ] || { echo "bench: run as root (FUSE, netns, drop_caches)" >&2; exit 1; }
	for c in ip nsenter fusermount3 opentracker aria2c mktorrent ffmpeg ffprobe python3 ss timeout; do
		command -v "$c" >/dev/null || missing="$missing $c"
	done
	[ -e /dev/fuse ] || missing="$missing /dev/fuse"
	[ -z "$missing" ] || { echo "bench: missing:$missing (run: make deps)" >&2; exit 1; }
	[ -x "$ROOT/p2pfs" ] || { echo "bench: no $ROOT/p2pfs (run make)" >&2; exit 1; }

	ns=p2pfs-bench-$$
	rundir=$(mktemp -d /tmp/p2pfs-bench.XXXXXX)
	mkdir -p "$OUT"
	# shellcheck disable=SC2317  # called by the traps
	outer_cleanup() {
		local p m
		set +e
		trap - EXIT INT TERM HUP
		# whatever is still running in the namespace was started by us
		if [ -e "/run/netns/$ns" ]; then
			for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
			sleep 1
			for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		fi
		while read -r m; do
			fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		done < <(awk -v r="$rundir/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo)
		ip netns del "$ns" 2>/dev/null
		if [ -n "${KEEP:-}" ]; then
			echo "bench: kept $rundir" >&2
		else
			rm -rf --one-file-system "$rundir"
		fi
	}
	# Ctrl-C/TERM: TERM to the bench and to everything it runs in the
	# namespace (also the bounded steps in process groups of their own, so
	# a reader stuck on a FUSE mount dies and the bench's trap can run its
	# cleanup); timeout KILLs what is left of its group 20 s later
	# shellcheck disable=SC2317  # called by the traps
	outer_stop() {
		local p
		trap '' INT TERM
		echo "bench: stopping" >&2
		kill -TERM "$pid" 2>/dev/null
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
		wait "$pid" 2>/dev/null
		exit "$1"
	}
	trap outer_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP

	ip netns add "$ns"
	ip -n "$ns" link set lo up
	# nothing but lo in there: no route can leave this machine
	if [ "$(ip -n "$ns" -o link show | wc -l)" != 1 ]; then
		echo "bench: netns $ns has more than lo" >&2
		exit 1
	fi

	# timeout runs the bench in a process group of its own (and KILLs that
	# group after BENCH_TIMEOUT): a Ctrl-C here reaches it via outer_stop
	BENCH_INNER=1 TMPDIR=$rundir \
		timeout -k 20 "${BENCH_TIMEOUT:-1500}" \
		nsenter --net="/run/netns/$ns" env --default-signal=INT bash "${BASH_SOURCE[0]}" &
	pid=$!
	trap 'outer_stop 130' INT
	trap 'outer_stop 143' TERM
	wait "$pid" || rc=$?
	[ "$rc" = 124 ] && echo "bench: stopped after BENCH_TIMEOUT=${BENCH_TIMEOUT:-1500}s" >&2
	exit "$rc"
}

if [ "${BENCH_INNER:-}" != 1 ]; then
	bench_outer # exits
fi

# ---- inside the namespace ------------------------------------------------

# shellcheck source=tests/integration/lib.sh
. "$HERE/../integration/lib.sh"

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	RUNS=${BENCH_RUNS:-1}
	BIG_SIZE=$((64 * 1024 * 1024))
	TREE_MAXKIB=64
	VIDEO_SECS=3
else
	RUNS=${BENCH_RUNS:-3}
	BIG_SIZE=$((1024 * 1024 * 1024))
	TREE_MAXKIB=256
	VIDEO_SECS=10
fi
PIECES=${BENCH_PIECES:-256k 1m}
NREAD=${BENCH_NREAD:-20}
ONLY=${BENCH_ONLY:-} # enc: only the --encryption rows (m_enc)
NTREE=200          # files in the tree, the video included
TRK=6969
P2PFS_IP=127.0.0.5 # the seeders are .2-.4, the aria2c leecher .6; btfs
ARIA_IP=127.0.0.6  # binds all of lo and connects from 127.0.0.1
RES=$OUT/results.txt
PT=${BENCH_PASSTHROUGH:-$ROOT/build/bench/fuse_passthrough}
NOTES=()           # anything odd seen on the way, printed at the end
P2PFS_EXTRA=()     # more `p2pfs mount` options for the next bmount
NMOUNT=0

BTFS=0
if [ "${BENCH_BTFS:-1}" != 0 ] && command -v btfs >/dev/null; then BTFS=1; fi
CLIENTS=(p2pfs)
[ "$BTFS" = 1 ] && CLIENTS+=(btfs)

exec 8>&1 9>&2 # the bench's stdout/stderr, for bench_exit
it_setup 6969
# keep the last run's daemon logs (bounded) before lib.sh removes $T
bench_exit() {
	local rc=$? f
	set +e
	# a signal's trap runs inside the interrupted step, with its
	# redirections: talk to the real stdout/stderr again
	exec 1>&8 2>&9
	[ "$rc" = 0 ] || log "stopping (status $rc), cleaning up"
	rm -rf "$OUT/logs"
	mkdir -p "$OUT/logs"
	for f in "$LOGS"/*; do
		[ -f "$f" ] && tail -c 1000000 "$f" >"$OUT/logs/${f##*/}"
	done
	# stopped by a signal: the logs are in $OUT/logs, don't print their tails
	case $rc in 129 | 130 | 143) LOGS= ;; esac
	(exit "$rc")
	it_cleanup
}
trap bench_exit EXIT

note() { NOTES+=("$*"); log "NOTE: $*"; }
# rec RUN PIECES CLIENT KEY VALUE: one raw line
rec() { echo "$*" >>"$RES"; }
untrack() {
	local p keep=()
	for p in "${IT_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	IT_PIDS=("${keep[@]}")
}
# mbps BYTES MS
mbps() { awk -v b="$1" -v ms="$2" 'BEGIN { printf "%.1f", (ms > 0 ? b / 1e6 / (ms / 1000) : 0) }'; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }'; }

# cold_prep FILE...: drop the page cache, then read FILE... once so the
# seeders (hard links of the same inodes) serve them from memory, and load
# ffprobe and its libraries once, so "cold ffprobe" times the reads
# through the mount, not ffprobe coming back from disk (locally it takes
# 0.06 s warm)
cold_prep() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	with_timeout 120 find "$@" -type f -exec cat {} + >/dev/null
	ffprobe -version >/dev/null 2>&1 || true
}

# ---- data, torrents, swarm -------------------------------------------------

make_data() {
	local i d sz
	S=$T/src
	mkdir -p "$S/b" "$S/t/tree/video"
	log "generating $((BIG_SIZE >> 20)) MiB big file and a $NTREE-file tree"
	gen_data "$S/b/big.bin" "$BIG_SIZE"
	# the video: moov at the end (ffmpeg's mp4 default without +faststart)
	with_timeout 120 ffmpeg -nostdin -hide_banner -loglevel error \
		-f lavfi -i "testsrc=duration=$VIDEO_SECS:size=640x360:rate=25" \
		-f lavfi -i "sine=frequency=440:duration=$VIDEO_SECS" \
		-c:v libx264 -preset ultrafast -b:v 2M -pix_fmt yuv420p -c:a aac -shortest \
		-y "$S/t/tree/video/clip.mp4" >"$LOGS/ffmpeg.log" 2>&1 ||
		fail "ffmpeg could not make the video: $(tail -n 3 "$LOGS/ffmpeg.log")"
	VIDEO=tree/video/clip.mp4
	RANDOM=4242 # the same sizes every time
	for ((i = 1; i < NTREE; i++)); do
		d=$S/t/tree/d$((i % 10))
		sz=$(((RANDOM % TREE_MAXKIB + 1) * 1024 + RANDOM % 1000))
		((i % 25 == 0)) && sz=$((sz * 8))
		gen_data "$d/f$i.bin" "$sz"
	done
	TREE_BYTES=$(du -sb "$S/t/tree" | cut -f1)
	log "tree: $(find "$S/t/tree" -type f | wc -l) files, $TREE_BYTES bytes, video $(stat -c %s "$S/t/$VIDEO") bytes"
}

# torrent name: big-256k.torrent, tree-1m.torrent, ...; SEED1: the
# IP:PORT of one seeder of each
declare -A TOR=() SEED1=()
make_torrents() {
	local pc l hashes=()
	for pc in $PIECES; do
		case $pc in
		256k) l=18 ;; 1m) l=20 ;; 512k) l=19 ;; 2m) l=21 ;; 4m) l=22 ;;
		*) fail "BENCH_PIECES: unknown piece size $pc (256k 512k 1m 2m 4m)" ;;
		esac
		TOR[big-$pc]=$T/big-$pc.torrent
		make_torrent "$S/b/big.bin" "$l" "${TOR[big-$pc]}" "$(tracker_url $TRK)"
		TOR[tree-$pc]=$T/tree-$pc.torrent
		make_torrent "$S/t/tree" "$l" "${TOR[tree-$pc]}" "$(tracker_url $TRK)"
		hashes+=("$(infohash "${TOR[big-$pc]}")" "$(infohash "${TOR[tree-$pc]}")")
	done
	start_opentracker $TRK "${hashes[@]}"
}

# 3 seeders x each torrent, each an aria2c of its own on its own port (one
# aria2c refuses two torrents on one path); start_aria2_seeder gives each a
# hard-linked copy: all serve the same inodes
start_seeders() {
	local k=0 t ip ih
	for ip in 127.0.0.2 127.0.0.3 127.0.0.4; do
		for t in "${!TOR[@]}"; do
			k=$((k + 1))
			start_aria2_seeder "$ip" $((7000 + k)) "${TOR[$t]}" "$S/${t:0:1}"
			[ -n "${SEED1[$t]:-}" ] || SEED1[$t]=$ip:$((7000 + k))
		done
	done
	for t in "${!TOR[@]}"; do
		ih=$(infohash "${TOR[$t]}")
		wait_tracker_peers $TRK "$ih" 3 0 30
	done
}

# ---- mounting ---------------------------------------------------------------

# bmount CLIENT TORRENT MNT CACHE: start CLIENT in the foreground in the
# background (own port, CACHE as cache/data dir), wait up to 20 s for the
# mount. Sets BPID, BLOG and B_T0 (ms, just before the start). Returns 1
# (with a note) if it did not mount.
bmount() {
	local client=$1 tor=$2 mnt=$3 cdir=$4 end
	NMOUNT=$((NMOUNT + 1))
	mkdir -p "$mnt"
	BLOG=$LOGS/$client-$NMOUNT.log
	B_T0=$(now_ms)
	case $client in
	p2pfs)
		"$P2PFS" mount -f --log "$BLOG" --cache "$cdir" --bind $P2PFS_IP \
			--port $((6100 + NMOUNT)) "${P2PFS_EXTRA[@]}" "$tor" "$mnt" \
			>"$BLOG.out" 2>&1 </dev/null &
		;;
	btfs)
		btfs -f --data-directory="$cdir" --min-port=$((6500 + NMOUNT)) \
			--max-port=$((6500 + NMOUNT)) "$tor" "$mnt" >"$BLOG" 2>&1 </dev/null &
		;;
	esac
	BPID=$!
	it_track "$BPID"
	IT_MOUNTS+=("$mnt")
	end=$((B_T0 + 20000))
	while (($(now_ms) < end)); do
		is_mounted "$mnt" && return 0
		if ! pid_alive "$BPID"; then
			note "$client exited (status $(exit_status "$BPID")) before mounting $(basename "$tor") (log ${BLOG##*/})"
			untrack "$BPID"
			return 1
		fi
		sleep 0.005
	done
	note "$client did not mount $(basename "$tor") within 20 s (log ${BLOG##*/})"
	bumount "$client" "$mnt"
	return 1
}

# bumount CLIENT MNT: unmount (lazily if busy), wait 10 s for the daemon,
# then TERM/KILL; notes a p2pfs that does not exit 0 by itself
bumount() {
	local client=$1 mnt=$2 rc
	if is_mounted "$mnt"; then
		with_timeout 10 fusermount3 -u "$mnt" 2>/dev/null ||
			with_timeout 10 fusermount3 -u -z "$mnt" 2>/dev/null ||
			note "could not unmount $mnt"
	fi
	if wait_exit "$BPID" 10; then
		rc=$(exit_status "$BPID")
		[ "$client" != p2pfs ] || [ "$rc" = 0 ] ||
			note "p2pfs exited with status $rc after unmount (log ${BLOG##*/})"
		# p2pfs logs to --log: anything on its stderr is worth a look
		[ "$client" != p2pfs ] || [ ! -s "$BLOG.out" ] ||
			note "p2pfs said on stderr: $(head -c 300 "$BLOG.out" | tr '\n' ' ') (${BLOG##*/}.out)"
	else
		[ "$client" = p2pfs ] && note "p2pfs still running 10 s after unmount: killed (log ${BLOG##*/})"
		stop_pid "$BPID" 5
	fi
	untrack "$BPID"
}

# daemon_cpu PID: utime+stime in seconds (all threads)
daemon_cpu() {
	local st f
	read -r st <"/proc/$1/stat"
	st=${st##*) }
	read -ra f <<<"$st"
	awk -v u="${f[11]}" -v s="${f[12]}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (u + s) / hz }'
}
daemon_rss_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# RssAnon: the resident heap, without mapped files (libtorrent 2, under
# btfs, maps its storage files: those pages count in VmHWM)
daemon_anon_mib() { awk '/^RssAnon:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# wait_file PATH SECS: until PATH exists (btfs shows its tree a moment
# after the mount)
wait_file() {
	local end=$(($(now_ms) + $2 * 1000))
	while (($(now_ms) < end)); do
		[ -e "$1" ] && return 0
		sleep 0.005
	done
	return 1
}

# timed_read FILE: read it whole (bounded); prints ms, returns 1 on error
timed_read() {
	local t0
	t0=$(now_ms)
	with_timeout "$READ_TIMEOUT" dd if="$1" of=/dev/null bs=1M status=none || return 1
	echo $(($(now_ms) - t0))
}

# ---- the measurements -------------------------------------------------------
# Each takes RUN PIECES CLIENT and records its figures with rec; a figure
# that could not be measured is recorded as a word (failed, timeout).

# fresh mount of the big torrent: mount -> first 64 KiB, then NREAD random
# 64 KiB reads right away
m_latency() {
	local run=$1 pc=$2 cl=$3
	local mnt=$T/mnt-$cl c=$T/cache-$cl-$NMOUNT t r
	bmount "$cl" "${TOR[big-$pc]}" "$mnt" "$c" || { rec "$run $pc $cl first failed"; return 0; }
	if wait_file "$mnt/big.bin" 30 &&
		with_timeout 60 dd if="$mnt/big.bin" of=/dev/null bs=64K count=1 status=none; then
		rec "$run $pc $cl first $(($(now_ms) - B_T0))"
	else
		rec "$run $pc $cl first failed"
		note "$cl: no first 64 KiB within 60 s ($pc, run $run)"
		bumount "$cl" "$mnt"
		rm -rf "$c"
		return 0
	fi
	r=0
	with_timeout 120 "$IT_PY" "$HERE/bench.py" randreads "$mnt/big.bin" "$S/b/big.bin" \
		"$NREAD" $((1000 + run)) 65536 >"$T/rand.out" 2>"$T/rand.err" || r=$?
	while read -r t; do rec "$run $pc $cl rand $t"; done <"$T/rand.out"
	case $r in
	0) ;;
	3) note "$cl returned wrong bytes on random reads ($pc, run $run): $(head -n 3 "$T/rand.err" | tr '\n' ' ')" ;;
	124 | 137) rec "$run $pc $cl rand timeout"; note "$cl: random reads timed out ($pc, run $run)" ;;
	*) rec "$run $pc $cl rand failed"; note "$cl: random reads failed ($pc, run $run): $(tail -n 2 "$T/rand.err" | tr '\n' ' ')" ;;
	esac
	bumount "$cl" "$mnt"
	rm -rf "$c"
}

# fresh mount of the big torrent: sequential read of the file (at most
# SEQ_CAP seconds: btfs reads 1 GiB in minutes here), then the daemon's CPU
# time (per GiB it fetched: the allocated size of its sparse cache/data
# dir) and peak RSS; for p2pfs also the warm re-reads
m_seq() {
	local run=$1 pc=$2 cl=$3
	local mnt=$T/mnt-$cl c=$T/cache-$cl-$NMOUNT ms cpu got secs fetched
	bmount "$cl" "${TOR[big-$pc]}" "$mnt" "$c" || { rec "$run $pc $cl seq failed"; return 0; }
	wait_file "$mnt/big.bin" 30 || true
	if read -r got secs < <(with_timeout $((SEQ_CAP + 30)) "$IT_PY" "$HERE/bench.py" 		seqread "$mnt/big.bin" "$SEQ_CAP" 2>>"$LOGS/seqread.err") && [ "${got:-0}" -gt 0 ]; then
		rec "$run $pc $cl seq $(awk -v b="$got" -v s="$secs" 'BEGIN { printf "%.1f", b / 1e6 / s }')"
		rec "$run $pc $cl seq_whole $(awk -v b="$got" -v n="$BIG_SIZE" 'BEGIN { printf "%.3f", b / n }')"
		[ "$got" -ge "$BIG_SIZE" ] ||
			note "$cl: sequential read capped at ${SEQ_CAP}s after $((got >> 20)) MiB ($pc, run $run)"
		cpu=$(daemon_cpu "$BPID")
		fetched=$(du -sB1 "$c" | cut -f1)
		[ "$fetched" -gt "$got" ] || fetched=$got
		rec "$run $pc $cl cpu $cpu"
		rec "$run $pc $cl fetched $fetched"
		rec "$run $pc $cl cpu_gib $(awk -v c="$cpu" -v b="$fetched" 'BEGIN { printf "%.2f", c * 1073741824 / b }')"
		if [ "$cl" = p2pfs ] && [ "$got" -ge "$BIG_SIZE" ] && ms=$(timed_read "$mnt/big.bin"); then
			rec "$run $pc $cl warm_same $(mbps "$BIG_SIZE" "$ms")"
		fi
	else
		rec "$run $pc $cl seq failed"
		note "$cl: sequential read of the big file failed ($pc, run $run; see seqread.err)"
	fi
	rec "$run $pc $cl rss $(daemon_rss_mib "$BPID")"
	rec "$run $pc $cl rss_anon $(daemon_anon_mib "$BPID")"
	bumount "$cl" "$mnt"
	# p2pfs: a fresh mount on the now complete cache: the read is answered
	# from the cache fd, spliced. Its data file is prepared as the
	# passthrough's file is (m_passthrough): written back (so the kernel's
	# writeback does not run under the timed read), then read once
	if [ "$cl" = p2pfs ] && [ "${got:-0}" -ge "$BIG_SIZE" ]; then
		sync
		with_timeout 60 cat "$c"/*/data >/dev/null || true
		if bmount "$cl" "${TOR[big-$pc]}" "$mnt" "$c"; then
			if ms=$(timed_read "$mnt/big.bin"); then
				rec "$run $pc $cl warm_remount $(mbps "$BIG_SIZE" "$ms")"
			else
				rec "$run $pc $cl warm_remount failed"
			fi
			bumount "$cl" "$mnt"
		fi
	fi
	rm -rf "$c"
}

# fresh mount of the tree torrent: mount -> ls -lR showing all the files
m_ls() {
	local run=$1 pc=$2 cl=$3
	local mnt=$T/mnt-$cl c=$T/cache-$cl-$NMOUNT i n=0
	bmount "$cl" "${TOR[tree-$pc]}" "$mnt" "$c" || { rec "$run $pc $cl ls failed"; return 0; }
	for ((i = 0; i < 3000; i++)); do
		n=$(with_timeout 30 ls -lR "$mnt" 2>/dev/null | grep -c '^-') || true
		[ "$n" -ge "$NTREE" ] && break
		sleep 0.01
	done
	if [ "$n" -ge "$NTREE" ]; then
		rec "$run $pc $cl ls $(($(now_ms) - B_T0))"
	else
		rec "$run $pc $cl ls failed"
		note "$cl: ls -lR shows $n of $NTREE files ($pc, run $run)"
	fi
	bumount "$cl" "$mnt"
	rm -rf "$c"
}

# fresh mount of the tree torrent: ffprobe of the video, cold
m_ffprobe() {
	local run=$1 pc=$2 cl=$3
	local mnt=$T/mnt-$cl c=$T/cache-$cl-$NMOUNT t0
	bmount "$cl" "${TOR[tree-$pc]}" "$mnt" "$c" || { rec "$run $pc $cl ffprobe failed"; return 0; }
	wait_file "$mnt/$VIDEO" 30 || true
	t0=$(now_ms)
	if with_timeout 60 ffprobe -v error -show_format -show_streams "$mnt/$VIDEO" >"$T/ffprobe.out" 2>&1 &&
		grep -q codec_name=h264 "$T/ffprobe.out"; then
		rec "$run $pc $cl ffprobe $(secs $(($(now_ms) - t0)))"
	else
		rec "$run $pc $cl ffprobe failed"
		note "$cl: ffprobe failed ($pc, run $run): $(tail -n 2 "$T/ffprobe.out" | tr '\n' ' ')"
	fi
	bumount "$cl" "$mnt"
	rm -rf "$c"
}

# fresh mount of the tree torrent: read every file once (find order)
m_readall() {
	local run=$1 pc=$2 cl=$3
	local mnt=$T/mnt-$cl c=$T/cache-$cl-$NMOUNT t0
	bmount "$cl" "${TOR[tree-$pc]}" "$mnt" "$c" || { rec "$run $pc $cl readall failed"; return 0; }
	wait_file "$mnt/$VIDEO" 30 || true
	t0=$(now_ms)
	if (cd "$mnt" && with_timeout "$READ_TIMEOUT" find tree -type f -exec cat {} + >/dev/null); then
		rec "$run $pc $cl readall $(secs $(($(now_ms) - t0)))"
	else
		rec "$run $pc $cl readall failed"
		note "$cl: reading all tree files failed or timed out ($pc, run $run)"
	fi
	bumount "$cl" "$mnt"
	rm -rf "$c"
}

# how long an aria2c seeder takes to answer a BitTorrent handshake: the
# floor under every "mount -> first byte" figure in this swarm (aria2c
# answers on its event loop's next turn, some 100s of ms later)
m_handshake() {
	local run=$1 pc=$2 t
	while read -r t; do
		rec "$run $pc ref handshake $t"
	done < <(with_timeout 60 "$IT_PY" "$HERE/bench.py" handshake "${SEED1[big-$pc]%:*}" \
		"${SEED1[big-$pc]#*:}" "$(infohash "${TOR[big-$pc]}")" 3 2>>"$LOGS/handshake.err")
}

# plain aria2c download of the big torrent from the same seeders
m_aria2c() {
	local run=$1 pc=$2 d=$T/aria2c-dl t0 pid
	rm -rf "$d"
	t0=$(now_ms)
	start_aria2_leecher $ARIA_IP 6901 "${TOR[big-$pc]}" "$d"
	pid=$LAST_PID
	if wait_exit "$pid" "$READ_TIMEOUT" && [ "$(exit_status "$pid")" = 0 ]; then
		rec "$run $pc ref aria2c $(mbps "$BIG_SIZE" $(($(now_ms) - t0)))"
	else
		stop_aria2 "$pid"
		rec "$run $pc ref aria2c failed"
		note "aria2c download failed or timed out ($pc, run $run)"
	fi
	untrack "$pid"
	rm -rf "$d"
}

# warm local read of the big file (the same bytes p2pfs re-reads warm)
m_local() {
	local run=$1 ms
	with_timeout 60 cat "$S/b/big.bin" >/dev/null
	ms=$(timed_read "$S/b/big.bin") && rec "$run - ref local $(mbps "$BIG_SIZE" "$ms")"
}

# the same bytes through the bench's minimal FUSE passthrough (fresh mount,
# source in the page cache): the FUSE ceiling for the warm re-read
m_passthrough() {
	local run=$1 mnt=$T/mnt-pt pid ms i
	[ -x "$PT" ] || return 0
	mkdir -p "$mnt"
	with_timeout 60 cat "$S/b/big.bin" >/dev/null
	"$PT" "$S/b" "$mnt" >"$LOGS/passthrough.log" 2>&1 </dev/null &
	pid=$!
	it_track "$pid"
	IT_MOUNTS+=("$mnt")
	for ((i = 0; i < 400; i++)); do
		is_mounted "$mnt" && break
		sleep 0.025
	done
	if is_mounted "$mnt" && ms=$(timed_read "$mnt/big.bin"); then
		rec "$run - ref passthrough $(mbps "$BIG_SIZE" "$ms")"
	else
		rec "$run - ref passthrough failed"
		note "the FUSE passthrough reference failed (log passthrough.log)"
	fi
	is_mounted "$mnt" && fusermount3 -u -z "$mnt"
	wait_exit "$pid" 5 || stop_pid "$pid"
	untrack "$pid"
}

# With one python3-libtorrent seeder as the only peer (--no-trackers
# --peer): p2pfs's mount -> first 64 KiB and cold ffprobe without aria2c's
# handshake delay (m_handshake) under them. Reference rows, p2pfs only.
m_lt() {
	local run=$1 pc=$2 mnt=$T/mnt-lt c t0
	P2PFS_EXTRA=(--no-trackers --peer "$LT_PEER")
	c=$T/cache-lt-$NMOUNT
	if bmount p2pfs "${TOR[big-$pc]}" "$mnt" "$c" && wait_file "$mnt/big.bin" 30 &&
		with_timeout 60 dd if="$mnt/big.bin" of=/dev/null bs=64K count=1 status=none; then
		rec "$run $pc ref lt_first $(($(now_ms) - B_T0))"
	else
		rec "$run $pc ref lt_first failed"
		note "libtorrent seeder: no first 64 KiB ($pc, run $run)"
	fi
	bumount p2pfs "$mnt"
	rm -rf "$c"
	c=$T/cache-lt-$NMOUNT
	if bmount p2pfs "${TOR[tree-$pc]}" "$mnt" "$c" && wait_file "$mnt/$VIDEO" 30 &&
		t0=$(now_ms) &&
		with_timeout 60 ffprobe -v error -show_format -show_streams "$mnt/$VIDEO" >"$T/ffprobe.out" 2>&1 &&
		grep -q codec_name=h264 "$T/ffprobe.out"; then
		rec "$run $pc ref lt_ffprobe $(secs $(($(now_ms) - t0)))"
	else
		rec "$run $pc ref lt_ffprobe failed"
		note "libtorrent seeder: ffprobe failed ($pc, run $run)"
	fi
	bumount p2pfs "$mnt"
	rm -rf "$c"
	P2PFS_EXTRA=()
}

# --encryption require (MSE, RC4 both ways) beside off (plain BitTorrent),
# same swarm, same run: a fresh mount's cold sequential read of the big
# file and the daemon's CPU per GiB fetched (the aria2c seeders accept
# both; offered RC4 only, they select it). Reference rows, p2pfs only.
m_enc() {
	local run=$1 pc=$2 pol mnt=$T/mnt-enc c got secs cpu fetched
	for pol in off require; do
		cold_prep "$S/b/big.bin"
		c=$T/cache-enc-$NMOUNT
		P2PFS_EXTRA=(-v --encryption "$pol")
		if bmount p2pfs "${TOR[big-$pc]}" "$mnt" "$c" && wait_file "$mnt/big.bin" 30 &&
			read -r got secs < <(with_timeout $((SEQ_CAP + 30)) "$IT_PY" "$HERE/bench.py" \
				seqread "$mnt/big.bin" "$SEQ_CAP" 2>>"$LOGS/seqread.err") && [ "${got:-0}" -gt 0 ]; then
			cpu=$(daemon_cpu "$BPID")
			fetched=$(du -sB1 "$c" | cut -f1)
			[ "$fetched" -gt "$got" ] || fetched=$got
			rec "$run $pc ref enc_seq_$pol $(awk -v b="$got" -v s="$secs" 'BEGIN { printf "%.1f", b / 1e6 / s }')"
			rec "$run $pc ref enc_cpu_gib_$pol $(awk -v c="$cpu" -v b="$fetched" 'BEGIN { printf "%.2f", c * 1073741824 / b }')"
			[ "$got" -ge "$BIG_SIZE" ] ||
				note "--encryption $pol: sequential read capped at ${SEQ_CAP}s after $((got >> 20)) MiB ($pc, run $run)"
			if [ "$pol" = require ] && ! grep -q '(encrypted)' "$BLOG"; then
				note "--encryption require: no encrypted connection in ${BLOG##*/}"
			fi
		else
			rec "$run $pc ref enc_seq_$pol failed"
			note "--encryption $pol: sequential read of the big file failed ($pc, run $run)"
		fi
		bumount p2pfs "$mnt"
		rm -rf "$c"
		P2PFS_EXTRA=()
	done
}

# A bare magnet link of the big file (no tr=, no x.pe=) whose only seeder is
# a python3-libtorrent session found through the DHT: two libtorrent DHT
# nodes and that seeder (tests/integration/lt_dht_swarm.py), p2pfs with
# --no-trackers and --dht-bootstrap to one of the nodes, a fresh cache (so
# no saved metadata and no saved DHT nodes). From the mount's log: mount ->
# the first peer connected, -> the metadata verified; then mount -> the
# first 64 KiB. Reference rows, p2pfs only.
# log_ms LOG PATTERN: the wall-clock ms of the first log line matching
log_ms() {
	local l
	l=$(grep -m1 -- "$2" "$1") || return 1
	date -d "${l:0:23}" +%s%3N 2>/dev/null
}
m_magnet() {
	local run=$1 pc=$2 mnt=$T/mnt-mag c t_peer t_meta
	P2PFS_EXTRA=(--no-trackers --dht-bootstrap "$MAG_BOOT" --metadata-timeout 20 -v)
	c=$T/cache-mag-$NMOUNT
	if bmount p2pfs "${MAG[$pc]}" "$mnt" "$c" && wait_file "$mnt/big.bin" 30 &&
		with_timeout 60 dd if="$mnt/big.bin" of=/dev/null bs=64K count=1 status=none; then
		rec "$run $pc ref mag_first $(($(now_ms) - B_T0))"
		if t_meta=$(log_ms "$BLOG" "magnet: metadata of ") &&
			t_peer=$(log_ms "$BLOG" "peer: connected to "); then
			rec "$run $pc ref mag_meta $((t_meta - B_T0))"
			rec "$run $pc ref mag_peer_meta $((t_meta - t_peer))"
			rec "$run $pc ref mag_peer $((t_peer - B_T0))"
		else
			rec "$run $pc ref mag_meta failed"
			note "magnet via the DHT: no metadata or peer line in ${BLOG##*/} ($pc, run $run)"
		fi
		grep -q "first peer from the DHT" "$BLOG" ||
			note "magnet via the DHT: the seeder was not found through the DHT ($pc, run $run; ${BLOG##*/})"
	else
		rec "$run $pc ref mag_first failed"
		note "magnet via the DHT: no mount or no first 64 KiB ($pc, run $run; ${BLOG##*/})"
	fi
	bumount p2pfs "$mnt"
	rm -rf "$c"
	P2PFS_EXTRA=()
}

# ---- main ---------------------------------------------------------------------

READ_TIMEOUT=$((BIG_SIZE >> 23 > 60 ? BIG_SIZE >> 23 : 60)) # 128 s per GiB, >= 60
SEQ_CAP=${BENCH_SEQ_CAP:-20}
mkdir -p "$OUT"
{
	echo "# p2pfs bench $(date -u +%FT%TZ), $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
	echo "# runs $RUNS, pieces $PIECES, big file $BIG_SIZE bytes, $NREAD random reads/run, clients ${CLIENTS[*]}"
	echo "# RUN PIECES CLIENT FIGURE VALUE: first, ls, rand (one line per read) in ms;"
	echo "# seq, warm_*, aria2c, local, passthrough in MB/s; handshake, mag_* (a magnet through the DHT) in ms; ffprobe, readall, cpu, cpu_gib in s;"
	echo "# rss (VmHWM), rss_anon in MiB; fetched in bytes; seq_whole = part of the file read"
	echo "# before BENCH_SEQ_CAP. A word instead of a number: that figure failed."
} >"$RES"

t_start=$(now_ms)
make_data
make_torrents
start_seeders
log "swarm up in $(secs $(($(now_ms) - t_start))) s"

for ((run = 1; run <= RUNS; run++)); do
	for pc in $PIECES; do
		if [ "$ONLY" = enc ]; then
			log "run $run/$RUNS, $pc pieces, p2pfs --encryption off / require"
			m_enc "$run" "$pc"
			continue
		fi
		for cl in "${CLIENTS[@]}"; do
			log "run $run/$RUNS, $pc pieces, $cl"
			cold_prep "$S/b/big.bin"
			m_latency "$run" "$pc" "$cl"
			cold_prep "$S/b/big.bin"
			m_seq "$run" "$pc" "$cl"
			cold_prep "$S/t/tree"
			m_ls "$run" "$pc" "$cl"
			m_ffprobe "$run" "$pc" "$cl"
			m_readall "$run" "$pc" "$cl"
		done
		log "run $run/$RUNS, $pc pieces, aria2c download"
		cold_prep "$S/b/big.bin"
		m_aria2c "$run" "$pc"
		m_handshake "$run" "$pc"
		log "run $run/$RUNS, $pc pieces, p2pfs --encryption off / require"
		m_enc "$run" "$pc"
	done
	[ "$ONLY" = enc ] && continue
	m_local "$run"
	m_passthrough "$run"
done

# after every other figure: this seeder is not in the tracker's swarm, but
# it must not share the link with the runs above either
if [ "$ONLY" = enc ]; then
	: # BENCH_ONLY=enc: the encryption rows only
elif "$IT_LT_PY" -c 'import libtorrent' 2>/dev/null; then
	lt_args=()
	for t in "${!TOR[@]}"; do lt_args+=("${TOR[$t]}" "$S/${t:0:1}"); done
	LT_PEER=127.0.0.7:7200
	"$IT_LT_PY" "$HERE/ltseed.py" 127.0.0.7 7200 "${lt_args[@]}" \
		>"$LOGS/ltseed.out" 2>&1 </dev/null &
	it_track $!
	lt_pid=$!
	for ((i = 0; i < 1200; i++)); do
		grep -q ready "$LOGS/ltseed.out" 2>/dev/null && break
		pid_alive "$lt_pid" || break
		sleep 0.1
	done
	if grep -qx ready "$LOGS/ltseed.out" 2>/dev/null; then
		for ((run = 1; run <= RUNS; run++)); do
			for pc in $PIECES; do
				log "run $run/$RUNS, $pc pieces, p2pfs with a libtorrent seeder"
				cold_prep "$S/b/big.bin" "$S/t/tree"
				m_lt "$run" "$pc"
			done
		done
	else
		note "the libtorrent seeder did not start: $(tail -n 2 "$LOGS/ltseed.out" | tr '\n' ' ')"
	fi
	stop_pid "$lt_pid"
	untrack "$lt_pid"
else
	note "no python3-libtorrent for $IT_LT_PY: the libtorrent-seeder rows are left out"
fi

# a magnet link through the DHT: trackerless torrents of the big file (the
# same info-hashes as big-*.torrent: the trackers are outside the info
# dict), seeded by a libtorrent session that only the DHT knows of
if [ "$ONLY" != enc ] && "$IT_LT_PY" -c 'import libtorrent' 2>/dev/null; then
	declare -A MAG=()
	MAG_BOOT=127.0.0.11:7300
	mag_tors='' mag_ihs=''
	for pc in $PIECES; do
		case $pc in 256k) l=18 ;; 1m) l=20 ;; 512k) l=19 ;; 2m) l=21 ;; 4m) l=22 ;; esac
		make_torrent "$S/b/big.bin" "$l" "$T/big-dht-$pc.torrent"
		ih=$(infohash "$T/big-dht-$pc.torrent")
		MAG[$pc]="magnet:?xt=urn:btih:$ih&dn=big.bin"
		mag_tors="$mag_tors${mag_tors:+, }\"$T/big-dht-$pc.torrent\""
		mag_ihs="$mag_ihs${mag_ihs:+, }\"$ih\""
	done
	cfg=$(printf '{"secs": 1200, "boot": "%s", "watch": [%s], "nodes": [
	 {"role": "router", "ip": "127.0.0.11", "port": 7300, "boot": "127.0.0.12:7301"},
	 {"role": "router", "ip": "127.0.0.12", "port": 7301},
	 {"role": "seed", "ip": "127.0.0.13", "port": 7302, "torrents": [%s], "save": "%s"}]}' \
		"$MAG_BOOT" "$mag_ihs" "$mag_tors" "$S/b")
	"$IT_LT_PY" "$ROOT/tests/integration/lt_dht_swarm.py" "$cfg" >"$LOGS/dht-swarm.log" 2>&1 </dev/null &
	it_track $!
	swarm_pid=$!
	n_mag=$(wc -w <<<"$PIECES")
	for ((i = 0; i < 600; i++)); do
		[ "$(grep -c '^router: .* has peers' "$LOGS/dht-swarm.log" 2>/dev/null || true)" -ge "$n_mag" ] && break
		pid_alive "$swarm_pid" || break
		sleep 0.1
	done
	if [ "$(grep -c '^router: .* has peers' "$LOGS/dht-swarm.log" 2>/dev/null || true)" -ge "$n_mag" ]; then
		for ((run = 1; run <= RUNS; run++)); do
			for pc in $PIECES; do
				log "run $run/$RUNS, $pc pieces, p2pfs mounts a magnet link found through the DHT"
				cold_prep "$S/b/big.bin"
				m_magnet "$run" "$pc"
			done
		done
	else
		note "the libtorrent DHT seeder's announces never reached its DHT: $(tail -n 2 "$LOGS/dht-swarm.log" | tr '\n' ' ')"
	fi
	stop_pid "$swarm_pid"
	untrack "$swarm_pid"
fi

echo
echo "p2pfs bench: ${CLIENTS[*]}; $RUNS run(s); big file $((BIG_SIZE >> 20)) MiB, tree $NTREE files ($((TREE_BYTES >> 20)) MiB); $(nproc) CPUs"
"$IT_PY" "$HERE/bench.py" table "$RES"
# the DHT: lookups in a simulated network of 1,000 nodes (no network used)
if [ -x "$OUT/dht_bench" ]; then "$OUT/dht_bench" || note "dht_bench failed"; else note "no $OUT/dht_bench (make bench builds it)"; fi
if [ "$BTFS" = 1 ]; then
	# seen with strace: after the tracker reply libtorrent tries uTP first,
	# and falls back to TCP only when that times out
	echo "btfs: libtorrent tries uTP first; the aria2c seeders have no uTP, so its first peer connections wait ~4.5 s for the TCP fallback."
	echo "btfs: its VmHWM counts the pages of libtorrent 2's memory-mapped storage files; RssAnon is its heap."
else
	echo "btfs: not installed (or BENCH_BTFS=0): left out"
fi
if [ -x "$PT" ]; then
	echo "FUSE passthrough: tests/bench/fuse_passthrough.c, a minimal read-only low-level passthrough written for this bench (libfuse's passthrough_ll is not packaged in Debian); it reads the way p2pfs answers a cache hit (fd-backed splice replies)."
else
	echo "FUSE passthrough: not built ($PT), left out; the local read is the reference."
fi
if [ "${#NOTES[@]}" -gt 0 ]; then
	echo "notes:"
	printf '  - %s\n' "${NOTES[@]}"
fi
echo "raw numbers: $RES; logs: $OUT/logs/; took $(secs $(($(now_ms) - t_start))) s"
