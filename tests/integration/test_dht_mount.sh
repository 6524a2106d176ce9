#!/bin/bash
# p2pfs mount finds its seeder through the DHT alone: a python3-libtorrent
# seeder of two trackerless torrents and two libtorrent DHT nodes on
# loopback (tests/integration/lt_dht_swarm.py), no tracker, no --peer.
#  (a) `mount A.torrent --no-trackers --dht-bootstrap ROUTER`: the seeder is
#      found through the DHT (the peer's source is the DHT), every byte
#      read has the right sha256, `p2pfs status` shows the DHT, the
#      seeder's PORT message (BEP 5) makes p2pfs ping its DHT node;
#  (c) the node id and nodes saved at the unmount (CACHE/dht.dat) bring a
#      second mount, of B, with no --dht-bootstrap back into the DHT: it
#      finds the seeder again, under the same node id; a third p2pfs on
#      the same cache root meanwhile uses another id.
# Loopback only; every wait bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9800
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }

R0=127.0.0.61 R1=127.0.0.62 S_IP=127.0.0.63 P_IP=127.0.0.64
R0_PORT=$IT_BASE R1_PORT=$((IT_BASE + 1)) S_PORT=$((IT_BASE + 2))
P_PORT=$((IT_BASE + 3)) P2_PORT=$((IT_BASE + 4))

gen_data "$T/data/a/one.bin" 3M
gen_data "$T/data/a/two.bin" 700K
gen_data "$T/data/b.bin" 2M
make_torrent "$T/data/a" 16 "$T/a.torrent"
make_torrent "$T/data/b.bin" 16 "$T/b.torrent"
IH_A=$(infohash "$T/a.torrent") IH_B=$(infohash "$T/b.torrent")

cfg=$(printf '{"secs": 150, "boot": "%s:%d", "watch": ["%s", "%s"], "nodes": [
 {"role": "router", "ip": "%s", "port": %d, "boot": "%s:%d"},
 {"role": "router", "ip": "%s", "port": %d},
 {"role": "seed", "ip": "%s", "port": %d, "torrents": ["%s", "%s"], "save": "%s"}]}' \
	"$R0" "$R0_PORT" "$IH_A" "$IH_B" \
	"$R0" "$R0_PORT" "$R1" "$R1_PORT" "$R1" "$R1_PORT" \
	"$S_IP" "$S_PORT" "$T/a.torrent" "$T/b.torrent" "$T/data")
"$IT_LT_PY" "$(dirname "$0")/lt_dht_swarm.py" "$cfg" >"$LOGS/swarm.log" 2>&1 </dev/null &
it_track $!
SWARM=$!
# the seeder's announces reached the DHT (a router's lookup sees them)
announced() { [ "$(grep -c '^router: .* has peers' "$LOGS/swarm.log" 2>/dev/null || true)" = 2 ]; }
for ((i = 0; i < 400; i++)); do
	announced && break
	pid_alive "$SWARM" || fail "the libtorrent swarm exited: $(tail -n 5 "$LOGS/swarm.log")"
	sleep 0.1
done
announced ||
	fail "the seeder's announces never reached the DHT: $(tail -n 5 "$LOGS/swarm.log")"
log "$(grep '^router:' "$LOGS/swarm.log" | tr '\n' ' ')"

# (a) through the DHT alone
mount_p2pfs "$T/a.torrent" "$T/mnt" --no-trackers --bind "$P_IP" --port "$P_PORT" \
	--dht-bootstrap "$R0:$R0_PORT" -v
LOG1=$MOUNT_LOG
# before any read: the seeder is listed as found through the DHT (the
# peer snapshot is published every second)
for ((i = 0; i < 50; i++)); do
	pl=$(xattr_of "$T/mnt" user.p2pfs.peers)
	grep -Eq "^$S_IP:$S_PORT .* dht$" <<<"$pl" && break
	sleep 0.2
done
grep -Eq "^$S_IP:$S_PORT .* dht$" <<<"$pl" ||
	fail "the peer list does not give the seeder's source as dht: $pl"
for f in one.bin two.bin; do
	got=$(with_timeout 60 sha256sum <"$T/mnt/a/$f" | cut -d' ' -f1) ||
		fail "reading a/$f failed"
	[ "$got" = "$(sha_of "$T/data/a/$f")" ] || fail "a/$f: wrong sha256"
done
log "read every file of A through the DHT: right sha256"
grep -q "first peer from the DHT ('$S_IP:$S_PORT')" "$LOG1" ||
	fail "the seeder was not found through the DHT: $(grep -m5 "dht" "$LOG1")"
log "$(grep -m1 -o 'first peer from the DHT.*' "$LOG1")"
# (the snapshot status reads is published every second)
re='^  dht +[1-9][0-9]* good nodes? \([0-9]+ in the table\), [0-9]+ lookups?, [1-9][0-9]* peers?'
for ((i = 0; i < 30; i++)); do
	st=$(with_timeout 20 "$P2PFS" status "$T/mnt" 2>&1) || fail "status failed: $st"
	grep -Eq "$re" <<<"$st" && break
	sleep 0.2
done
grep -Eq "$re" <<<"$st" || fail "status shows no DHT line with a peer: $st"
log "status: $(grep -m1 '^  dht' <<<"$st")"
src=$(xattr_of "$T/mnt" user.p2pfs.sources)
grep -Eq '^dht state=ok nodes=[1-9]' <<<"$src" || fail "user.p2pfs.sources: no dht record: $src"
umount_p2pfs "$T/mnt"
# BEP 5's PORT: both set the DHT bit, libtorrent told its DHT port, p2pfs
# pinged it
grep -q "dht: a peer's PORT message: pinging '$S_IP:$S_PORT'" "$LOG1" ||
	fail "no PORT message from the libtorrent seeder was acted on"
[ -s "$T/cache/dht.dat" ] || fail "no DHT state saved under the cache root"
ID1=$(grep -m1 -o 'dht: node [0-9a-f]\{40\}' "$LOG1" | cut -d' ' -f3)
grep -q 'dht: stopped: ' "$LOG1" || fail "no DHT stop line"
log "$(grep -m1 -o 'dht: stopped: .*' "$LOG1")"

# (c) the saved nodes alone (no --dht-bootstrap) lead back into the DHT
mount_p2pfs "$T/b.torrent" "$T/mnt2" --no-trackers --bind "$P_IP" --port "$P2_PORT"
LOG2=$MOUNT_LOG
grep -q "dht: node $ID1 .*: a saved state, 0 bootstrap nodes" "$LOG2" ||
	fail "the second mount did not reuse the saved id $ID1: $(grep -m3 'dht' "$LOG2")"
got=$(with_timeout 60 sha256sum <"$T/mnt2/b.bin" | cut -d' ' -f1) || fail "reading b.bin failed"
[ "$got" = "$(sha_of "$T/data/b.bin")" ] || fail "b.bin: wrong sha256"
grep -q "first peer from the DHT ('$S_IP:$S_PORT')" "$LOG2" ||
	fail "the second mount did not find the seeder through the DHT"
log "second mount, saved nodes only: $(grep -m1 -o 'first peer from the DHT.*' "$LOG2")"
# a third p2pfs on the same cache root meanwhile: the saved identity is
# in use, so it takes the saved nodes under an id of its own
mount_p2pfs "$T/a.torrent" "$T/mnt3" --no-trackers --bind "$P_IP" --port $((IT_BASE + 5))
LOG3=$MOUNT_LOG
grep -q "dht: the DHT identity in '$T/cache' is in use by another p2pfs" "$LOG3" ||
	fail "a concurrent p2pfs did not see the identity in use: $(grep -m3 dht "$LOG3")"
grep -q "dht: node $ID1 " "$LOG3" && fail "two processes run the same DHT node id"
umount_p2pfs "$T/mnt3"
umount_p2pfs "$T/mnt2"
log "ok"
