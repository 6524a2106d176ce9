#!/usr/bin/python3
"""hostile_tracker.py - a scripted HTTP tracker with one misbehaviour per
mode, for tests/integration/test_hostile_trackers.sh.

    hostile_tracker.py MODE --listen 127.0.0.1:PORT --log FILE
                       [--peer IP:PORT]... [--secs N]

Every request it gets is answered the way MODE says, and logged to FILE as
one JSON line when it ends: when it came (ms since start), the path and
query, how many bytes were sent, how long the connection lasted and whether
the client closed it before the answer was complete. Modes:

  garbage        200 OK and 4 KiB of random bytes (not bencode)
  huge           200 OK, Content-Length: 1 GiB, then an endless body
  endless        200 OK, no Content-Length, an endless body
  trickle        a valid answer, one byte every 0.5 s
  redirect-loop  302 to itself, forever
  failure        {failure reason: ...} of 4 KiB with newlines and escapes
  http-500       500 Internal Server Error with a bencoded body
  interval-0     a valid answer, interval 0, the --peer addresses
  interval-neg   a valid answer, interval -1, min interval -1
  peers-100k     a valid answer with 100,000 compact peers (127.5.x.y,
                 nothing listens there) and the --peer addresses

With --udp it is a BEP 15 (udp://) tracker instead, on the UDP port, and
logs one JSON line per datagram received (when, length, action). Modes:

  udp-wrong-tid  answers every request with another transaction id
  udp-short      a right connect reply, then 12-byte announce replies
  udp-huge       announce replies of 65,506 bytes: 10,914 fake peers
                 (127.5.x.y) after the --peer addresses
  udp-error      an error action with a 4 KiB message holding newlines
                 and an escape sequence
  udp-garbage    the right transaction id, then random bytes

Loopback only: it refuses to listen anywhere else, and every peer it hands
out is a 127.x address.
"""

import argparse
import json
import os
import random
import socket
import socketserver
import struct
import sys
import threading
import time

T0 = time.monotonic()
LOCK = threading.Lock()


def bencode(v):
    if isinstance(v, int):
        return b'i%de' % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b'%d:%s' % (len(v), v)
    if isinstance(v, list):
        return b'l' + b''.join(bencode(x) for x in v) + b'e'
    if isinstance(v, dict):
        return b'd' + b''.join(bencode(k) + bencode(v[k])
                               for k in sorted(v)) + b'e'
    raise TypeError(type(v))


def compact(peers):
    out = bytearray()
    for p in peers:
        ip, port = p.rsplit(':', 1)
        out += socket.inet_aton(ip) + struct.pack('>H', int(port))
    return bytes(out)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        a = self.server.args
        s = self.request
        s.settimeout(30)
        t_in = time.monotonic()
        rec = {'t_ms': int((t_in - T0) * 1000), 'bytes': 0,
               'client_closed': False}
        req = b''
        try:
            while b'\r\n\r\n' not in req and len(req) < 65536:
                b = s.recv(4096)
                if not b:
                    break
                req += b
            line = req.split(b'\r\n', 1)[0].decode('latin-1')
            rec['request'] = line[:300]
            self.answer(a, s, rec, line)
        except (BrokenPipeError, ConnectionResetError, socket.timeout,
                OSError) as e:
            rec['client_closed'] = True
            rec['error'] = str(e)
        finally:
            rec['dur_ms'] = int((time.monotonic() - t_in) * 1000)
            with LOCK, open(a.log, 'a') as f:
                f.write(json.dumps(rec) + '\n')

    def send(self, s, rec, b):
        s.sendall(b)
        rec['bytes'] += len(b)

    def reply(self, s, rec, body, status='200 OK', extra=''):
        self.send(s, rec, ('HTTP/1.1 %s\r\nContent-Type: text/plain\r\n'
                           'Content-Length: %d\r\nConnection: close\r\n%s\r\n'
                           % (status, len(body), extra)).encode() + body)

    def answer(self, a, s, rec, line):
        m = a.mode
        peers = compact(a.peer)
        ok = {'interval': 1800, 'complete': 1, 'incomplete': 0,
              'peers': peers}
        if m == 'garbage':
            self.reply(s, rec, os.urandom(4096))
        elif m in ('huge', 'endless'):
            hdr = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n'
            if m == 'huge':
                hdr += 'Content-Length: %d\r\n' % (1 << 30)
            self.send(s, rec, (hdr + 'Connection: close\r\n\r\n').encode() +
                      b'd8:intervali1800e5:peers')
            chunk = b'0' * 65536
            end = time.monotonic() + a.secs
            while time.monotonic() < end and rec['bytes'] < (1 << 30):
                self.send(s, rec, chunk)
        elif m == 'trickle':
            body = bencode(ok)
            msg = ('HTTP/1.1 200 OK\r\nContent-Length: %d\r\n'
                   'Connection: close\r\n\r\n' % len(body)).encode() + body
            for i in range(len(msg)):
                self.send(s, rec, msg[i:i + 1])
                time.sleep(0.5)
        elif m == 'redirect-loop':
            path = line.split(' ')[1] if ' ' in line else '/announce'
            self.reply(s, rec, b'', '302 Found',
                       'Location: http://%s%s\r\n' % (a.listen, path))
        elif m == 'failure':
            reason = ('go away\n\x1b[31m\x00%s\r\n' % ('x' * 4000))
            self.reply(s, rec, bencode({'failure reason': reason}))
        elif m == 'http-500':
            self.reply(s, rec, bencode(ok), '500 Internal Server Error')
        elif m == 'interval-0':
            ok['interval'] = 0
            self.reply(s, rec, bencode(ok))
        elif m == 'interval-neg':
            ok['interval'] = -1
            ok['min interval'] = -1
            self.reply(s, rec, bencode(ok))
        elif m == 'peers-100k':
            rnd = random.Random(1)
            fake = bytearray()
            for _ in range(100000):
                fake += bytes([127, 5, rnd.randrange(256),
                               rnd.randrange(1, 255)]) + \
                    struct.pack('>H', rnd.randrange(1024, 65535))
            ok['peers'] = peers + bytes(fake)
            self.reply(s, rec, bencode(ok))
        else:
            raise SystemExit('unknown mode ' + m)


def udp_serve(a, ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    print('listening on %s (udp, %s)' % (a.listen, a.mode), flush=True)
    rnd = random.Random(1)
    while True:
        d, src = s.recvfrom(65536)
        rec = {'t_ms': int((time.monotonic() - T0) * 1000), 'len': len(d)}
        if len(d) < 16:
            rec['action'] = -1
        else:
            rec['action'] = struct.unpack('>I', d[8:12])[0]
        with LOCK, open(a.log, 'a') as f:
            f.write(json.dumps(rec) + '\n')
        if len(d) < 16:
            continue
        action, tid = struct.unpack('>II', d[8:16])
        m = a.mode
        if m == 'udp-wrong-tid':
            s.sendto(struct.pack('>IIQ', 0, tid ^ 1, 0x1234), src)
        elif action == 0:
            s.sendto(struct.pack('>IIQ', 0, tid, 0x5eed), src)
        elif m == 'udp-short':
            s.sendto(struct.pack('>III', 1, tid, 1800), src)
        elif m == 'udp-huge':
            body = compact(a.peer)
            while len(body) + 6 <= 65507 - 20:
                body += bytes([127, 5, rnd.randrange(256),
                               rnd.randrange(1, 255)]) + \
                    struct.pack('>H', rnd.randrange(1024, 65535))
            s.sendto(struct.pack('>IIIII', 1, tid, 1800, 0, 1) + body, src)
        elif m == 'udp-error':
            msg = ('go away\n\x1b[31m%s\r\n' % ('x' * 4000)).encode()
            s.sendto(struct.pack('>II', 3, tid) + msg, src)
        elif m == 'udp-garbage':
            s.sendto(struct.pack('>II', action, tid) + os.urandom(37), src)
        else:
            raise SystemExit('unknown mode ' + m)


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('mode')
    ap.add_argument('--listen', required=True)
    ap.add_argument('--log', required=True)
    ap.add_argument('--peer', action='append', default=[])
    ap.add_argument('--udp', action='store_true',
                    help='a BEP 15 tracker on the UDP port')
    ap.add_argument('--secs', type=float, default=60,
                    help='longest a huge/endless answer goes on')
    a = ap.parse_args()
    ip, port = a.listen.rsplit(':', 1)
    for x in [ip] + [p.rsplit(':', 1)[0] for p in a.peer]:
        if not x.startswith('127.'):
            ap.error('loopback addresses only: %s' % x)
    open(a.log, 'w').close()
    if a.udp:
        return udp_serve(a, ip, int(port))
    srv = Server((ip, int(port)), Handler)
    srv.args = a
    print('listening on %s (%s)' % (a.listen, a.mode), flush=True)
    srv.serve_forever()


if __name__ == '__main__':
    sys.exit(main())
