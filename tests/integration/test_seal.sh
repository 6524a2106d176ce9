#!/bin/bash
# Sealed shares end to end, on loopback with real clients:
# - `p2pfs create --seal` makes a torrent of one blob with a neutral name
#   and prints the share link; --key-file writes it, mode 0600;
# - `p2pfs seed --key-file` serves the blob from the plaintext folder, and
#   a friend's mount (key file holding the bare key) reads every file with
#   the right sha256, mtime and x bit;
# - an aria2c leecher downloads the sealed torrent from that seeder and then,
#   alone, seeds a second friend's mount of the torrent stripped of its
#   header copy (as one rebuilt from the info dict would be): the mount
#   fetches the file table from aria2c first, reads every file right, and
#   with --remember-key a later mount needs no key file;
# - a packet capture of all of it (tcpdump on lo, a port filter), the
#   torrents, aria2c's download and the p2pfs caches hold none of the
#   names, no 16-byte run of any file and never the key (only the 0600 file
#   --remember-key asked for has it); nor do the p2pfs logs hold the key;
# - a mount without the key, with a wrong key or with a tampered header
#   copy, a seed with a wrong key or from the folder without a key, a
#   header fetch with no peer, and create's misuses of --key-file all fail
#   with a clear line, bounded in time.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9500
TRK=$IT_BASE
SEEDP=$((TRK + 10)) LEECHP=$((TRK + 20)) ARIASP=$((TRK + 21))
M1P=$((TRK + 30)) M2P=$((TRK + 31))
command -v tcpdump >/dev/null || { log "SKIP: no tcpdump (sh .ci/deps.sh)"; exit 77; }

# ---- the share -----------------------------------------------------------
S=$T/src/Holiday-Azores-2026
gen_data "$S/whale-watching-sunrise.mkv" $((900 * 1024 + 12345))
gen_data "$S/day2/volcano-crater-lake.jpg" 300001
gen_data "$S/day2/notes/itinerary-secret-plans.txt" 5000
gen_data "$S/tiny-postcard.bin" 17
gen_data "$S/day2/run-slideshow.sh" 4096
chmod 755 "$S/day2/run-slideshow.sh"
: >"$S/empty-marker-file"
touch -d '2024-07-14 12:34:56' "$S/day2/volcano-crater-lake.jpg"
TOP=Holiday-Azores-2026

"$P2PFS" create --seal --key-file "$T/trip.key" -t "$(tracker_url $TRK)" \
	-o "$T/trip.torrent" "$S" >"$LOGS/create.out" 2>"$LOGS/create.err" ||
	fail "create --seal failed: $(cat "$LOGS/create.err")"
[ "$(stat -c %a "$T/trip.key")" = 600 ] || fail "the key file is not mode 0600"
link=$(sed -n 's/^link: *//p' "$LOGS/create.out")
[ "$(cat "$T/trip.key")" = "$link" ] || fail "the key file does not hold the printed link"
KEY=$(sed -n 's/.*x\.p2pfs\.key=\([0-9a-f]\{64\}\)$/\1/p' <<<"$link")
[ -n "$KEY" ] || fail "no key in the link: $link"
ih=$(infohash "$T/trip.torrent")
case $link in "magnet:?xt=urn:btih:$ih&"*) ;; *) fail "the link does not name $ih: $link" ;; esac
grep -q '^sealed:' < <("$P2PFS" info "$T/trip.torrent") || fail "info does not say sealed"
"$IT_PY" - "$T" "$T/trip.torrent" <<'EOF' || fail "not a one-blob torrent with a neutral name"
import re, sys
sys.path.insert(0, sys.argv[1])
from it import bdecode
t, _ = bdecode(open(sys.argv[2], 'rb').read())
i = t[b'info']
assert b'files' not in i and i[b'length'] > 0, i.keys()
assert re.fullmatch(rb'p2pfs-sealed-[0-9a-f]{16}', i[b'name']), i[b'name']
EOF
log "created $(grep '^shared:' "$LOGS/create.out")"
# the torrent without its header copy (what a rebuild from `info` gives)
"$IT_PY" - "$T/trip.torrent" "$T/bare.torrent" <<'EOF'
import sys
d = open(sys.argv[1], 'rb').read()
k = b'19:p2pfs sealed header'
i = d.index(k) + len(k)
j = d.index(b':', i)
n = int(d[i:j])
open(sys.argv[2], 'wb').write(d[:i - len(k)] + d[j + 1 + n:])
EOF
[ "$(infohash "$T/bare.torrent")" = "$ih" ] || fail "stripping the header copy changed the info-hash"

# ---- the capture -----------------------------------------------------------
# a 32 MiB buffer: a loaded machine must not drop packets (checked below)
tcpdump -i lo -n -s 0 -U -B 32768 -Z root -w "$T/wire.pcap" \
	"tcp and (port $TRK or port $SEEDP or port $LEECHP or port $ARIASP or port $M1P or port $M2P)" \
	>"$LOGS/tcpdump.out" 2>"$LOGS/tcpdump.err" </dev/null &
it_track $!
TCPDUMP=$!
for ((i = 0; i < 100; i++)); do
	grep -q 'listening on lo' "$LOGS/tcpdump.err" && break
	pid_alive "$TCPDUMP" || fail "tcpdump died: $(cat "$LOGS/tcpdump.err")"
	sleep 0.1
done
grep -q 'listening on lo' "$LOGS/tcpdump.err" || fail "tcpdump not capturing after 10 s"
start_opentracker $TRK "$ih"

# ---- seed from the plaintext; friend 1 ------------------------------------------
start_p2pfs_seed 127.0.0.2 $SEEDP "$T/trip.torrent" "$S" --key-file "$T/trip.key"
seed=$LAST_PID
grep -q 'sealed' "$SEED_OUT" || fail "the seed does not say it serves a sealed share"
wait_tracker_peers $TRK "$ih" 1
printf '%s\n' "$KEY" >"$T/bare.key" # F may hold the bare key too
chmod 600 "$T/bare.key"
mount_p2pfs "$T/trip.torrent" "$T/m1" --bind 127.0.0.3 --port $M1P --key-file "$T/bare.key"
compare_trees "$S" "$T/m1/$TOP"
[ "$(stat -c %Y "$T/m1/$TOP/day2/volcano-crater-lake.jpg")" = "$(stat -c %Y "$S/day2/volcano-crater-lake.jpg")" ] ||
	fail "the mount lost the file's mtime"
[ -x "$T/m1/$TOP/day2/run-slideshow.sh" ] || fail "the mount lost the x bit"
[ ! -x "$T/m1/$TOP/tiny-postcard.bin" ] || fail "a plain file became executable"
for a in user.p2pfs.stats user.p2pfs.peers user.p2pfs.infohash; do
	case $(xattr_of "$T/m1" "$a") in *"$KEY"*) fail "xattr $a shows the key" ;; esac
done
"$P2PFS" status "$T/m1" >"$LOGS/status.out" 2>&1 || true
grep -q "$KEY" "$LOGS/status.out" && fail "status shows the key"
umount_p2pfs "$T/m1"

# ---- aria2c carries it ------------------------------------------------------------
start_aria2_leecher 127.0.0.4 $LEECHP "$T/trip.torrent" "$T/aria"
wait_leecher "$LAST_PID" 60
blob=$(ls "$T"/aria/p2pfs-sealed-*)
[ "$(stat -c %s "$blob")" -gt "$(du -sb "$S" | cut -f1)" ] || fail "the blob is smaller than the share"
stop_p2pfs_seed "$seed"
for ((i = 0; i < 50; i++)); do
	read -r c _ < <(it_py scrape $TRK "$ih")
	[ "$c" = 0 ] && break
	sleep 0.2
done
[ "$c" = 0 ] || fail "the tracker still counts the p2pfs seeder"
start_aria2_seeder 127.0.0.5 $ARIASP "$T/trip.torrent" "$T/aria"
aria=$LAST_PID
wait_tracker_peers $TRK "$ih" 1

# friend 2: no header copy, so the table comes from aria2c; the link as key
mount_p2pfs "$T/bare.torrent" "$T/m2" --bind 127.0.0.6 --port $M2P \
	--cache "$T/cache2" --key-file "$T/trip.key" --remember-key
grep -q 'fetching pieces 0' "$MOUNT_LOG" || fail "the mount did not fetch the sealed file table"
compare_trees "$S" "$T/m2/$TOP"
umount_p2pfs "$T/m2"
grep -q "127.0.0.5:$ARIASP" "$MOUNT_LOG" || fail "friend 2 never talked to aria2c"
[ "$(stat -c %a "$T/cache2/$ih/seal-key")" = 600 ] || fail "the remembered key is not mode 0600"
# again with no key file: the remembered key, the table from the cache
mount_p2pfs "$T/bare.torrent" "$T/m2" --bind 127.0.0.6 --port $M2P --cache "$T/cache2"
[ "$(sha_of "$T/m2/$TOP/whale-watching-sunrise.mkv")" = "$(sha_of "$S/whale-watching-sunrise.mkv")" ] ||
	fail "the remount with the remembered key reads wrong bytes"
umount_p2pfs "$T/m2"
stop_aria2 "$aria"

# ---- refusals ---------------------------------------------------------------------
# refused STATUS TEXT CMD...: CMD exits with STATUS within 30 s, saying TEXT
refused() {
	local want=$1 text=$2 rc=0 t0
	shift 2
	t0=$(now_ms)
	with_timeout 30 "$@" >"$LOGS/refused.out" 2>&1 </dev/null || rc=$?
	[ "$rc" = "$want" ] || fail "$* gave status $rc, want $want: $(cat "$LOGS/refused.out")"
	grep -q -- "$text" "$LOGS/refused.out" || fail "$*: '$(cat "$LOGS/refused.out")' lacks '$text'"
	grep -q "$KEY" "$LOGS/refused.out" && fail "$*: prints the key"
	log "refused in $(($(now_ms) - t0)) ms: $(tail -n 1 "$LOGS/refused.out")"
}
mkdir -p "$T/m3"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/wrong.key"
chmod 600 "$T/wrong.key"
"$IT_PY" - "$T/trip.torrent" "$T/tampered.torrent" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
k = b'19:p2pfs sealed header'
i = d.index(k) + len(k)
j = d.index(b':', i) + 1
d[j + 100] ^= 0x20   # inside the sealed file table
open(sys.argv[2], 'wb').write(d)
EOF
refused 2 "its files open only with its key" "$P2PFS" mount -f --cache "$T/cache3" --no-trackers "$T/trip.torrent" "$T/m3"
refused 2 "wrong key" "$P2PFS" mount -f --cache "$T/cache3" --no-trackers --key-file "$T/wrong.key" "$T/trip.torrent" "$T/m3"
refused 2 "tampered" "$P2PFS" mount -f --cache "$T/cache3" --no-trackers --key-file "$T/trip.key" "$T/tampered.torrent" "$T/m3"
refused 1 "within 2 s" "$P2PFS" mount -f --cache "$T/cache4" --no-trackers --header-timeout 2 --key-file "$T/trip.key" "$T/bare.torrent" "$T/m3"
refused 2 "wrong key" "$P2PFS" seed -f --cache "$T/cache3" --no-trackers --key-file "$T/wrong.key" "$T/trip.torrent" "$S"
refused 2 "give its key with --key-file" "$P2PFS" seed -f --cache "$T/cache3" --no-trackers "$T/trip.torrent" "$S"
is_mounted "$T/m3" && fail "a refused mount left $T/m3 mounted"
refused 2 "goes with --seal" "$P2PFS" create --key-file "$T/new.key" -o "$T/new.torrent" "$S"
refused 2 "needs --key-file" "$P2PFS" create --seal -o - "$S"
refused 2 "key file '$T/trip.key' exists" "$P2PFS" create --seal --key-file "$T/trip.key" -o "$T/new.torrent" "$S"
[ ! -e "$T/new.torrent" ] && [ ! -e "$T/new.key" ] || fail "a refused create wrote a file"

# ---- what strangers see -----------------------------------------------------------------
kill -INT "$TCPDUMP"
wait_exit "$TCPDUMP" 10 || fail "tcpdump did not stop"
log "capture: $(stat -c %s "$T/wire.pcap") bytes; $(tail -n 2 "$LOGS/tcpdump.err" | tr '\n' ' ')"
# a capture with holes would not show everything that crossed the wire
drops=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$LOGS/tcpdump.err")
[ "${drops:-0}" = 0 ] || fail "the capture is incomplete: tcpdump dropped $drops packets"
find "$T/cache" "$T/cache2" "$T/aria" -type f ! -name seal-key >"$T/hay.list"
printf '%s\n' "$T/wire.pcap" "$T/trip.torrent" "$T/bare.torrent" >>"$T/hay.list"
"$IT_PY" - "$S" "$T/hay.list" "$KEY" "$ih" "$T/wire.pcap" "$(stat -c %s "$blob")" <<'EOF' >"$LOGS/scan.out" 2>&1 ||
import os, sys
src, hay_list, key_hex, ih_hex, pcap, blob_len = sys.argv[1:7]
names, files = set(), []
for d, dirs, fs in os.walk(src):
    for n in dirs + fs:
        names.add(n.encode())
        names.add(os.path.splitext(n)[0].encode())
    files += [os.path.join(d, f) for f in fs]
names.add(os.path.basename(src).encode())
# every 16-byte window of every file (runs of 16+ bytes)
win = set()
for f in files:
    b = open(f, 'rb').read()
    win.update(b[i:i + 16] for i in range(len(b) - 15))
key = bytes.fromhex(key_hex)
bad = 0
hay = [l.strip() for l in open(hay_list) if l.strip()]
for h in hay:
    d = open(h, 'rb').read()
    for n in names:
        if len(n) >= 4 and n in d:
            print('%s holds the name %r' % (h, n)); bad += 1
    for k in (key, key_hex.encode(), key_hex.upper().encode()):
        if k in d:
            print('%s holds the key' % h); bad += 1
    hits = 0
    for i in range(len(d) - 15):
        if d[i:i + 16] in win:
            hits += 1
    if hits:
        print('%s holds %d 16-byte runs of the plaintext' % (h, hits)); bad += 1
    print('%s: %d bytes scanned' % (h, len(d)))
cap = open(pcap, 'rb').read()
# the capture did see the swarm: the handshakes, the info-hash, the blob
if b'BitTorrent protocol' not in cap or bytes.fromhex(ih_hex) not in cap:
    print('the capture holds no BitTorrent traffic'); bad += 1
if len(cap) < 3 * int(blob_len):
    print('the capture (%d bytes) is smaller than three transfers of the blob' % len(cap)); bad += 1
print('%d names, %d windows, %d haystacks: %d problems' % (len(names), len(win), len(hay), bad))
sys.exit(1 if bad else 0)
EOF
	fail "strangers can see something: $(cat "$LOGS/scan.out")"
log "$(tail -n 1 "$LOGS/scan.out")"
for f in "$LOGS"/p2pfs-*; do
	grep -q "$KEY" "$f" && fail "$f holds the key"
done
[ "$(cat "$T/cache2/$ih/seal-key" | tr -d '\n')" = "$KEY" ] || fail "the remembered key file does not hold the key"
log PASS
