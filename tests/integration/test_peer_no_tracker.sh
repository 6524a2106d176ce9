#!/bin/bash
# A torrent with no tracker at all: p2pfs finds its one aria2c seeder only
# through --peer (with --no-trackers).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 7300
P=$IT_BASE

gen_data "$T/src/lone.bin" $((6 * 1024 * 1024 + 77))
make_torrent "$T/src/lone.bin" 18 "$T/lone.torrent"
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/lone.torrent" "$T/src"

mount_p2pfs "$T/lone.torrent" "$T/mnt" --no-trackers --peer 127.0.0.2:$((P + 1)) \
	--bind 127.0.0.5 --port $((P + 50))
a=$(sha_of "$T/src/lone.bin")
b=$(sha_of "$T/mnt/lone.bin") || true
[ "$a" = "$b" ] || fail "sha256 through the mount $b, source $a"
umount_p2pfs "$T/mnt"
log PASS
