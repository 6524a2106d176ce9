#!/bin/bash
# make demo: a small BitTorrent swarm on loopback (opentracker and two
# aria2c seeders sharing a folder with a short real video), mounted with
# ./p2pfs; lists it, checks a file's sha256, probes the video through the
# mount, prints timings. Cleans up everything on exit. Nothing leaves
# 127.0.0.0/8. Needs the packages of .ci/deps.sh; run as root (FUSE).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/integration/lib.sh"
it_setup 7000
TRK=7000

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
echo "demo: OK"
