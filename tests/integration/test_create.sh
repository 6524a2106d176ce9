#!/bin/bash
# `p2pfs create` against mktorrent and real clients: for a single file and
# a nested folder (an empty file, a hidden one, odd sizes, names that sort
# differently by whole path than by folder, a symlink inside the folder),
# at two piece sizes, p2pfs's info-hash equals mktorrent's (-d -l LOG2).
# Then the p2pfs-made folder torrent is used for real: aria2c verifies the
# source against it and seeds it, python3-libtorrent checks the source
# against it (seeding after the check) and downloads it from aria2c on
# loopback, and p2pfs mounts it from that seeder; `p2pfs info` reads it
# back. Bad input is refused with status 2 and one line.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 8100
TRK=$IT_BASE
LT_PY=/usr/bin/python3 # the Debian python3-libtorrent lives here

# ---- data -------------------------------------------------------------------
gen_data "$T/one/film.bin" $((3 * 1024 * 1024 + 12345))
S=$T/src/tree
gen_data "$S/a.bin" $((1024 * 1024 + 7))
gen_data "$S/a-x" 5
gen_data "$S/a.x" 17
gen_data "$S/a/x" 33333
gen_data "$S/a0" 1
gen_data "$S/sub/b.bin" 300001
gen_data "$S/sub/deeper/c.dat" 70000
gen_data "$S/.hidden" 1234
gen_data "$S/name with space" 4097
: >"$S/empty"
: >"$S/sub/empty too"
mkdir -p "$S/empty-folder"
ln -s a.bin "$S/link-to-a"

# ---- the same info-hash as mktorrent ------------------------------------------
for src in "$T/one/film.bin" "$S"; do
	for l in 15 18; do
		rm -f "$T/p.torrent" "$T/m.torrent"
		"$P2PFS" create -d --piece-size $((1 << l)) -o "$T/p.torrent" "$src" \
			>"$LOGS/create.out" 2>"$LOGS/create.err" ||
			fail "p2pfs create $src failed: $(cat "$LOGS/create.err")"
		# not a terminal: no progress bar, nothing on stderr
		[ ! -s "$LOGS/create.err" ] || fail "p2pfs create wrote to stderr: $(cat "$LOGS/create.err")"
		mktorrent -d -l "$l" -o "$T/m.torrent" "$src" >>"$LOGS/mktorrent.log" 2>&1 ||
			fail "mktorrent failed: $(tail -n 3 "$LOGS/mktorrent.log")"
		a=$(infohash "$T/p.torrent")
		b=$(infohash "$T/m.torrent")
		[ "$a" = "$b" ] || fail "$(basename "$src") at 2^$l: p2pfs $a, mktorrent $b"
		grep -q "^info-hash: *$a\$" "$LOGS/create.out" ||
			fail "p2pfs create printed another info-hash: $(cat "$LOGS/create.out")"
		log "$(basename "$src") at 2^$l: info-hash $a, as mktorrent's"
	done
done

# ---- refusals: status 2, one line, nothing written -------------------------------
refused() {
	local want=$1 rc=0
	shift
	"$P2PFS" create "$@" >"$LOGS/refuse.out" 2>"$LOGS/refuse.err" || rc=$?
	[ "$rc" = 2 ] || fail "p2pfs create $* gave status $rc, want 2: $(cat "$LOGS/refuse.err")"
	[ "$(wc -l <"$LOGS/refuse.err")" = 1 ] || fail "p2pfs create $*: not one line: $(cat "$LOGS/refuse.err")"
	grep -q -- "$want" "$LOGS/refuse.err" || fail "p2pfs create $*: '$(cat "$LOGS/refuse.err")' lacks '$want'"
	log "refused: $(cat "$LOGS/refuse.err")"
}
mkdir -p "$T/bad/empty/sub" "$T/bad/zero" "$T/bad/out" "$T/bad/in"
: >"$T/bad/zero/z"
echo x >"$T/bad/out/o"
echo y >"$T/bad/in/f"
ln -s ../out/o "$T/bad/in/outlink"
refused "No such file" -o "$T/x.torrent" "$T/bad/nope"
refused "no files" -o "$T/x.torrent" "$T/bad/empty"
refused "total size is 0" -o "$T/x.torrent" "$T/bad/zero"
refused "not a power of two" --piece-size 48K -o "$T/x.torrent" "$S"
refused "below 16 KiB" --piece-size 8K -o "$T/x.torrent" "$S"
refused "above 64 MiB" --piece-size 128M -o "$T/x.torrent" "$S"
refused "out of the folder" -o "$T/x.torrent" "$T/bad/in"
refused "exists" -o "$T/p.torrent" "$S"
[ ! -e "$T/x.torrent" ] || fail "a refused create wrote $T/x.torrent"
"$P2PFS" create -d --follow-symlinks -o "$T/x.torrent" "$T/bad/in" >/dev/null ||
	fail "--follow-symlinks did not include the link out of the folder"
ls -a "$T" | grep -q '^\.x\.torrent\.' && fail "a temporary file was left behind"
# --force replaces; '-o -' writes the same bytes to stdout
"$P2PFS" create -d -f --piece-size 32K -o "$T/p.torrent" "$S" >/dev/null || fail "--force did not replace"
"$P2PFS" create -d --piece-size 32K -o - "$S" | cmp -s - "$T/p.torrent" || fail "'-o -' wrote other bytes"
# on a terminal: a progress bar on stderr, ending with the rate
if command -v script >/dev/null; then
	with_timeout 30 script -qec "'$P2PFS' create -d -o '$T/tty.torrent' '$S'" /dev/null \
		>"$LOGS/tty.out" 2>&1 || fail "p2pfs create on a terminal failed: $(cat "$LOGS/tty.out")"
	grep -q 'hashed 2.4 MiB in .* MiB/s)' "$LOGS/tty.out" || fail "no progress line on a terminal: $(cat -v "$LOGS/tty.out")"
	log "on a terminal: $(tr '\r' '\n' <"$LOGS/tty.out" | grep -a '^hashed' | head -n 1 | sed 's/\x1b\[K//')"
fi

# ---- the torrent that real clients use --------------------------------------------
rm -f "$T/tree.torrent"
"$P2PFS" create -t "$(tracker_url $TRK)" -c "made by test_create" \
	-o "$T/tree.torrent" "$S" >"$LOGS/create.out" 2>&1 || fail "p2pfs create failed"
ih=$(infohash "$T/tree.torrent")
"$P2PFS" info "$T/tree.torrent" >"$LOGS/info.out" 2>&1 || fail "p2pfs info failed: $(cat "$LOGS/info.out")"
grep -q "^info-hash: *$ih\$" "$LOGS/info.out" || fail "p2pfs info: wrong info-hash: $(cat "$LOGS/info.out")"
grep -q "^name: *tree\$" "$LOGS/info.out" || fail "p2pfs info: wrong name"
grep -q "^files: *12\$" "$LOGS/info.out" || fail "p2pfs info: want 12 files: $(cat "$LOGS/info.out")"
grep -q "^comment: *made by test_create\$" "$LOGS/info.out" || fail "p2pfs info: no comment"
grep -q "^created by: *p2pfs " "$LOGS/info.out" || fail "p2pfs info: no 'created by'"
grep -q "^  $(tracker_url $TRK)\$" "$LOGS/info.out" || fail "p2pfs info: no tracker"
log "p2pfs info reads it back: $(grep -E '^(piece size|pieces):' "$LOGS/info.out" | tr -s ' ' | tr '\n' ' ')"
# the magnet link: the same from create and info, and libtorrent reads
# the info-hash, the name and the tracker from it
mc=$(awk '$1 == "magnet:" { print $2 }' "$LOGS/create.out")
mi=$(awk '$1 == "magnet:" { print $2 }' "$LOGS/info.out")
[ -n "$mc" ] && [ "$mc" = "$mi" ] || fail "create and info print other magnet links: '$mc' / '$mi'"
got=$("$IT_LT_PY" -c 'import sys, libtorrent as lt
p = lt.parse_magnet_uri(sys.argv[1])
print(p.info_hashes.v1, p.name, " ".join(p.trackers))' "$mc") || fail "libtorrent cannot parse $mc"
[ "$got" = "$ih tree $(tracker_url $TRK)" ] || fail "libtorrent reads '$got' from $mc"
log "magnet link: $mc"

start_opentracker $TRK "$ih"
# aria2c checks every piece of the source against the torrent first
start_aria2_seeder 127.0.0.2 $((TRK + 1)) "$T/tree.torrent" "$T/src"
wait_tracker_peers $TRK "$ih" 1

# python3-libtorrent: check the source (must end seeding), and download
# from the aria2c seeder into an empty folder
cat >"$T/lt.py" <<'PYEOF'
import sys, time
import libtorrent as lt
mode, torrent, save, ip, port = sys.argv[1:6]
peer = sys.argv[6] if len(sys.argv) > 6 else None
s = lt.session({
    'listen_interfaces': '%s:%s' % (ip, port), 'outgoing_interfaces': ip,
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
    'enable_natpmp': False, 'dht_bootstrap_nodes': '',
    # aria2c speaks TCP only: no uTP attempts first
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'alert_mask': lt.alert.category_t.error_notification})
p = lt.add_torrent_params()
p.ti = lt.torrent_info(torrent)
p.save_path = save
h = s.add_torrent(p)
t0 = time.time()
last = 0
for i in range(600):  # 60 s
    st = h.status()
    if st.errc.value():
        print('error: %s' % st.errc.message()); sys.exit(1)
    if st.is_seeding:
        print('%s: seeding after %.1f s, %d bytes wanted and done' %
              (mode, time.time() - t0, st.total_wanted_done)); sys.exit(0)
    if peer and st.state == lt.torrent_status.downloading and \
            st.num_peers == 0 and time.time() - last > 2:
        ip2, port2 = peer.split(':')
        h.connect_peer((ip2, int(port2)))
        last = time.time()
    time.sleep(0.1)
print('%s: not seeding after 60 s: state %s, progress %.3f, %d peers' %
      (mode, st.state, st.progress, st.num_peers))
sys.exit(1)
PYEOF
mkdir -p "$T/lt-check" "$T/lt-down"
cp -al "$T/src/." "$T/lt-check/"
with_timeout 70 "$LT_PY" "$T/lt.py" check "$T/tree.torrent" "$T/lt-check" 127.0.0.6 $((TRK + 3)) \
	>"$LOGS/lt-check.out" 2>&1 || fail "libtorrent check: $(cat "$LOGS/lt-check.out")"
log "libtorrent: $(cat "$LOGS/lt-check.out")"
with_timeout 70 "$LT_PY" "$T/lt.py" download "$T/tree.torrent" "$T/lt-down" 127.0.0.4 $((TRK + 2)) \
	127.0.0.2:$((TRK + 1)) >"$LOGS/lt-down.out" 2>&1 || fail "libtorrent download: $(cat "$LOGS/lt-down.out")"
log "libtorrent: $(cat "$LOGS/lt-down.out")"
# the download has every file (empty ones too); the empty folder and the
# symlink (a plain file in the torrent) are the expected differences
rm -rf "$T/want" && mkdir -p "$T/want" && cp -rL "$S" "$T/want/" && rmdir "$T/want/tree/empty-folder"
compare_trees "$T/want/tree" "$T/lt-down/tree"

# and p2pfs itself streams it from the aria2c seeder
mount_p2pfs "$T/tree.torrent" "$T/mnt" --bind 127.0.0.5 --port $((TRK + 50))
compare_trees "$T/want/tree" "$T/mnt/tree"
umount_p2pfs "$T/mnt"
log PASS
