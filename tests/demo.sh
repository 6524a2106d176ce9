#!/bin/bash
# make demo: a small BitTorrent swarm on loopback (opentracker and two
# aria2c seeders sharing a folder with a short real video), mounted with
# ./p2pfs; lists it, checks a file's sha256, probes the video through the
# mount, prints timings. Then the same folder with no tracker at all:
# `p2pfs create` (no -t) and `p2pfs seed` beside one python3-libtorrent
# DHT node, and `p2pfs mount MAGNET` with only that node as its DHT
# bootstrap: the link's peer and metadata found through the DHT, listed, a
# file's sha256 checked, timings printed. Cleans up everything on exit.
# Nothing leaves 127.0.0.0/8. Needs the packages of .ci/deps.sh; run as
# root (FUSE).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/integration/lib.sh"
it_setup 7000
TRK=$IT_BASE

say() { printf '==> %s\n' "$*"; }

S=$T/src/p2pfs-demo
mkdir -p "$S/video" "$S/data"
say "making the demo content in $S"
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=duration=5:size=320x240:rate=25 \
	-f lavfi -i sine=frequency=440:duration=5 -c:v libx264 -preset ultrafast \
	-pix_fmt yuv420p -c:a aac -shortest -y "$S/video/testsrc.mp4" 2>"$LOGS/ffmpeg.log" ||
	ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=duration=5:size=320x240:rate=25 \
		-f lavfi -i sine=frequency=440:duration=5 -c:v mpeg4 -c:a mp2 -shortest \
		-y "$S/video/testsrc.mkv" 2>>"$LOGS/ffmpeg.log" ||
	fail "ffmpeg could not make the demo video"
video=$(cd "$S" && ls video/*)
gen_data "$S/data/random.bin" $((12 * 1024 * 1024 + 321))
printf 'Hello from a BitTorrent swarm on loopback.\n' >"$S/README.txt"
: >"$S/data/empty"

make_torrent "$S" 16 "$T/p2pfs-demo.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/p2pfs-demo.torrent")
say "torrent $T/p2pfs-demo.torrent, info-hash $ih"
start_opentracker $TRK "$ih"
start_aria2_seeder 127.0.0.2 $((TRK + 1)) "$T/p2pfs-demo.torrent" "$T/src"
start_aria2_seeder 127.0.0.3 $((TRK + 2)) "$T/p2pfs-demo.torrent" "$T/src"
wait_tracker_peers $TRK "$ih" 2
say "swarm up: opentracker on 127.0.0.1:$TRK, aria2c seeders on 127.0.0.2 and 127.0.0.3"

M=$T/mnt
say "p2pfs mount $T/p2pfs-demo.torrent $M"
mount_p2pfs "$T/p2pfs-demo.torrent" "$M" --bind 127.0.0.5 --port $((TRK + 50))
t0=$MOUNT_T0
with_timeout 10 ls -lR "$M" || fail "ls -lR of the mount failed"
t_ls=$(($(now_ms) - t0))
with_timeout 30 head -c 1 "$M/p2pfs-demo/$video" >/dev/null || fail "no first byte of the video"
t_first=$(($(now_ms) - t0))

a=$(sha_of "$S/data/random.bin")
t1=$(now_ms)
b=$(sha_of "$M/p2pfs-demo/data/random.bin") || true
t_read=$(($(now_ms) - t1))
[ "$a" = "$b" ] || fail "sha256 of data/random.bin through the mount is $b, want $a"
say "sha256 data/random.bin: $b (equal to the source)"

say "ffprobe $video through the mount:"
with_timeout 30 ffprobe -v error -show_entries format=format_name,duration:stream=codec_type,codec_name,width,height \
	-of compact "$M/p2pfs-demo/$video" || fail "ffprobe through the mount failed"

say "timings: mount -> ls -lR done ${t_ls} ms, mount -> first video byte ${t_first} ms, 12 MiB read ${t_read} ms"
umount_p2pfs "$M"

# ---- part 2: no tracker, no .torrent sent: a magnet link and the DHT ----
if ! "$IT_LT_PY" -c 'import libtorrent' 2>/dev/null; then
	say "part 2 (magnet link through the DHT) skipped: no python3-libtorrent"
	echo "demo: OK"
	exit 0
fi
DHT_IP=127.0.0.11 DHT_PORT=$((TRK + 60)) SEED_IP=127.0.0.12 SEED_PORT=$((TRK + 61))
say "part 2: the same folder with no tracker: p2pfs create (no -t) + p2pfs seed, one libtorrent DHT node"
"$P2PFS" create "$S" -o "$T/dht.torrent" >"$LOGS/create.out" 2>&1 ||
	fail "p2pfs create failed: $(cat "$LOGS/create.out")"
mag=$(sed -n 's/^magnet: *//p' "$LOGS/create.out")
[ -n "$mag" ] || fail "p2pfs create printed no magnet link"
"$IT_LT_PY" "$IT_ROOT/tests/integration/lt_dht_swarm.py" "$(printf '{"secs": 60, "boot": "%s:%d", "nodes": [{"role": "router", "ip": "%s", "port": %d}]}' \
	"$SEED_IP" "$SEED_PORT" "$DHT_IP" "$DHT_PORT")" >"$LOGS/dht-node.log" 2>&1 </dev/null &
it_track $!
start_p2pfs_seed "$SEED_IP" "$SEED_PORT" "$T/dht.torrent" "$S" --cache "$T/seed-cache" -v \
	--dht-bootstrap "$DHT_IP:$DHT_PORT"
# the seed's announce_peer reached the libtorrent node (p2pfs logs it)
for ((i = 0; i < 100; i++)); do
	grep -Eq 'lookup done .*\(announce\), [1-9][0-9]* announces' "$SEED_LOG" && break
	sleep 0.1
done
grep -Eq 'lookup done .*\(announce\), [1-9][0-9]* announces' "$SEED_LOG" ||
	fail "the seed did not announce itself to the DHT node"
say "p2pfs seed on $SEED_IP:$SEED_PORT announced to the DHT node on $DHT_IP:$DHT_PORT"

M2=$T/mnt-magnet
say "p2pfs mount --dht-bootstrap $DHT_IP:$DHT_PORT '$mag' $M2"
mount_p2pfs "$mag" "$M2" --cache "$T/cache2" --bind 127.0.0.13 --port $((TRK + 62)) \
	--dht-bootstrap "$DHT_IP:$DHT_PORT"
t0=$MOUNT_T0
t_mnt=$(($(now_ms) - t0))
with_timeout 10 ls -lR "$M2" || fail "ls -lR of the magnet's mount failed"
with_timeout 30 head -c 1 "$M2/p2pfs-demo/$video" >/dev/null || fail "no first byte of the video"
t_first=$(($(now_ms) - t0))
b=$(sha_of "$M2/p2pfs-demo/data/random.bin") || true
[ "$a" = "$b" ] || fail "sha256 of data/random.bin through the magnet's mount is $b, want $a"
say "sha256 data/random.bin: $b (equal to the source)"
# from the time stamps of the mount's log: the link's first peer (the
# DHT's answer) and the verified metadata, counted from the command's start
log_ms() {
	local l
	l=$(grep -m1 -- "$1" "$MOUNT_LOG") || return 1
	date -d "${l:0:23}" +%s%3N
}
t_peer=$(log_ms "first peer from the DHT") || fail "the seed was not found through the DHT"
t_meta=$(log_ms "magnet: metadata of 'p2pfs-demo'") || fail "no metadata line in the mount's log"
say "timings: mount -> first peer from the DHT $((t_peer - t0)) ms, -> metadata $((t_meta - t0)) ms, -> mounted ${t_mnt} ms, -> first video byte ${t_first} ms"
umount_p2pfs "$M2"
echo "demo: OK"
