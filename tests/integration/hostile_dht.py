#!/usr/bin/env python3
"""A hostile DHT node (BEP 5 KRPC over UDP) for the hostile-world suite.

One misbehaviour per case, against the p2pfs DHT at --target IP:PORT (a
mount's listening port; the DHT shares it). It binds --bind IP:PORT, which
the mount is given as --dht-bootstrap, and runs for --secs seconds (or
until SIGTERM), then writes a JSON summary to --out.

  fake-peers  answers pings and find_node like a node, and every get_peers
              with `values` of --fake (7000) of fake loopback peers
              (127.66.x.y, nobody listens) and `nodes` of fake nodes
  garbage     answers every query with something broken, in turn: not
              bencode, a list, a wrong transaction id, no `r`, `nodes` of an
              odd length, `values` that are not strings, a 50 KB string,
              30k levels of nesting, an error reply with a huge message
  flood       queries p2pfs as fast as it can (ping, find_node, get_peers,
              announce_peer with made-up tokens) from --flood-socks source
              ports; counts the answers (p2pfs must rate-limit), then asks
              get_peers for the info-hash it tried to announce to with bad
              tokens from --check-bind: a bad token must store nothing.

Loopback only: it refuses to bind or target anything else.
"""
import argparse
import hashlib
import ipaddress
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_peer import bdecode, bencode  # noqa: E402

STOP = False


def on_term(*_):
    global STOP
    STOP = True


def log(*a):
    print('[hostile-dht %7.3f]' % (time.time() - T0), *a, file=sys.stderr,
          flush=True)


def loopback(ip):
    return ipaddress.ip_address(ip).is_loopback


def parse(data):
    try:
        v, end = bdecode(data)
        return v if isinstance(v, dict) and end == len(data) else None
    except Exception:
        return None


def fake_peers(n, seed):
    rnd = random.Random(seed)
    return [socket.inet_aton('127.66.%d.%d' % (rnd.randrange(256),
                                              rnd.randrange(1, 255))) +
            struct.pack('>H', rnd.randrange(1024, 65535)) for _ in range(n)]


def fake_nodes(k, seed):
    rnd = random.Random(seed)
    out = b''
    for _ in range(k):
        out += os.urandom(20) + socket.inet_aton(
            '127.67.%d.%d' % (rnd.randrange(256), rnd.randrange(1, 255))) + \
            struct.pack('>H', rnd.randrange(1024, 65535))
    return out


def answer_fake(msg, me, a):
    q = msg.get(b'q')
    t = msg.get(b't', b'')
    r = {b'id': me}
    if q in (b'find_node', b'get_peers'):
        r[b'nodes'] = fake_nodes(8, time.time())
    if q == b'get_peers':
        # as many as fit in one datagram: 8 bytes each bencoded
        r[b'values'] = fake_peers(a.fake, random.random())
        r[b'token'] = os.urandom(8)
    return bencode({b't': t, b'y': b'r', b'r': r})


def answer_garbage(msg, me, k):
    t = msg.get(b't', b'')
    forms = [
        lambda: os.urandom(200),
        lambda: bencode([b't', t, b'y', b'r']),
        lambda: bencode({b't': t + b'x', b'y': b'r', b'r': {b'id': me}}),
        lambda: bencode({b't': t, b'y': b'r'}),
        lambda: bencode({b't': t, b'y': b'r',
                         b'r': {b'id': me, b'nodes': os.urandom(27)}}),
        lambda: bencode({b't': t, b'y': b'r',
                         b'r': {b'id': me, b'token': b'x',
                                b'values': [1, [2], {b'a': 3}]}}),
        lambda: bencode({b't': t, b'y': b'r',
                         b'r': {b'id': me, b'nodes': b'N' * 50000}}),
        lambda: b'l' * 30000 + b'e' * 30000,
        lambda: bencode({b't': t, b'y': b'e', b'e': [201, b'E' * 50000]}),
        lambda: bencode({b't': t, b'y': b'r', b'r': {b'id': b'short'}}),
    ]
    return forms[k % len(forms)]()


def run_flood(a, target, summary):
    socks = []
    for i in range(a.flood_socks):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a.bind[0], 0))
        s.setblocking(False)
        socks.append(s)
    ih = hashlib.sha1(b'hostile dht flood %d' % a.bind[1]).digest()
    sent = answers = 0
    end = time.time() + a.flood_secs
    qs = [b'ping', b'find_node', b'get_peers', b'announce_peer']
    while time.time() < end and not STOP:
        for s in socks:
            q = qs[sent % len(qs)]
            args = {b'id': os.urandom(20)}
            if q == b'find_node':
                args[b'target'] = os.urandom(20)
            if q in (b'get_peers', b'announce_peer'):
                args[b'info_hash'] = ih
            if q == b'announce_peer':
                args[b'port'] = 4242
                args[b'token'] = os.urandom(8)
            pkt = bencode({b't': struct.pack('>H', sent & 0xffff), b'y': b'q',
                           b'q': q, b'a': args})
            try:
                s.sendto(pkt, target)
                sent += 1
            except (BlockingIOError, OSError):
                pass
        r, _, _ = select.select(socks, [], [], 0)
        for s in r:
            while True:
                try:
                    s.recvfrom(65536)
                    answers += 1
                except (BlockingIOError, OSError):
                    break
        if sent % 2000 < len(socks):
            time.sleep(0.001)
    time.sleep(0.5)
    for s in socks:
        while True:
            try:
                s.recvfrom(65536)
                answers += 1
            except (BlockingIOError, OSError):
                break
    summary.update(flood_sent=sent, flood_answers=answers)
    # did a bad-token announce store anything? ask as another node (the
    # flooding address may well be shut out by now)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.check_bind, 0))
    s.settimeout(1.0)
    stored = None
    for _ in range(5):
        s.sendto(bencode({b't': b'gp', b'y': b'q', b'q': b'get_peers',
                          b'a': {b'id': os.urandom(20), b'info_hash': ih}}),
                 target)
        try:
            data, _ = s.recvfrom(65536)
        except socket.timeout:
            continue
        m = parse(data)
        if m and m.get(b't') == b'gp' and isinstance(m.get(b'r'), dict):
            stored = len(m[b'r'].get(b'values', []) or [])
            break
    summary['bad_token_values'] = stored
    for s2 in socks + [s]:
        s2.close()


def main():
    global T0
    T0 = time.time()
    ap = argparse.ArgumentParser()
    ap.add_argument('case', choices=['fake-peers', 'garbage', 'flood'])
    ap.add_argument('--bind', required=True)
    ap.add_argument('--target', required=True)
    ap.add_argument('--secs', type=float, default=60)
    ap.add_argument('--fake', type=int, default=7000)
    ap.add_argument('--flood-secs', type=float, default=10)
    ap.add_argument('--flood-socks', type=int, default=20)
    ap.add_argument('--check-bind', default='127.0.0.1',
                    help='flood: the address the check after it asks from')
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    ip, port = a.bind.rsplit(':', 1)
    a.bind = (ip, int(port))
    tip, tport = a.target.rsplit(':', 1)
    target = (tip, int(tport))
    if not loopback(ip) or not loopback(tip) or not loopback(a.check_bind):
        sys.exit('hostile_dht: loopback addresses only')
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(a.bind)
    me = os.urandom(20)
    summary = {'case': a.case, 'queries_in': 0, 'replies_out': 0,
               'from_non_loopback': 0}
    log('case', a.case, 'on', a.bind, 'for', target)
    end = time.time() + a.secs
    flooded = False
    k = 0
    while time.time() < end and not STOP:
        if a.case == 'flood' and not flooded and summary['queries_in']:
            # p2pfs found us (its bootstrap): now flood it
            run_flood(a, target, summary)
            flooded = True
            log('flood done:', summary)
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        data, src = s.recvfrom(65536)
        if not loopback(src[0]):
            summary['from_non_loopback'] += 1
            continue
        msg = parse(data)
        if not msg or msg.get(b'y') != b'q':
            continue
        summary['queries_in'] += 1
        if summary['queries_in'] == 1:
            log('first query:', msg.get(b'q'), 'from', src)
        if a.case == 'garbage':
            out = answer_garbage(msg, me, k)
            k += 1
        else:
            out = answer_fake(msg, me, a)
        try:
            s.sendto(out, src)
            summary['replies_out'] += 1
        except OSError as e:
            log('send:', e)
    with open(a.out, 'w') as f:
        json.dump(summary, f)
    log('summary', summary)


if __name__ == '__main__':
    main()
