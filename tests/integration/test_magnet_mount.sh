#!/bin/bash
# test_magnet_mount — `p2pfs mount MAGNET` against real clients on loopback:
#   1. x.pe= a python3-libtorrent seeder (no tracker): the metadata (3
#      ut_metadata pieces) comes over BEP 9, every file reads with the
#      right sha256;
#   2. `p2pfs info MAGNET -o OUT.torrent` writes a .torrent whose info-hash
#      is the link's and whose announce is the link's tr=;
#   3. the seeder gone, a remount of the same magnet is instant (the info
#      dict kept in the cache folder) and serves the cached bytes offline;
#      `info` of the link is instant too; an unknown magnet with nobody to
#      ask fails after --metadata-timeout with a clear error;
#   4. tr= an opentracker with an aria2c seeder (no x.pe): found and read,
#      through its HTTP and its UDP (BEP 15) side;
#   5. a hostile peer that serves a wrong metadata piece (right size, one
#      bit flipped) beside an honest libtorrent seeder: it is banned, the
#      mount completes from the honest one and reads the right bytes;
#   6. a sealed share's link alone (create --seal; no .torrent, no
#      --key-file): the mount opens the share with the link's key from a
#      `p2pfs seed`, and the key is in neither the log nor the cache.
# Every wait is bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9660
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }

S=$T/src/share
gen_data "$S/a.bin" 64M
gen_data "$S/sub/b.bin" 300K
echo hello >"$S/c.txt"
make_torrent "$S" 15 "$T/share.torrent"
ih=$(infohash "$T/share.torrent")
TRK=$((IT_BASE + 1))
LT_IP=127.0.0.51 LT_PORT=$((IT_BASE + 2))

start_lt() {
	"$IT_LT_PY" "$IT_ROOT/tests/bench/ltseed.py" "$LT_IP" "$LT_PORT" "$T/share.torrent" "$T/src" \
		>"$LOGS/ltseed.out" 2>&1 </dev/null &
	it_track $!
	LT_SEED=$LAST_PID
	local i
	for ((i = 0; i < 300; i++)); do
		grep -q '^ready' "$LOGS/ltseed.out" && break
		pid_alive "$LT_SEED" || fail "libtorrent seeder died: $(cat "$LOGS/ltseed.out")"
		sleep 0.1
	done
	wait_port "$LT_IP" "$LT_PORT" 5 || fail "libtorrent seeder does not listen"
}
start_lt

# 1. x.pe=
M1="magnet:?xt=urn:btih:$ih&dn=share&x.pe=$LT_IP:$LT_PORT"
mount_p2pfs "$M1" "$T/mnt" --bind 127.0.0.52 --metadata-timeout 30
grep -q 'metadata of .* fetched and verified' "$MOUNT_LOG" || fail "no metadata fetch in the log"
with_timeout 20 dd if="$T/mnt/share/a.bin" of=/dev/null bs=64k count=1 2>/dev/null || fail "first 64 KiB"
log "1. $(grep -o "metadata of 'share': .*" "$MOUNT_LOG"); first 64 KiB read $(($(now_ms) - MOUNT_T0)) ms after the mount began"
compare_trees "$S" "$T/mnt/share"
umount_p2pfs "$T/mnt"
[ -s "$T/cache/$ih/torrent" ] || fail "the metadata is not kept in the cache folder"

# 2. info -o
M2="magnet:?xt=urn:btih:$ih&dn=share&x.pe=$LT_IP:$LT_PORT&tr=http%3A%2F%2F127.0.0.1%3A$TRK%2Fannounce"
with_timeout 40 "$P2PFS" info --cache "$T/nocache" --bind 127.0.0.53 --metadata-timeout 30 \
	-o "$T/out.torrent" "$M2" >"$LOGS/info.out" 2>"$LOGS/info.err" ||
	fail "info MAGNET -o failed: $(cat "$LOGS/info.err")"
[ "$(infohash "$T/out.torrent")" = "$ih" ] || fail "info -o wrote a torrent of another info-hash"
"$P2PFS" info "$T/out.torrent" | grep -q "^  http://127.0.0.1:$TRK/announce\$" ||
	fail "the .torrent of info -o lacks the link's tracker: $("$P2PFS" info "$T/out.torrent")"
grep -q "^magnet: .*xt=urn:btih:$ih" "$LOGS/info.out" || fail "info prints no magnet link"

# 3. offline remount
stop_pid "$LT_SEED"
t0=$(now_ms)
mount_p2pfs "$M1" "$T/mnt" --bind 127.0.0.52 --metadata-timeout 30
dt=$(($(now_ms) - t0))
((dt < 3000)) || fail "the offline remount took $dt ms"
[ "$(sha_of "$T/mnt/share/sub/b.bin")" = "$(sha_of "$S/sub/b.bin")" ] || fail "offline read differs"
[ "$(sha_of "$T/mnt/share/a.bin")" = "$(sha_of "$S/a.bin")" ] || fail "offline read differs"
umount_p2pfs "$T/mnt"
log "offline remount: live after $dt ms, cached files read"
with_timeout 10 "$P2PFS" info --cache "$T/cache" "$M1" >/dev/null 2>"$LOGS/info2.err" ||
	fail "info of a cached magnet failed: $(cat "$LOGS/info2.err")"
t0=$(now_ms)
rc=0
with_timeout 20 "$P2PFS" mount -f --cache "$T/c2" --bind 127.0.0.52 --metadata-timeout 2 \
	"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&x.pe=127.0.0.54:$((IT_BASE + 9))" \
	"$T/mnt" >"$LOGS/nometa.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "a magnet nobody serves: status $rc, want 1: $(cat "$LOGS/nometa.out")"
grep -q 'no metadata after 2 s' "$LOGS/nometa.out" || fail "unclear error: $(cat "$LOGS/nometa.out")"
is_mounted "$T/mnt" && fail "mounted without metadata"
log "no metadata: '$(tail -n 1 "$LOGS/nometa.out")' after $(($(now_ms) - t0)) ms"

# 4. tr= an opentracker, aria2c seeding
make_torrent "$S" 15 "$T/trk.torrent" "$(tracker_url $TRK)"
ih2=$(infohash "$T/trk.torrent")
start_opentracker $TRK "$ih2"
AR_IP=127.0.0.55 AR_PORT=$((IT_BASE + 5))
start_aria2_seeder "$AR_IP" "$AR_PORT" "$T/trk.torrent" "$T/src"
wait_tracker_lists $TRK "$ih2" "$AR_IP:$AR_PORT"
M4="magnet:?xt=urn:btih:$ih2&dn=share&tr=$(tracker_url $TRK)"
mount_p2pfs "$M4" "$T/mnt4" --cache "$T/c4" --bind 127.0.0.56 --metadata-timeout 30
[ "$(sha_of "$T/mnt4/share/a.bin")" = "$(sha_of "$S/a.bin")" ] || fail "tracker-found read differs"
umount_p2pfs "$T/mnt4"
# the same tracker's UDP side (BEP 15) as the link's only tr=
mount_p2pfs "magnet:?xt=urn:btih:$ih2&dn=share&tr=udp://127.0.0.1:$TRK" "$T/mnt4" \
	--cache "$T/c4u" --bind 127.0.0.56 --metadata-timeout 30
[ "$(sha_of "$T/mnt4/share/sub/b.bin")" = "$(sha_of "$S/sub/b.bin")" ] || fail "udp-tracker-found read differs"
umount_p2pfs "$T/mnt4"
log "4. found through tr=http:// and tr=udp://"

# 5. a liar beside an honest seeder
start_lt
HP_IP=127.0.0.57 HP_PORT=$((IT_BASE + 7))
"$IT_PY" "$IT_ROOT/tests/integration/hostile_peer.py" ut-metadata-liar --torrent "$T/share.torrent" \
	--data "$T/src" --listen "$HP_IP:$HP_PORT" --secs 60 --report "$T/liar.json" \
	>"$LOGS/liar.out" 2>"$LOGS/liar.err" </dev/null &
it_track $!
LIAR=$LAST_PID
wait_port "$HP_IP" "$HP_PORT" 5 || fail "the hostile peer does not listen"
M5="magnet:?xt=urn:btih:$ih&dn=share&x.pe=$HP_IP:$HP_PORT&x.pe=$LT_IP:$LT_PORT"
mount_p2pfs "$M5" "$T/mnt5" --cache "$T/c5" --bind 127.0.0.58 --metadata-timeout 40
[ "$(sha_of "$T/mnt5/share/a.bin")" = "$(sha_of "$S/a.bin")" ] || fail "read differs after a metadata liar"
umount_p2pfs "$T/mnt5"
kill -TERM "$LIAR" 2>/dev/null || true
wait_exit "$LIAR" 10 || true
lies=$(grep -o '"meta_lies": [0-9]*' "$T/liar.json" 2>/dev/null | grep -o '[0-9]*$' || echo 0)
if grep -q "banning '$HP_IP:$HP_PORT'" "$MOUNT_LOG"; then
	log "the liar was banned after $lies false metadata pieces"
elif [ "${lies:-0}" = 0 ]; then
	log "the liar was never asked for metadata (libtorrent answered first)"
else
	fail "the liar sent $lies false metadata pieces and was not banned: $(grep -i 'metadata\|ban' "$MOUNT_LOG" | tail -5)"
fi

# 6. a sealed share from its link alone
mkdir -p "$T/Trip/sub"
gen_data "$T/Trip/day1.bin" 3M
echo secret >"$T/Trip/sub/note.txt"
"$P2PFS" create --seal --key-file "$T/trip.key" "$T/Trip" -o "$T/trip.torrent" >"$LOGS/seal-create.out" 2>&1 ||
	fail "create --seal: $(cat "$LOGS/seal-create.out")"
link=$(cat "$T/trip.key")
key=${link##*x.p2pfs.key=}
[ ${#key} = 64 ] || fail "no key in the share link: $link"
start_p2pfs_seed 127.0.0.59 $((IT_BASE + 8)) "$T/trip.torrent" "$T/Trip" --no-trackers --key-file "$T/trip.key"
seal_seed=$LAST_PID
mount_p2pfs "$link&x.pe=127.0.0.59:$((IT_BASE + 8))" "$T/mnt6" --cache "$T/c6" --bind 127.0.0.60 --metadata-timeout 30
compare_trees "$T/Trip" "$T/mnt6/Trip"
umount_p2pfs "$T/mnt6"
stop_p2pfs_seed "$seal_seed"
if grep -rqF "$key" "$MOUNT_LOG" "$T/c6"; then
	fail "the sealed share's key was written to the log or the cache"
fi
log "6. a sealed share mounted from its link alone; its key stayed in the link"
log "PASS"
