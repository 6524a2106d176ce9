# tests/integration/lib.sh — helpers for the integration tests (bash, sourced).
#
# Every test is a standalone bash script:
#
#   . "$(dirname "$0")/lib.sh"
#   it_setup 7100            # its own base port (in $IT_BASE): tests never
#                            # share a port; IT_PORT_OFFSET shifts them all
#   ...
#
# it_setup makes a per-test temp dir $T (logs in $T/logs; XDG_RUNTIME_DIR,
# where p2pfs keeps its control sockets, is $T/run) and installs a
# trap that, on any exit, unmounts every mount made here, stops every
# process started here (TERM, then KILL after a bounded wait) and removes
# $T. When the test fails the tail of every log is printed first. KEEP=1
# keeps $T.
#
# All traffic stays on loopback: the tracker listens on 127.0.0.1, each
# seeder/leecher/p2pfs gets its own 127.0.0.x (see /work/shared/TESTBED.md:
# libtorrent-style clients keep one peer per IP), and aria2c always runs with
# DHT, LPD and PEX off.
#
# Functions that start a background process set LAST_PID (and record it for
# the cleanup); call them directly, never inside $(...).

set -euo pipefail
# no test, demo or benchmark run of p2pfs leaves loopback (or a namespace
# the test made): no public DHT router, no LSD multicast, no port mapping
export P2PFS_LOOPBACK_ONLY=1
# (engine/base/pfs_env.h); a test that wants LSD passes --lsd inside its
# own namespace

IT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
P2PFS=${P2PFS:-$IT_ROOT/p2pfs}
# the probes of the interop tests (make tools; make integration-asan points
# this at their ASan builds)
IT_TOOLS=${IT_TOOLS:-$IT_ROOT/build/tools}
case $IT_TOOLS in /*) ;; *) IT_TOOLS=$IT_ROOT/$IT_TOOLS ;; esac
# absolute, so that tests may run it from another folder (P2PFS=./p2pfs-asan)
case $P2PFS in /*) ;; */*) P2PFS=$PWD/$P2PFS ;; esac
IT_PY=${IT_PY:-python3}
IT_NAME=$(basename "$0" .sh)

IT_PIDS=()
IT_MOUNTS=()
declare -A IT_MOUNT_PID=()
LAST_PID=
T=
LOGS=
IT_NMOUNT=0

log() { printf '[%s %s] %s\n' "$IT_NAME" "$(date +%T.%3N)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
# now_ms: wall clock in milliseconds
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

it_setup() {
	# IT_PORT_OFFSET shifts every port, so two checkouts can run at once
	IT_BASE=$((${1:?it_setup BASEPORT} + ${IT_PORT_OFFSET:-0}))
	T=$(mktemp -d "${TMPDIR:-/tmp}/p2pfs-$IT_NAME.XXXXXX")
	LOGS=$T/logs
	mkdir -p "$LOGS"
	# the control sockets of every p2pfs started here (fs_ctl.h) stay in
	# $T: `p2pfs ls` sees this test's processes only
	export XDG_RUNTIME_DIR=$T/run
	mkdir -m 0700 -p "$XDG_RUNTIME_DIR"
	it_write_py
	trap it_cleanup EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	trap 'exit 129' HUP
	[ -x "$P2PFS" ] || fail "no p2pfs binary at $P2PFS (run make)"
	log "temp dir $T, base port $IT_BASE"
}

# ---- processes --------------------------------------------------------------

# pid_alive PID: running and not a zombie
pid_alive() {
	local st
	read -r st 2>/dev/null <"/proc/$1/stat" || return 1
	st=${st##*) }
	st=${st%% *}
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# wait_exit PID SECS: 0 once PID has exited (within SECS), 1 if still running
wait_exit() {
	local pid=$1 end
	end=$(($(now_ms) + $2 * 1000))
	while (($(now_ms) < end)); do
		pid_alive "$pid" || return 0
		sleep 0.05
	done
	pid_alive "$pid" && return 1
	return 0
}

# exit_status PID: print the exit status of an exited child (reaps it)
exit_status() {
	local rc=0
	wait "$1" 2>/dev/null || rc=$?
	echo "$rc"
}

# with_timeout SECS CMD...: run CMD, SIGTERM after SECS, SIGKILL 2 s later
with_timeout() {
	local s=$1
	shift
	timeout -k 2 "$s" "$@"
}

it_track() { IT_PIDS+=("$1"); LAST_PID=$1; }

# stop_pid PID [SECS]: TERM, wait bounded, KILL; reaps it
stop_pid() {
	local pid=$1 secs=${2:-5}
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_exit "$pid" "$secs"; then
		log "pid $pid ignored TERM for ${secs}s: KILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait_exit "$pid" 2 || true
	fi
	wait "$pid" 2>/dev/null || true
}

# wait_port IP PORT SECS: until something accepts TCP on IP:PORT
wait_port() {
	local ip=$1 port=$2 n=$(($3 * 10)) i
	for ((i = 0; ; i++)); do
		if ss -Hltn "src $ip:$port" 2>/dev/null | grep -q .; then return 0; fi
		if ((i >= n)); then return 1; fi
		sleep 0.1
	done
}

# ---- mounts -----------------------------------------------------------------

# is_mounted DIR: DIR is a mount point (from /proc/self/mountinfo: never
# touches the FUSE daemon, so it cannot hang on a stuck file system)
is_mounted() {
	local d
	d=$(realpath -m "$1")
	awk -v m="$d" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# mount_p2pfs TORRENT MNT [p2pfs mount options...]
# Runs `p2pfs mount -f` in the background with --cache $T/cache (unless the
# options give --cache) and a log in $LOGS; waits (10 s) for the mount.
# Sets LAST_PID and MOUNT_T0 (ms, just before starting p2pfs).
mount_p2pfs() {
	local torrent=$1 mnt=$2 i cache=(--cache "$T/cache") a
	shift 2
	for a in "$@"; do
		if [ "$a" = --cache ]; then cache=(); fi
	done
	mkdir -p "$mnt"
	IT_NMOUNT=$((IT_NMOUNT + 1))
	local out=$LOGS/p2pfs-$IT_NMOUNT.out
	MOUNT_LOG=$LOGS/p2pfs-$IT_NMOUNT.log
	log "mount #$IT_NMOUNT: p2pfs mount -f ${cache[*]} $* $torrent $mnt"
	MOUNT_T0=$(now_ms)
	"$P2PFS" mount -f -v --log "$MOUNT_LOG" "${cache[@]}" "$@" "$torrent" "$mnt" \
		>"$out" 2>&1 </dev/null &
	local pid=$!
	it_track "$pid"
	IT_MOUNTS+=("$mnt")
	IT_MOUNT_PID[$mnt]=$pid
	for ((i = 0; i < 200; i++)); do
		is_mounted "$mnt" && { log "mounted $mnt (pid $pid) after $(($(now_ms) - MOUNT_T0)) ms"; LAST_PID=$pid; return 0; }
		if ! pid_alive "$pid"; then
			fail "p2pfs exited (status $(exit_status "$pid")) before mounting $mnt: $(tail -n 5 "$out")"
		fi
		sleep 0.05
	done
	fail "p2pfs did not mount $mnt within 10 s"
}

# umount_p2pfs MNT [SECS]: fusermount3 -u (lazy if busy), then wait (SECS,
# default 10) for that p2pfs to exit; fails unless it exits with status 0.
umount_p2pfs() {
	local mnt=$1 secs=${2:-10} pid rc
	pid=${IT_MOUNT_PID[$mnt]:-}
	if is_mounted "$mnt"; then
		fusermount3 -u "$mnt" 2>>"$LOGS/fusermount.log" || {
			log "fusermount3 -u $mnt failed, lazy unmount"
			fusermount3 -u -z "$mnt"
		}
	fi
	[ -n "$pid" ] || return 0
	if ! wait_exit "$pid" "$secs"; then
		fail "p2pfs (pid $pid) still running ${secs}s after unmounting $mnt"
	fi
	rc=$(exit_status "$pid")
	unset "IT_MOUNT_PID[$mnt]"
	[ "$rc" = 0 ] || fail "p2pfs (pid $pid) exited with status $rc after unmount of $mnt"
	log "unmounted $mnt, p2pfs exited 0"
}

# ---- data and torrents -------------------------------------------------------

# gen_data FILE SIZE: SIZE random bytes (head -c syntax: 1000, 20M, 300K)
gen_data() {
	mkdir -p "$(dirname "$1")"
	head -c "$2" /dev/urandom >"$1"
}

# make_torrent SRC PIECE_LEN_LOG2 OUT [TRACKER_URL...]: mktorrent -d (no
# creation date: the same input gives the same info-hash). No tracker URL =
# a trackerless torrent.
make_torrent() {
	local src=$1 l=$2 out=$3 a=() u
	shift 3
	for u in "$@"; do a+=(-a "$u"); done
	rm -f "$out"
	mktorrent -d -l "$l" "${a[@]}" -o "$out" "$src" >>"$LOGS/mktorrent.log" 2>&1 ||
		fail "mktorrent failed: $(tail -n 3 "$LOGS/mktorrent.log")"
}

tracker_url() { echo "http://127.0.0.1:$1/announce"; }

# The python helpers: an independent bencode reader (tests don't trust
# p2pfs to check p2pfs), info-hash, scrape, random reads.
it_write_py() {
	cat >"$T/it.py" <<'PYEOF'
import hashlib, os, random, sys, urllib.request

def bdecode(d, i=0, want_info=None):
    """Return (value, end). Records the raw span of the top-level 'info'."""
    c = d[i:i + 1]
    if c == b'i':
        j = d.index(b'e', i)
        return int(d[i + 1:j]), j + 1
    if c.isdigit():
        j = d.index(b':', i)
        n = int(d[i:j])
        if j + 1 + n > len(d):
            raise ValueError('string past end')
        return d[j + 1:j + 1 + n], j + 1 + n
    if c == b'l':
        out, i = [], i + 1
        while d[i:i + 1] != b'e':
            v, i = bdecode(d, i)
            out.append(v)
        return out, i + 1
    if c == b'd':
        out, i = {}, i + 1
        while d[i:i + 1] != b'e':
            k, i = bdecode(d, i)
            s = i
            v, i = bdecode(d, i)
            out[k] = v
            if want_info is not None and k == b'info':
                want_info.append(d[s:i])
        return out, i + 1
    raise ValueError('bad bencode at %d' % i)

def infohash(path):
    d = open(path, 'rb').read()
    spans = []
    bdecode(d, 0, spans)
    return hashlib.sha1(spans[-1]).hexdigest()

def scrape(port, ih):
    url = 'http://127.0.0.1:%s/scrape?info_hash=%s' % (
        port, urllib.request.quote(bytes.fromhex(ih), safe=''))
    op = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    body = op.open(url, timeout=3).read()
    v, _ = bdecode(body)
    f = v.get(b'files', {}).get(bytes.fromhex(ih), {})
    return f.get(b'complete', 0), f.get(b'incomplete', 0)

def tracker_peers(port, ih):
    """Announce as a throw-away peer, list the peers the tracker gives out,
    then announce 'stopped' so the tracker forgets the throw-away peer."""
    op = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    q = lambda b: urllib.request.quote(b, safe='')
    pid = b'-IT0000-' + os.urandom(6).hex().encode()[:12]
    def ann(ev):
        url = ('http://127.0.0.1:%s/announce?info_hash=%s&peer_id=%s&port=9'
               '&uploaded=0&downloaded=0&left=1&compact=1&numwant=200%s' %
               (port, q(bytes.fromhex(ih)), q(pid), ev))
        v, _ = bdecode(op.open(url, timeout=3).read())
        return v
    v = ann('&event=started')
    ann('&event=stopped')
    peers = v.get(b'peers', b'')
    out = []
    if isinstance(peers, bytes):
        for i in range(0, len(peers) - 5, 6):
            p = peers[i:i + 6]
            out.append('%d.%d.%d.%d:%d' % (p[0], p[1], p[2], p[3],
                                           p[4] << 8 | p[5]))
    else:
        out = ['%s:%d' % (d[b'ip'].decode(), d[b'port']) for d in peers]
    return [x for x in out if not x.endswith(':9')]

def randreads(mnt_file, src_file, n, seed, maxlen):
    rnd = random.Random(seed)
    size = os.path.getsize(src_file)
    a = os.open(mnt_file, os.O_RDONLY)
    b = os.open(src_file, os.O_RDONLY)
    bad = 0
    for k in range(n):
        r = rnd.random()
        ln = rnd.randint(1, maxlen)
        if r < 0.1:
            off = max(0, size - rnd.randint(0, maxlen))   # around EOF
        elif r < 0.15:
            off = size + rnd.randint(0, 1000)              # past EOF
        else:
            off = rnd.randrange(0, max(1, size))
        got = os.pread(a, ln, off)
        exp = os.pread(b, ln, off)
        if got != exp:
            bad += 1
            first = next((i for i in range(min(len(got), len(exp)))
                          if got[i] != exp[i]), min(len(got), len(exp)))
            print('read %d: off=%d len=%d: got %d bytes, expected %d, '
                  'first difference at +%d' % (k, off, ln, len(got),
                                               len(exp), first))
    print('%d reads, %d mismatched' % (n, bad))
    return 1 if bad else 0

def verified(cache_root, ih, npieces):
    """The verified-piece map p2pfs keeps in its cache (cache/cache.h:
    a 28-byte header, then the bitmap, BEP 3 bit order): one 0/1 a piece."""
    d = open(os.path.join(cache_root, ih, 'verified'), 'rb').read()
    bm = d[28:28 + (npieces + 7) // 8]
    return ''.join('1' if bm[i // 8] & (0x80 >> (i % 8)) else '0'
                   for i in range(npieces))

if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'infohash':
        print(infohash(sys.argv[2]))
    elif cmd == 'scrape':
        c, i = scrape(sys.argv[2], sys.argv[3])
        print(c, i)
    elif cmd == 'peers':
        print('\n'.join(tracker_peers(sys.argv[2], sys.argv[3])))
    elif cmd == 'verified':
        print(verified(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    elif cmd == 'randreads':
        sys.exit(randreads(sys.argv[2], sys.argv[3], int(sys.argv[4]),
                           int(sys.argv[5]), int(sys.argv[6])))
    else:
        sys.exit('it.py: unknown command ' + cmd)
PYEOF
}

it_py() { "$IT_PY" "$T/it.py" "$@"; }

# infohash FILE.torrent: hex SHA-1 of the raw info dict (own bencode reader)
infohash() { it_py infohash "$1"; }

# xattr_of FILE NAME: the value of an extended attribute (bounded: FILE may
# be on a stalled FUSE mount); empty when unreadable
xattr_of() {
	with_timeout 10 python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], sys.argv[2]).decode())' "$1" "$2" 2>/dev/null || true
}

# sha_of FILE: sha256, bounded (SHA_TIMEOUT, default 60 s) since FILE may be
# on a FUSE mount that stalls
sha_of() {
	local out
	out=$(with_timeout "${SHA_TIMEOUT:-60}" sha256sum "$1") || {
		log "sha256sum $1 failed or timed out"
		echo "ERROR"
		return 1
	}
	echo "${out%% *}"
}

# tree_listing DIR: one line per entry, "f SIZE PATH" or "d PATH", sorted
tree_listing() {
	(cd "$1" && with_timeout 30 find . -mindepth 1 \( -type f -printf 'f %s %P\n' \) -o \
		\( -type d -printf 'd %P\n' \) -o -printf '? %P\n') | LC_ALL=C sort
}

# compare_trees SRC MNT: same listing (names, types, sizes) and the same
# sha256 for every regular file
compare_trees() {
	local src=$1 mnt=$2 f a b bad=0
	tree_listing "$src" >"$T/listing.src"
	tree_listing "$mnt" >"$T/listing.mnt" || fail "listing $mnt failed"
	if ! diff -u "$T/listing.src" "$T/listing.mnt" >"$T/listing.diff"; then
		cat "$T/listing.diff" >&2
		fail "tree listing of $mnt differs from $src"
	fi
	while read -r f; do
		a=$(sha_of "$src/$f")
		b=$(sha_of "$mnt/$f") || true
		if [ "$a" != "$b" ]; then
			log "sha256 mismatch: $f: source $a, mount $b"
			bad=$((bad + 1))
		fi
	done < <(cd "$src" && find . -type f -printf '%P\n' | LC_ALL=C sort)
	[ "$bad" = 0 ] || fail "$bad file(s) differ between $src and $mnt"
	log "trees equal: $(grep -c '^f' "$T/listing.src") files"
}

# ---- real clients ------------------------------------------------------------

# start_opentracker PORT HASH...: HTTP (and UDP) tracker on 127.0.0.1:PORT
# serving only the given info-hashes. Sets TRACKER_PID.
start_opentracker() {
	local port=$1 d=$T/tracker-$1
	shift
	mkdir -p "$d"
	chmod 755 "$d"
	printf '%s\n' "$@" >"$d/whitelist"
	chmod 644 "$d/whitelist"
	# opentracker chroots into -d before reading -w: the path is inside it
	opentracker -i 127.0.0.1 -p "$port" -P "$port" -d "$d" -w /whitelist \
		>"$LOGS/opentracker-$port.log" 2>&1 </dev/null &
	it_track $!
	TRACKER_PID=$!
	wait_port 127.0.0.1 "$port" 5 || fail "opentracker did not listen on $port: $(cat "$LOGS/opentracker-$port.log")"
	log "opentracker on 127.0.0.1:$port (pid $TRACKER_PID)"
}

# wait_tracker_peers PORT HASH NSEEDS [NLEECH] [SECS]: until a scrape of the
# tracker counts at least NSEEDS complete and NLEECH incomplete peers
wait_tracker_peers() {
	local port=$1 ih=$2 ns=$3 nl=${4:-0} secs=${5:-15} i c=0 l=0 r end
	end=$(($(now_ms) + secs * 1000))
	for ((i = 0; i < secs * 5 && $(now_ms) < end; i++)); do
		if r=$(it_py scrape "$port" "$ih" 2>/dev/null); then
			read -r c l <<<"$r"
			if [ "$c" -ge "$ns" ] && [ "$l" -ge "$nl" ]; then
				log "tracker $port: $c seeder(s), $l leecher(s)"
				return 0
			fi
		fi
		sleep 0.2
	done
	fail "tracker $port knows $c seeder(s), $l leecher(s), wanted $ns/$nl"
}

# wait_tracker_lists PORT HASH IP:PORT [SECS]: until the tracker hands out
# IP:PORT as a peer (i.e. that peer announced from its own address)
wait_tracker_lists() {
	local port=$1 ih=$2 want=$3 secs=${4:-10} i got='' end
	end=$(($(now_ms) + secs * 1000))
	for ((i = 0; i < secs * 5 && $(now_ms) < end; i++)); do
		got=$(it_py peers "$port" "$ih" 2>/dev/null | sort | tr '\n' ' ') || true
		case " $got" in *" $want "*)
			log "tracker $port lists $want"
			return 0 ;;
		esac
		sleep 0.2
	done
	fail "tracker $port hands out peers [ $got] but not $want"
}

IT_ARIA2_COMMON=(--no-conf --enable-rpc=false --daemon=false
	--enable-dht=false --enable-dht6=false --bt-enable-lpd=false
	--enable-peer-exchange=false --disable-ipv6=true
	--file-allocation=none --summary-interval=0 --console-log-level=warn
	--log-level=info --bt-tracker-connect-timeout=3 --bt-tracker-timeout=5
	--auto-file-renaming=false --allow-overwrite=true)

# start_aria2_seeder IP PORT TORRENT DATADIR [aria2c options...]: aria2c
# seeding TORRENT from a hard-linked copy of DATADIR (the folder holding the
# torrent's name entry), bound to IP:PORT; waits (30 s) until it has
# verified the data and listens. Sets LAST_PID.
start_aria2_seeder() {
	local ip=$1 port=$2 torrent=$3 data=$4 i
	shift 4
	local d=$T/seed-$ip-$port lg=$LOGS/aria2-seed-$ip-$port.log
	mkdir -p "$d"
	cp -al "$data/." "$d/"
	aria2c "${IT_ARIA2_COMMON[@]}" --dir="$d" --log="$lg" \
		--interface="$ip" --bt-external-ip="$ip" --listen-port="$port" \
		--seed-ratio=0.0 --check-integrity=true --bt-hash-check-seed=true \
		--stop-with-process=$$ "$@" -T "$torrent" \
		>"$LOGS/aria2-seed-$ip-$port.out" 2>&1 </dev/null &
	local pid=$!
	it_track "$pid"
	for ((i = 0; i < 300; i++)); do
		if grep -q 'Verification finished successfully' "$lg" 2>/dev/null &&
			wait_port "$ip" "$port" 0; then
			log "aria2c seeder $ip:$port ready (pid $pid)"
			LAST_PID=$pid
			return 0
		fi
		pid_alive "$pid" || fail "aria2c seeder $ip:$port died: $(tail -n 5 "$LOGS/aria2-seed-$ip-$port.out")"
		sleep 0.1
	done
	fail "aria2c seeder $ip:$port not ready after 30 s"
}

# start_aria2_leecher IP PORT TORRENT OUTDIR [aria2c options...]: background
# download (exits when complete: --seed-time=0). Sets LAST_PID; wait for it
# with wait_leecher.
start_aria2_leecher() {
	local ip=$1 port=$2 torrent=$3 out=$4
	shift 4
	mkdir -p "$out"
	aria2c "${IT_ARIA2_COMMON[@]}" --dir="$out" --log="$LOGS/aria2-leech-$ip-$port.log" \
		--interface="$ip" --bt-external-ip="$ip" --listen-port="$port" \
		--seed-time=0 --stop-with-process=$$ "$@" -T "$torrent" \
		>"$LOGS/aria2-leech-$ip-$port.out" 2>&1 </dev/null &
	it_track $!
	log "aria2c leecher $ip:$port started (pid $LAST_PID)"
}

# stop_aria2 PID: graceful stop (SIGINT: aria2c announces "stopped", so the
# tracker forgets it), KILL after 5 s
stop_aria2() {
	kill -INT "$1" 2>/dev/null || true
	if ! wait_exit "$1" 5; then
		log "aria2c pid $1 ignored INT for 5s: KILL"
		kill -KILL "$1" 2>/dev/null || true
		wait_exit "$1" 2 || true
	fi
	wait "$1" 2>/dev/null || true
}

# wait_leecher PID SECS: fails unless the leecher exits 0 within SECS
wait_leecher() {
	local pid=$1 secs=$2 rc
	wait_exit "$pid" "$secs" || fail "aria2c leecher (pid $pid) not done after ${secs}s"
	rc=$(exit_status "$pid")
	[ "$rc" = 0 ] || fail "aria2c leecher (pid $pid) exited with status $rc"
	log "aria2c leecher (pid $pid) finished"
}

# ---- p2pfs seed and python3-libtorrent ----------------------------------------

IT_NSEED=0

# start_p2pfs_seed IP PORT TORRENT PATH [p2pfs seed options...]: `p2pfs seed
# -f` in the background, bound to IP:PORT, with --cache $T/cache (unless the
# options give --cache), logging to $LOGS; waits (30 s)
# until it has verified the data and listens. Sets LAST_PID, SEED_LOG (the
# -v log) and SEED_OUT (its stderr).
start_p2pfs_seed() {
	local ip=$1 port=$2 torrent=$3 path=$4 i cache=(--cache "$T/cache") a
	shift 4
	for a in "$@"; do
		if [ "$a" = --cache ]; then cache=(); fi
	done
	IT_NSEED=$((IT_NSEED + 1))
	SEED_LOG=$LOGS/p2pfs-seed-$IT_NSEED.log
	SEED_OUT=$LOGS/p2pfs-seed-$IT_NSEED.out
	log "seed #$IT_NSEED: p2pfs seed -f --bind $ip --port $port ${cache[*]} $* $torrent $path"
	"$P2PFS" seed -f -v --log "$SEED_LOG" --bind "$ip" --port "$port" "${cache[@]}" "$@" \
		"$torrent" "$path" >"$SEED_OUT" 2>&1 </dev/null &
	local pid=$!
	it_track "$pid"
	for ((i = 0; i < 300; i++)); do
		if grep -q 'seeding .* on port' "$SEED_OUT" 2>/dev/null &&
			wait_port "$ip" "$port" 0; then
			log "p2pfs seed $ip:$port ready (pid $pid): $(grep -o 'hashed.*' "$SEED_LOG" | head -n 1)"
			LAST_PID=$pid
			return 0
		fi
		pid_alive "$pid" || fail "p2pfs seed exited (status $(exit_status "$pid")): $(tail -n 5 "$SEED_OUT")"
		sleep 0.1
	done
	fail "p2pfs seed $ip:$port not ready after 30 s"
}

# stop_p2pfs_seed PID: SIGTERM; fails unless it exits 0 within 10 s
stop_p2pfs_seed() {
	local pid=$1 rc
	kill -TERM "$pid" 2>/dev/null || true
	wait_exit "$pid" 10 || fail "p2pfs (pid $pid) still running 10 s after SIGTERM"
	rc=$(exit_status "$pid")
	[ "$rc" = 0 ] || fail "p2pfs (pid $pid) exited with status $rc after SIGTERM"
	log "p2pfs (pid $pid) stopped, status 0"
}

# The python3-libtorrent leecher (Debian's module: /usr/bin/python3). DHT,
# LSD, UPnP, NAT-PMP and uTP off; one 127.0.0.x of its own.
IT_LT_PY=${IT_LT_PY:-/usr/bin/python3}
it_write_lt() {
	cat >"$T/lt.py" <<'PYEOF'
import json, sys, time
import libtorrent as lt

def main():
    a = dict(x.split('=', 1) for x in sys.argv[1:])
    ip, port = a['ip'], int(a['port'])
    peers = [p for p in a.get('peers', '').split(',') if p]
    secs = float(a.get('secs', '60'))
    want = a.get('want', 'all')       # 'all', or a piece count to reach
    settle = float(a.get('settle', '3'))
    ses = lt.session({
        'listen_interfaces': '%s:%d' % (ip, port),
        'outgoing_interfaces': ip,
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
        'enable_natpmp': False, 'dht_bootstrap_nodes': '',
        'enable_outgoing_utp': False, 'enable_incoming_utp': False,
        'alert_mask': 0,
    })
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(a['torrent'])
    atp.save_path = a['save']
    h = ses.add_torrent(atp)
    t0 = time.time()
    last_connect = 0
    reached = None
    while time.time() - t0 < secs:
        now = time.time()
        if now - last_connect >= 5:
            for p in peers:
                pip, pport = p.rsplit(':', 1)
                h.connect_peer((pip, int(pport)))
            last_connect = now
        st = h.status()
        if want == 'all':
            if st.is_seeding:
                break
        elif st.num_pieces >= int(want):
            if reached is None:
                reached = now
            elif now - reached >= settle:
                break   # and no more came meanwhile? see the bitfield
        time.sleep(0.1)
    dt = time.time() - t0
    st = h.status(lt.status_flags_t.query_pieces)
    out = {
        'seeding': bool(st.is_seeding),
        'num_pieces': st.num_pieces,
        'have': ''.join('1' if x else '0' for x in st.pieces),
        'downloaded': st.total_payload_download,
        'secs': round(dt, 3),
        'peers': [str(p.ip) for p in h.get_peer_info()],
    }
    print(json.dumps(out))
    ses.pause()
    return 0 if want != 'all' or st.is_seeding else 1

sys.exit(main())
PYEOF
}

# lt_leech OUTJSON key=value...: run the libtorrent leecher (bounded by its
# secs=, default 60, plus a margin); its one-line JSON verdict goes to
# OUTJSON. Keys: torrent save ip port [peers=IP:PORT,...] [secs] [want=all|N]
# [settle].
lt_leech() {
	local out=$1 secs=60 a
	shift
	for a in "$@"; do case $a in secs=*) secs=${a#secs=} ;; esac; done
	"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent for $IT_LT_PY"; exit 77; }
	[ -f "$T/lt.py" ] || it_write_lt
	with_timeout $((${secs%.*} + 30)) "$IT_LT_PY" "$T/lt.py" "$@" >"$out" 2>"$LOGS/lt-$(basename "$out").err"
}

# aria2_rate LOG PEER: "N bytes in M ms" of the blocks an aria2c leecher
# got from PEER (IP:PORT), first block to last, from its --log-level=info log
aria2_rate() {
	grep -F "From: $2 piece index=" "$1" | awk '
		{ split($2, t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]
		  if (!n++) a = s; b = s
		  sub(/.*length=/, ""); bytes += $0 }
		END { printf "%d bytes in %d ms", bytes, (b - a) * 1000 }'
}

# ---- cleanup -----------------------------------------------------------------

it_cleanup() {
	local rc=$? m p f
	set +e
	trap - EXIT INT TERM HUP
	for m in "${IT_MOUNTS[@]}"; do
		is_mounted "$m" && fusermount3 -u -z "$m" 2>/dev/null
	done
	# anything else the test mounted under $T (a small tmpfs, say)
	if [ -n "$T" ]; then
		awk -v r="$T/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo |
			sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
	fi
	for p in "${IT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${IT_PIDS[@]}"; do
		if ! wait_exit "$p" 5; then
			log "pid $p survived TERM: KILL"
			kill -KILL "$p" 2>/dev/null
		fi
	done
	for p in "${IT_PIDS[@]}"; do wait_exit "$p" 2; done
	wait 2>/dev/null
	if [ "$rc" != 0 ] && [ -n "$LOGS" ] && [ -d "$LOGS" ]; then
		for f in "$LOGS"/*; do
			[ -s "$f" ] || continue
			echo "----- $(basename "$f") (last 40 lines) -----" >&2
			tail -n 40 "$f" >&2
		done
	fi
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ -n "${KEEP:-}" ]; then
			log "kept $T"
		else
			for m in "${IT_MOUNTS[@]}"; do is_mounted "$m" && log "still mounted: $m"; done
			rm -rf --one-file-system "$T"
		fi
	fi
	exit "$rc"
}
