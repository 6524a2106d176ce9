#!/bin/bash
# P2PFS_LOOPBACK_ONLY=1 (lib.sh exports it) keeps the DHT on loopback, and a
# hostile DHT node does not break it. Each mount runs under strace, which
# records every connect/sendto/sendmsg: not one may name an address off
# loopback.
#  1. no --dht-bootstrap and no saved nodes: the log says no public router
#     is used, and the DHT sends nothing at all;
#  2. --dht-bootstrap 192.0.2.1:6881 (TEST-NET-1): refused as not loopback;
#  3. a hostile node on loopback (the only bootstrap) answers every query
#     with nodes and peers off loopback, 2,000 peers per reply, garbage
#     datagrams and a flood of queries: the mount stays responsive, nothing
#     is sent off loopback, the peers it takes are bounded, and the real
#     seeder (given with --peer) still serves the right bytes.
# Loopback only; every wait bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9840
command -v strace >/dev/null || { log "SKIP: no strace"; exit 77; }
[ "${P2PFS_LOOPBACK_ONLY:-}" = 1 ] || fail "lib.sh did not export P2PFS_LOOPBACK_ONLY=1"

P_IP=127.0.0.81 H_IP=127.0.0.82 S_IP=127.0.0.83
H_PORT=$IT_BASE S_PORT=$((IT_BASE + 1))

gen_data "$T/data/x.bin" 2M
make_torrent "$T/data/x.bin" 16 "$T/x.torrent"

# p2pfs under strace (the wrapper execs: the mount's pid is p2pfs's; an
# ASan build's leak check cannot run under ptrace: off for these runs)
REAL_P2PFS=$P2PFS
traced() {
	cat >"$T/p2pfs-traced" <<EOF
#!/bin/sh
ASAN_OPTIONS=\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0
export ASAN_OPTIONS
exec strace -f -qq -e trace=connect,sendto,sendmsg,sendmmsg -o "$1" "$REAL_P2PFS" "\$@"
EOF
	chmod +x "$T/p2pfs-traced"
	P2PFS=$T/p2pfs-traced
}
# every IPv4/IPv6 destination in strace log $1 is loopback
only_loopback() {
	local bad
	bad=$(grep -Eo 'sin_addr=inet_addr\("[0-9.]+"\)|inet_pton\(AF_INET6?, "[0-9a-f:.]+"' "$1" |
		grep -Ev '"127\.|"::1"|"::ffff:127\.' | sort -u || true)
	[ -z "$bad" ] || fail "traffic off loopback in $1: $bad"
	log "$(grep -c 'sendto\|sendmsg' "$1" || true) sends traced, all to loopback"
}

# 1. nothing to bootstrap from: no router, no datagram
traced "$T/strace1.log"
mount_p2pfs "$T/x.torrent" "$T/mnt1" --no-trackers --bind "$P_IP" --port $((IT_BASE + 2)) \
	--cache "$T/cache1"
P2PFS=$REAL_P2PFS # (status, umount: not traced)
sleep 2
umount_p2pfs "$T/mnt1"
grep -q 'dht: no saved DHT node and no --dht-bootstrap; no public router used (P2PFS_LOOPBACK_ONLY)' "$MOUNT_LOG" ||
	fail "no 'no public router' line: $(grep -m5 dht "$MOUNT_LOG")"
grep -q 'dht: stopped: 0 datagrams (0 bytes) sent' "$MOUNT_LOG" ||
	fail "the DHT sent datagrams with nothing to bootstrap from: $(grep 'dht: stopped' "$MOUNT_LOG")"
only_loopback "$T/strace1.log"
log "1: no bootstrap, no public router, nothing sent"

# 2. a bootstrap off loopback is refused
traced "$T/strace2.log"
mount_p2pfs "$T/x.torrent" "$T/mnt2" --no-trackers --bind "$P_IP" --port $((IT_BASE + 3)) \
	--cache "$T/cache2" --dht-bootstrap 192.0.2.1:6881
P2PFS=$REAL_P2PFS
sleep 2
umount_p2pfs "$T/mnt2"
grep -q "dht: bootstrap '192.0.2.1:6881' (192.0.2.1:6881) not used: not a loopback address" "$MOUNT_LOG" ||
	fail "the off-loopback bootstrap was not refused: $(grep -m5 dht "$MOUNT_LOG")"
grep -q 'dht: stopped: 0 datagrams (0 bytes) sent' "$MOUNT_LOG" ||
	fail "datagrams sent: $(grep 'dht: stopped' "$MOUNT_LOG")"
only_loopback "$T/strace2.log"
log "2: --dht-bootstrap 192.0.2.1 refused, nothing sent"

# 3. a hostile node
cat >"$T/hostile_dht.py" <<'PY'
import os, random, socket, sys, time
ip, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

def benc(v):
    if isinstance(v, int): return b'i%de' % v
    if isinstance(v, bytes): return b'%d:%s' % (len(v), v)
    if isinstance(v, list): return b'l' + b''.join(benc(x) for x in v) + b'e'
    if isinstance(v, dict):
        return b'd' + b''.join(benc(k) + benc(v[k]) for k in sorted(v)) + b'e'
    raise TypeError(v)

def tid_of(d):
    # the transaction id of a query, without a full decoder
    i = d.find(b'1:t')
    if i < 0: return b'aa'
    j = d.index(b':', i + 3)
    n = int(d[i + 3:j])
    return d[j + 1:j + 1 + n]

def compact(a, p):
    return socket.inet_aton(a) + p.to_bytes(2, 'big')

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((ip, port))
s.settimeout(0.05)
me = os.urandom(20)
t0 = time.time(); victims = set(); n_in = 0
while time.time() - t0 < secs and os.getppid() != 1:
    try:
        d, src = s.recvfrom(65536)
        n_in += 1
        victims.add(src)
        # nodes: half off loopback (must never be contacted), half loopback
        nodes = b''.join(os.urandom(20) + compact('192.0.2.%d' % i, 6881) for i in range(1, 5))
        nodes += b''.join(os.urandom(20) + compact('127.0.0.%d' % (200 + i), 9) for i in range(4))
        # 2,000 peers, one in two off loopback, the others closed ports
        values = []
        for i in range(1000):
            values.append(compact('192.0.2.%d' % (i % 250 + 1), 1000 + i))
            values.append(compact('127.1.%d.%d' % (i // 250, i % 250 + 1), 9))
        r = {b't': tid_of(d), b'y': b'r', b'r': {b'id': me, b'nodes': nodes,
             b'token': b'x' * 8, b'values': values}}
        s.sendto(benc(r), src)
    except socket.timeout:
        pass
    # after 4 s of lies: garbage and a flood of queries at everyone who
    # spoke to us (which gets this node ignored)
    for v in (victims if time.time() - t0 > 4 else ()):
        for _ in range(20):
            junk = random.choice([b'd' + os.urandom(30), os.urandom(40), b'de',
                                  b'd1:ad2:id20:' + os.urandom(20) + b'e1:q4:ping1:t2:xx1:y1:qe'])
            s.sendto(junk, v)
print('hostile: %d datagrams in, %d victims' % (n_in, len(victims)), flush=True)
PY
"$IT_PY" "$T/hostile_dht.py" "$H_IP" "$H_PORT" 60 >"$LOGS/hostile.log" 2>&1 </dev/null &
it_track $!
# the real seeder, reached by --peer (the DHT here only lies)
"$REAL_P2PFS" seed -f -v --log "$LOGS/seed.log" --bind "$S_IP" --port "$S_PORT" --cache "$T/seedcache" \
	--no-trackers --no-dht "$T/x.torrent" "$T/data/x.bin" >"$LOGS/seed.out" 2>&1 </dev/null &
it_track $!
wait_port "$S_IP" "$S_PORT" 20 || fail "the seeder did not start: $(tail -n 3 "$LOGS/seed.out")"

traced "$T/strace3.log"
mount_p2pfs "$T/x.torrent" "$T/mnt3" --no-trackers --bind "$P_IP" --port $((IT_BASE + 4)) \
	--cache "$T/cache3" --dht-bootstrap "$H_IP:$H_PORT" --peer "$S_IP:$S_PORT" -v
P2PFS=$REAL_P2PFS
got=$(with_timeout 60 sha256sum <"$T/mnt3/x.bin" | cut -d' ' -f1) || fail "reading x.bin failed"
[ "$got" = "$(sha_of "$T/data/x.bin")" ] || fail "x.bin: wrong sha256"
sleep 6 # the lookups of a torrent with few peers come again
t0=$(now_ms)
st=$(with_timeout 10 "$P2PFS" status "$T/mnt3" 2>&1) || fail "status under the flood: $st"
log "status answered in $(($(now_ms) - t0)) ms: $(grep -m1 '^  dht' <<<"$st")"
peers=$(grep -m1 -Eo '[0-9]+ peers?  ' <<<"$st" | grep -Eo '[0-9]+' || echo 0)
# each lookup keeps at most 256 distinct peers, the codec 128 a reply; and
# none of the 1,000 off loopback
[ "$peers" -le 1024 ] || fail "the DHT took $peers peers from one hostile node"
[ "$peers" -ge 1 ] || fail "the DHT took none of the hostile node's loopback peers (the reply path is broken?)"
umount_p2pfs "$T/mnt3"
grep -q "connecting to '192\.0\.2\." "$MOUNT_LOG" && fail "p2pfs connected to a peer off loopback"
only_loopback "$T/strace3.log"
log "3: $(grep -m1 -o 'dht: stopped: .*' "$MOUNT_LOG")"
log "ok"
