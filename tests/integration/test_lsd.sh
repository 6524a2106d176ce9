#!/bin/bash
# Local service discovery (BEP 14), inside a network namespace this test
# makes (lo only, multicast on, a route for 239.0.0.0/8): no multicast ever
# leaves it. Without a tracker or a --peer:
#  1. `p2pfs seed --lsd` and `p2pfs mount --lsd` of one torrent find each
#     other through LSD alone, and the mount reads the right bytes;
#  2. a python3-libtorrent seeder (enable_lsd) in the namespace is found
#     by a mount through LSD too, and that mount reads the right bytes
#     (skipped without python3-libtorrent);
#  3. a private torrent (info private=1) seeded and mounted the same way:
#     no LSD datagram with its info-hash is ever sent (tcpdump on the
#     namespace's lo sees the public ones, never it) and the mount finds no
#     peer.
# SKIP (77) when a namespace cannot be made here.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 9800
P=$IT_BASE

NS=p2pfs-lsd-$$-$P
NSFILE=/run/netns/$NS
if ! ip netns add "$NS" 2>"$LOGS/netns.err"; then
	log "SKIP: cannot make a network namespace: $(cat "$LOGS/netns.err")"
	exit 77
fi
# delete the namespace however the test ends (the processes still in it
# keep it alive until lib.sh's cleanup stops them)
trap 'rc_=$?; set +e; ip netns del "$NS" 2>/dev/null; (exit $rc_); it_cleanup' EXIT
ip -n "$NS" link set lo up
ip -n "$NS" link set lo multicast on
ip -n "$NS" route add 239.0.0.0/8 dev lo ||
	{ log "SKIP: no multicast route in the namespace"; exit 77; }

# everything p2pfs runs inside the namespace (the FUSE mount is still seen
# here: nsenter changes the network namespace only)
REAL=$P2PFS
P2PFS=$T/p2pfs-ns
cat >"$P2PFS" <<EOF
#!/bin/sh
exec nsenter --net=$NSFILE -- "$REAL" "\$@"
EOF
chmod +x "$P2PFS"
# listening ports are in the namespace: look there
wait_port() {
	local ip=$1 port=$2 n=$(($3 * 10)) i
	for ((i = 0; ; i++)); do
		if nsenter --net="$NSFILE" ss -Hltn "src $ip:$port" 2>/dev/null | grep -q .; then return 0; fi
		if ((i >= n)); then return 1; fi
		sleep 0.1
	done
}

nsenter --net="$NSFILE" tcpdump -i lo -n -U -A -w "$T/lsd.pcap" udp port 6771 \
	>"$LOGS/tcpdump.out" 2>&1 </dev/null &
it_track $!
TCPDUMP=$!
for ((i = 0; i < 50; i++)); do
	grep -q 'listening on' "$LOGS/tcpdump.out" && break
	sleep 0.1
done

S=$T/src/l
gen_data "$S/a.bin" $((3 * 1024 * 1024 + 77))
make_torrent "$S" 18 "$T/pub.torrent"
ih=$(infohash "$T/pub.torrent")

# ---- 1. p2pfs seed and p2pfs mount ----
start_p2pfs_seed 127.0.0.2 $((P + 2)) "$T/pub.torrent" "$S" --lsd -v --cache "$T/c-seed"
seed=$LAST_PID
grep -q 'local peer discovery on' "$SEED_LOG" || fail "the seed did not start LSD: $(grep lsd "$SEED_LOG")"
t0=$(now_ms)
mount_p2pfs "$T/pub.torrent" "$T/mnt1" --cache "$T/c1" --lsd --bind 127.0.0.3 --port $((P + 3))
timed_read "$T/mnt1/l/a.bin" "$S/a.bin" 30
log "LSD: the mount read the file $(($(now_ms) - t0)) ms after it started"
grep -q "lsd: '127.0.0.3:$((P + 3))' has" "$SEED_LOG" ||
	fail "the seed did not hear the mount's announce: $(grep lsd "$SEED_LOG")"
# a hostile LAN: garbage, oversized datagrams, announces of unknown
# torrents, of ours with port 0 or 99999, 100 hashes in one: the seed and
# the mount stay up and answer
nsenter --net="$NSFILE" "$IT_PY" - "$ih" <<'PY' || fail "the LSD flood did not run"
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('127.0.0.9'))
s.bind(('127.0.0.9', 0))
g = ('239.192.152.143', 6771)
def ann(port, hashes):
    return ('BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: %s\r\n%s\r\n\r\n'
            % (port, ''.join('Infohash: %s\r\n' % h for h in hashes))).encode()
for i in range(3000):
    k = i % 6
    if k == 0:
        m = os.urandom(i % 1500)
    elif k == 1:
        m = b'BT-SEARCH * HTTP/1.1\r\n' + b'A' * 60000
    elif k == 2:
        m = ann(6881, [os.urandom(20).hex()])
    elif k == 3:
        m = ann(0 if i % 2 else 99999, [sys.argv[1]])
    elif k == 4:
        m = ann(7000 + i % 100, [os.urandom(20).hex() for _ in range(100)])
    else:
        m = ann('x' * 500, [sys.argv[1]])
    s.sendto(m, g)
print('sent')
PY
sleep 1
pid_alive "$seed" || fail "the seed died of the LSD flood"
with_timeout 10 "$P2PFS" status "$T/mnt1" >/dev/null 2>&1 || fail "the mount does not answer after the LSD flood"
timed_read "$T/mnt1/l/a.bin" "$S/a.bin" 10
log "a flood of 3000 bad LSD datagrams changed nothing"
umount_p2pfs "$T/mnt1"
stop_p2pfs_seed "$seed"

# ---- 2. a libtorrent seeder with enable_lsd ----
if "$IT_LT_PY" -c 'import libtorrent' 2>/dev/null; then
	cat >"$T/ltlsd.py" <<'PYEOF'
import sys, time
import libtorrent as lt
ip, port, torrent, data = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ses = lt.session({
    'listen_interfaces': '%s:%d' % (ip, port), 'outgoing_interfaces': ip,
    'enable_dht': False, 'enable_lsd': True, 'enable_upnp': False,
    'enable_natpmp': False, 'dht_bootstrap_nodes': '',
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'alert_mask': 0})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = data
h = ses.add_torrent(atp)
said = False
t0 = time.time()
while time.time() - t0 < 300:
    if h.status().is_seeding and not said:
        print('seeding', flush=True)
        said = True
    time.sleep(0.2)
PYEOF
	nsenter --net="$NSFILE" "$IT_LT_PY" "$T/ltlsd.py" 127.0.0.4 $((P + 4)) "$T/pub.torrent" "$T/src" \
		>"$LOGS/ltlsd.out" 2>&1 </dev/null &
	it_track $!
	lt=$!
	for ((i = 0; i < 300; i++)); do
		grep -q '^seeding' "$LOGS/ltlsd.out" && break
		pid_alive "$lt" || fail "libtorrent died: $(tail -n 5 "$LOGS/ltlsd.out")"
		sleep 0.1
	done
	grep -q '^seeding' "$LOGS/ltlsd.out" || fail "libtorrent not seeding after 30 s"
	t0=$(now_ms)
	mount_p2pfs "$T/pub.torrent" "$T/mnt2" --cache "$T/c2" --lsd -v --bind 127.0.0.5 --port $((P + 5))
	timed_read "$T/mnt2/l/a.bin" "$S/a.bin" 60
	log "LSD with libtorrent: the mount read the file $(($(now_ms) - t0)) ms after it started"
	umount_p2pfs "$T/mnt2"
	stop_pid "$lt"
else
	log "no python3-libtorrent: part 2 skipped"
fi

# ---- 3. a private torrent: never announced ----
mktorrent -d -p -l 18 -o "$T/priv.torrent" "$S" >>"$LOGS/mktorrent.log" 2>&1 ||
	fail "cannot make the private torrent"
pih=$(infohash "$T/priv.torrent")
[ "$pih" != "$ih" ] || fail "the private torrent has the public one's info-hash"
start_p2pfs_seed 127.0.0.6 $((P + 6)) "$T/priv.torrent" "$S" --lsd -v --cache "$T/c-priv"
pseed=$LAST_PID
# LSD runs (so no announce below means: not for a private torrent)
grep -q 'local peer discovery on' "$SEED_LOG" || fail "the private seed did not start LSD"
mount_p2pfs "$T/priv.torrent" "$T/mnt3" --cache "$T/c3" --lsd -v --bind 127.0.0.7 --port $((P + 7))
sleep 3
np=$(with_timeout 10 "$P2PFS" status "$T/mnt3" 2>&1 | grep -c '^  peer ' || true)
umount_p2pfs "$T/mnt3"
stop_p2pfs_seed "$pseed"
sleep 0.5
kill -INT "$TCPDUMP" 2>/dev/null
wait_exit "$TCPDUMP" 5 || true
tcpdump -n -r "$T/lsd.pcap" -A 2>/dev/null >"$T/lsd.txt" || true
# the public torrent's announces by p2pfs (the flood named it too)
tcpdump -n -r "$T/lsd.pcap" -A 'src host 127.0.0.2 or src host 127.0.0.3' \
	2>/dev/null >"$T/lsd-p2pfs.txt" || true
pub=$(grep -ci "infohash: *$ih" "$T/lsd-p2pfs.txt" || true)
priv=$(grep -ci "infohash: *$pih" "$T/lsd.txt" || true)
log "captured LSD announces: $pub of the public torrent by p2pfs, $priv of the private one by anyone"
((pub >= 2)) || fail "tcpdump saw $pub announces of the public torrent (wanted the seed's and the mount's)"
[ "$priv" = 0 ] || fail "the private torrent was announced by LSD ($priv datagrams)"
[ "${np:-0}" = 0 ] || fail "the private mount found $np peer(s) without a tracker"
log PASS
