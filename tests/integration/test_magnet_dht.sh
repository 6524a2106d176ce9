#!/bin/bash
# test_magnet_dht — a bare magnet link (no tr=, no x.pe=) whose only seeder
# is a python3-libtorrent session, found through the DHT alone: two
# libtorrent DHT nodes and the seeder on loopback (lt_dht_swarm.py), p2pfs
# with --no-trackers and --dht-bootstrap to one of those nodes.
#  (a) `p2pfs mount MAGNET`: the metadata comes from the seeder found
#      through the DHT (by the metadata fetch's engine, then the mount's
#      own engine finds it again for the data); every file reads with the
#      right sha256; `p2pfs info MAGNET -o` gets the same info dict, and
#      a `--no-wait` mount reads right too;
#  (d) the same magnet in a fresh cache, mounted without -f (the fetch's
#      engine in the command, the daemon's after the fork: both run the
#      DHT under the one identity saved in the cache root, neither finds it
#      locked), part of it read, unmounted; every
#      peer and DHT node stopped; remounted: it comes up offline at once
#      (the info dict from the cache folder), the cached ranges read with
#      the right bytes, and a read of an uncached range fails with
#      ETIMEDOUT within --read-timeout (3 s).
# Loopback only; every wait bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9900
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }

R0=127.0.0.111 R1=127.0.0.112 S_IP=127.0.0.113 P_IP=127.0.0.114
R0_PORT=$IT_BASE R1_PORT=$((IT_BASE + 1)) S_PORT=$((IT_BASE + 2))
P_PORT=$((IT_BASE + 3))

S=$T/data/share
gen_data "$S/film.bin" $((16 * 1024 * 1024 + 777)) # the first file: piece k at k * 64 KiB
gen_data "$S/sub/notes.bin" 300K
echo hello >"$S/hello.txt"
make_torrent "$S" 16 "$T/share.torrent" # no tracker
IH=$(infohash "$T/share.torrent")

cfg=$(printf '{"secs": 150, "boot": "%s:%d", "watch": ["%s"], "nodes": [
 {"role": "router", "ip": "%s", "port": %d, "boot": "%s:%d"},
 {"role": "router", "ip": "%s", "port": %d},
 {"role": "seed", "ip": "%s", "port": %d, "torrents": ["%s"], "save": "%s"}]}' \
	"$R0" "$R0_PORT" "$IH" "$R0" "$R0_PORT" "$R1" "$R1_PORT" "$R1" "$R1_PORT" \
	"$S_IP" "$S_PORT" "$T/share.torrent" "$T/data")
"$IT_LT_PY" "$(dirname "$0")/lt_dht_swarm.py" "$cfg" >"$LOGS/swarm.log" 2>&1 </dev/null &
it_track $!
SWARM=$!
for ((i = 0; i < 400; i++)); do
	grep -q "^router: $IH has peers" "$LOGS/swarm.log" 2>/dev/null && break
	pid_alive "$SWARM" || fail "the libtorrent swarm exited: $(tail -n 5 "$LOGS/swarm.log")"
	sleep 0.1
done
grep -q "^router: $IH has peers" "$LOGS/swarm.log" ||
	fail "the seeder's announce never reached the DHT: $(tail -n 5 "$LOGS/swarm.log")"
log "$(grep -m1 '^router:' "$LOGS/swarm.log")"

# (a) the magnet alone, through the DHT alone
MAG="magnet:?xt=urn:btih:$IH&dn=share"
mount_p2pfs "$MAG" "$T/mnt" --no-trackers --dht-bootstrap "$R0:$R0_PORT" \
	--bind "$P_IP" --port "$P_PORT" --metadata-timeout 30
LOG1=$MOUNT_LOG
t_mounted=$(($(now_ms) - MOUNT_T0))
grep -q "magnet: fetching the metadata of 'share'" "$LOG1" || fail "no metadata fetch in the log"
grep -q "first peer from the DHT ('$S_IP:$S_PORT')" "$LOG1" ||
	fail "the seeder was not found through the DHT: $(grep -m5 dht "$LOG1")"
meta=$(grep -m1 -o "metadata of 'share': .*" "$LOG1") || fail "no metadata line"
with_timeout 20 dd if="$T/mnt/share/film.bin" of=/dev/null bs=64k count=1 2>/dev/null ||
	fail "no first 64 KiB"
t_first=$(($(now_ms) - MOUNT_T0))
compare_trees "$S" "$T/mnt/share"
# the data came through the mount's own engine, which found the seeder
# through the DHT too (a second "first peer" line: the fetch's engine is gone)
n=$(grep -c "first peer from the DHT ('$S_IP:$S_PORT')" "$LOG1")
[ "$n" -ge 2 ] || fail "the mount's engine did not find the seeder through the DHT ($n line(s))"
umount_p2pfs "$T/mnt"
[ -s "$T/cache/$IH/torrent" ] || fail "the metadata is not kept in the cache folder"
[ -s "$T/cache/dht.dat" ] || fail "no DHT state saved under the cache root"
log "(a) $meta; mounted after $t_mounted ms, first 64 KiB after $t_first ms; every file right"
# `p2pfs info MAGNET -o` through the DHT alone too (a cache of its own)
with_timeout 40 "$P2PFS" info --cache "$T/c-info" --dht-bootstrap "$R0:$R0_PORT" \
	--bind "$P_IP" --port "$P_PORT" --metadata-timeout 30 -o "$T/got.torrent" "$MAG" \
	>"$LOGS/info.out" 2>"$LOGS/info.err" || fail "info MAGNET through the DHT: $(cat "$LOGS/info.err")"
[ "$(infohash "$T/got.torrent")" = "$IH" ] || fail "info -o wrote a torrent of another info-hash"
grep -q "film.bin" "$LOGS/info.out" || fail "info MAGNET does not list the files: $(cat "$LOGS/info.out")"
# --no-wait: live at once, the metadata through the DHT on the daemon's
# thread, then the mount's engine (the same port, the same DHT identity)
mount_p2pfs "$MAG" "$T/mnt" --cache "$T/c3" --no-wait --no-trackers --dht-bootstrap "$R0:$R0_PORT" \
	--bind "$P_IP" --port "$P_PORT" --metadata-timeout 30
[ "$(sha_of "$T/mnt/share/sub/notes.bin")" = "$(sha_of "$S/sub/notes.bin")" ] ||
	fail "--no-wait: notes.bin differs"
n=$(grep -c "first peer from the DHT ('$S_IP:$S_PORT')" "$MOUNT_LOG")
[ "$n" -ge 2 ] || fail "--no-wait: the fetch and the mount did not both find the seeder through the DHT"
umount_p2pfs "$T/mnt"
log "(a) info MAGNET -o and mount --no-wait through the DHT alone too"

# (d) part of it read, every peer gone, remounted offline. This first
# mount is the everyday one: no -f, so the metadata fetch's engine runs in
# the command, the daemon's own engine after the fork; both run the DHT
# under the one saved identity (dht.dat and its lock under the cache root)
mkdir -p "$T/mnt"
IT_MOUNTS+=("$T/mnt")
DLOG=$LOGS/p2pfs-daemon.log
rc=0
with_timeout 40 "$P2PFS" mount --cache "$T/c2" --log "$DLOG" -v --no-trackers \
	--dht-bootstrap "$R0:$R0_PORT" --bind "$P_IP" --port "$P_PORT" --metadata-timeout 30 \
	"$MAG" "$T/mnt" >"$LOGS/p2pfs-daemon.out" 2>&1 || rc=$?
# the daemon (found by its unique mount point) is ours to clean up
for pid in $(pgrep -f -- "$T/mnt" || true); do it_track "$pid"; done
[ "$rc" = 0 ] || fail "p2pfs mount MAGNET (daemon mode) exited $rc: $(cat "$LOGS/p2pfs-daemon.out")"
is_mounted "$T/mnt" || fail "p2pfs mount returned 0 but $T/mnt is not mounted"
# the first 1 MiB of film.bin (16 pieces of 64 KiB), and notes.bin
with_timeout 30 dd if="$T/mnt/share/film.bin" of="$T/head.bin" bs=64k count=16 2>/dev/null ||
	fail "reading the head of film.bin failed"
cmp -s "$T/head.bin" <(head -c $((1024 * 1024)) "$S/film.bin") || fail "the head of film.bin differs"
[ "$(sha_of "$T/mnt/share/sub/notes.bin")" = "$(sha_of "$S/sub/notes.bin")" ] || fail "notes.bin differs"
with_timeout 10 "$P2PFS" umount "$T/mnt" >"$LOGS/umount.out" 2>&1 || fail "p2pfs umount: $(cat "$LOGS/umount.out")"
left=$(pgrep -f -- "$T/mnt" || true)
[ -z "$left" ] || fail "p2pfs daemon (pid $left) still running after p2pfs umount returned"
# an uncached piece of film.bin (its head, tail and read-ahead window are
# fetched on their own): the highest one the verified map lacks
np=$("$P2PFS" info "$T/share.torrent" | sed -n 's/^pieces: *//p')
map=$(it_py verified "$T/c2" "$IH" "$np")
hole=$(awk -v m="$map" -v n=$(((16 * 1024 * 1024) / 65536)) \
	'BEGIN { for (k = n - 1; k >= 16; k--) if (substr(m, k + 1, 1) == "0") { print k; exit } }')
[ -n "$hole" ] || fail "every piece of film.bin is cached after reading its head: $map"
ids=$(grep -o 'dht: node [0-9a-f]\{40\}' "$DLOG" | cut -d' ' -f3 | sort -u)
if [ "$(grep -c 'dht: node [0-9a-f]\{40\}' "$DLOG")" != 2 ] || [ "$(wc -l <<<"$ids")" != 1 ]; then
	fail "the fetch and the daemon did not both run the DHT under one id: $(grep 'dht: node' "$DLOG")"
fi
grep -q "in use by another p2pfs" "$DLOG" && fail "the daemon found the DHT identity locked"
n=$(grep -c "first peer from the DHT ('$S_IP:$S_PORT')" "$DLOG")
[ "$n" -ge 2 ] || fail "the fetch and the daemon did not both find the seeder through the DHT"
log "(d) daemon mode: the fetch and the daemon ran the DHT as node $ids"
stop_pid "$SWARM"
log "(d) the seeder and both DHT nodes stopped"
t0=$(now_ms)
mount_p2pfs "$MAG" "$T/mnt" --cache "$T/c2" --no-trackers --dht-bootstrap "$R0:$R0_PORT" \
	--bind "$P_IP" --port "$P_PORT" --metadata-timeout 30 --read-timeout 3
dt=$(($(now_ms) - t0))
((dt < 3000)) || fail "the offline remount took $dt ms"
grep -q "magnet: metadata of 'share' from the cache" "$MOUNT_LOG" ||
	fail "the remount did not take the metadata from the cache folder"
SHA_TIMEOUT=10
with_timeout 10 dd if="$T/mnt/share/film.bin" of="$T/head2.bin" bs=64k count=16 2>/dev/null ||
	fail "the cached head of film.bin does not read offline"
cmp -s "$T/head2.bin" "$T/head.bin" || fail "the cached head of film.bin differs offline"
[ "$(sha_of "$T/mnt/share/sub/notes.bin")" = "$(sha_of "$S/sub/notes.bin")" ] ||
	fail "the cached notes.bin differs offline"
t1=$(now_ms)
rc=0
err=$(with_timeout 15 dd if="$T/mnt/share/film.bin" of=/dev/null bs=64k skip="$hole" count=1 2>&1) || rc=$?
dr=$(($(now_ms) - t1))
[ "$rc" != 0 ] || fail "an uncached range (piece $hole) read offline"
[ "$rc" != 124 ] || fail "an uncached read hung past 15 s (--read-timeout 3)"
grep -q "Connection timed out" <<<"$err" || fail "the uncached read failed with '$err', not ETIMEDOUT"
((dr >= 2500 && dr < 6000)) || fail "the uncached read failed after $dr ms, not about 3 s"
umount_p2pfs "$T/mnt"
log "(d) offline remount live after $dt ms; cached ranges right; a read of uncached piece $hole: ETIMEDOUT after $dr ms"
log "PASS"
