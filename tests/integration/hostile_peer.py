#!/usr/bin/python3
"""hostile_peer.py - a scripted BitTorrent peer with one misbehaviour per case,
for the tests/integration/test_hostile_*.sh suite (issue: a hostile world).

    hostile_peer.py CASE --torrent T (--connect IP:PORT | --listen IP:PORT)
                    [--bind IP] [--data PATH] [--secs N] [--report FILE] ...

It speaks the BEP 3 wire protocol (plus BEP 6 fast and BEP 10 extended
messages where a case needs them) with plain sockets and its own bencode
codec: nothing here trusts p2pfs to check p2pfs. Every case is bounded in
time (--secs) and in what it sends. What it saw goes to stderr as it happens
and, at the end, one JSON object to stdout (and to --report FILE): the
counters the test asserts on (connections made, handshakes answered,
connections the other side closed and how soon, blocks sent, pieces
verified, rejects, chokes, ...). The exit status is 0 when the case ran; a
leecher case exits 1 when its download did not complete.

Every address it sends or announces is on loopback (127.0.0.0/8): the fake
peers of the PEX flood included.

Adding a case: write a function taking (ctx, conn) for a per-connection
case (see the @case decorator: ROLE says how connections are made) or
(ctx) for one that manages its own sockets (role 'custom'), and register it
with @case('name', role, 'one-line description'). `hostile_peer.py --list`
prints them all.
"""

import argparse
import hashlib
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

# ---- bencode (independent of p2pfs) -----------------------------------------


def bdecode(d, i=0, spans=None):
    """Return (value, end). SPANS, when a list, collects the raw span of
    every top-level-or-nested 'info' value."""
    c = d[i:i + 1]
    if c == b'i':
        j = d.index(b'e', i)
        return int(d[i + 1:j]), j + 1
    if c.isdigit():
        j = d.index(b':', i)
        n = int(d[i:j])
        if j + 1 + n > len(d):
            raise ValueError('string past end')
        return d[j + 1:j + 1 + n], j + 1 + n
    if c == b'l':
        out, i = [], i + 1
        while d[i:i + 1] != b'e':
            v, i = bdecode(d, i, spans)
            out.append(v)
        return out, i + 1
    if c == b'd':
        out, i = {}, i + 1
        while d[i:i + 1] != b'e':
            k, i = bdecode(d, i, spans)
            s = i
            v, i = bdecode(d, i, spans)
            out[k] = v
            if spans is not None and k == b'info':
                spans.append(d[s:i])
        return out, i + 1
    raise ValueError('bad bencode at %d' % i)


def bencode(v):
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int):
        return b'i%de' % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, (bytes, bytearray)):
        return b'%d:%s' % (len(v), bytes(v))
    if isinstance(v, list):
        return b'l' + b''.join(bencode(x) for x in v) + b'e'
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x)
                       for k, x in v.items())
        return b'd' + b''.join(bencode(k) + bencode(x)
                               for k, x in items) + b'e'
    raise TypeError(type(v))


# ---- the torrent ---------------------------------------------------------------


class Torrent:
    def __init__(self, path, data=None):
        raw = open(path, 'rb').read()
        spans = []
        meta, _ = bdecode(raw, 0, spans)
        info = meta[b'info']
        self.info_hash = hashlib.sha1(spans[-1]).digest()
        self.info_raw = spans[-1]
        self.piece_length = info[b'piece length']
        p = info[b'pieces']
        self.hashes = [p[i:i + 20] for i in range(0, len(p), 20)]
        self.npieces = len(self.hashes)
        if b'files' in info:
            self.files = [(os.path.join(info[b'name'].decode(),
                                        *[c.decode() for c in f[b'path']]),
                           f[b'length']) for f in info[b'files']]
        else:
            self.files = [(info[b'name'].decode(), info[b'length'])]
        self.total = sum(n for _, n in self.files)
        self.data = data  # folder holding the torrent's name entry

    def piece_size(self, i):
        if i < 0 or i >= self.npieces:
            return 0
        return min(self.piece_length, self.total - i * self.piece_length)

    def blocks(self, i, bs=16384):
        n = self.piece_size(i)
        return [(b, min(bs, n - b)) for b in range(0, n, bs)]

    def read(self, off, n):
        """Bytes [off, off+n) of the torrent's stream from --data."""
        out = bytearray()
        base = 0
        for rel, ln in self.files:
            if n <= 0:
                break
            if off < base + ln:
                at = off - base
                k = min(n, ln - at)
                with open(os.path.join(self.data, rel), 'rb') as f:
                    f.seek(at)
                    out += f.read(k)
                off += k
                n -= k
            base += ln
        return bytes(out)


# ---- the wire --------------------------------------------------------------------

CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE, BITFIELD, REQUEST, PIECE, \
    CANCEL, PORT = range(10)
SUGGEST, HAVE_ALL, HAVE_NONE, REJECT, ALLOWED_FAST = 13, 14, 15, 16, 17
EXTENDED = 20
NAMES = {0: 'choke', 1: 'unchoke', 2: 'interested', 3: 'not_interested',
         4: 'have', 5: 'bitfield', 6: 'request', 7: 'piece', 8: 'cancel',
         9: 'port', 13: 'suggest', 14: 'have_all', 15: 'have_none',
         16: 'reject', 17: 'allowed_fast', 20: 'extended'}

PSTR = b'\x13BitTorrent protocol'
FAST_BIT = (7, 0x04)
EXT_BIT = (5, 0x10)


def reserved(*bits):
    r = bytearray(8)
    for byte, mask in bits:
        r[byte] |= mask
    return bytes(r)


class Closed(Exception):
    """The other side closed (or reset) the connection."""


T0 = time.monotonic()


def log(*a):
    print('[hostile %7.3f] %s' % (time.monotonic() - T0,
                                  ' '.join(str(x) for x in a)),
          file=sys.stderr, flush=True)


class Conn:
    def __init__(self, ctx, sock):
        self.ctx = ctx
        self.sock = sock
        self.buf = bytearray()
        self.t_open = time.monotonic()
        self.remote_reserved = b''
        self.remote_id = b''
        self.ext = {}   # the remote's BEP 10 handshake (decoded), or {}
        self.closed = False

    # -- raw I/O
    def send_raw(self, b):
        try:
            self.sock.sendall(b)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError,
                socket.timeout) as e:
            raise Closed(str(e))
        self.ctx.r['bytes_sent'] += len(b)

    def send(self, mid, payload=b''):
        self.send_raw(struct.pack('>IB', 1 + len(payload), mid) + payload)

    def _fill(self, timeout):
        r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not r:
            return False
        try:
            b = self.sock.recv(1 << 18)
        except (ConnectionResetError, ConnectionAbortedError) as e:
            raise Closed(str(e))
        if not b:
            raise Closed('EOF')
        self.buf += b
        return True

    def recv_exact(self, n, timeout):
        end = time.monotonic() + timeout
        while len(self.buf) < n:
            if not self._fill(end - time.monotonic()):
                if time.monotonic() >= end:
                    return None
        b = bytes(self.buf[:n])
        del self.buf[:n]
        return b

    def recv(self, timeout):
        """One message as (id, payload), ('keepalive', b''), or None when
        nothing complete came within TIMEOUT seconds."""
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack('>I', self.buf[:4])[0]
                if n > (1 << 24):
                    raise Closed('remote sent a %d-byte message' % n)
                if len(self.buf) >= 4 + n:
                    m = bytes(self.buf[4:4 + n])
                    del self.buf[:4 + n]
                    if n == 0:
                        return ('keepalive', b'')
                    self.ctx.count_in(m[0])
                    return (m[0], m[1:])
            left = end - time.monotonic()
            if left <= 0:
                return None
            self._fill(left)

    def drain(self, timeout):
        """Read and count whatever comes for TIMEOUT seconds (raises Closed)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.recv(end - time.monotonic())
            if m:
                self.ctx.on_msg(self, m)

    # -- protocol
    def handshake(self, resv, peer_id=None):
        t = self.ctx.t
        pid = peer_id or self.ctx.peer_id
        self.send_raw(PSTR + resv + t.info_hash + pid)

    def recv_handshake(self, timeout=10):
        hs = self.recv_exact(68, timeout)
        if hs is None:
            raise Closed('no handshake within %ss' % timeout)
        if hs[:20] != PSTR:
            raise Closed('not a BitTorrent handshake')
        self.remote_reserved = hs[20:28]
        self.remote_id = hs[48:68]
        self.ctx.r['handshakes'] += 1
        log('handshake from %r (reserved %s)' % (hs[48:56],
                                                  hs[20:28].hex()))
        return hs

    def remote_fast(self):
        return bool(self.remote_reserved and self.remote_reserved[7] & 4)

    def remote_ext(self):
        return bool(self.remote_reserved and self.remote_reserved[5] & 0x10)

    def have_all(self):
        t = self.ctx.t
        if self.remote_fast():
            self.send(HAVE_ALL)
        else:
            self.send(BITFIELD, full_bitfield(t.npieces))

    def request(self, i, b, n):
        self.send(REQUEST, struct.pack('>III', i, b, n))

    def piece(self, i, b, data):
        self.send(PIECE, struct.pack('>II', i, b) + data)

    def ext_msg(self, ext_id, payload):
        self.send(EXTENDED, bytes([ext_id]) + payload)


def full_bitfield(n):
    bf = bytearray((n + 7) // 8)
    for i in range(n):
        bf[i // 8] |= 0x80 >> (i % 8)
    return bytes(bf)


# ---- the run's context -------------------------------------------------------------


class Ctx:
    def __init__(self, args):
        self.a = args
        self.t = Torrent(args.torrent, args.data)
        self.peer_id = (b'-HO0001-' + os.urandom(6).hex().encode())[:20]
        self.rnd = random.Random(args.seed)
        self.end = time.monotonic() + args.secs
        self.r = {
            'case': args.case, 'connects': 0, 'connect_errors': 0,
            'handshakes': 0, 'remote_closed': 0, 'closed_by_us': 0,
            'drop_ms': [], 'bytes_sent': 0, 'msgs_in': {},
            'blocks_sent': 0, 'requests_in': 0, 'haves_in': 0,
            'max_have': -1,
        }
        self.max_have = -1

    def left(self):
        return self.end - time.monotonic()

    def count_in(self, mid):
        k = NAMES.get(mid, str(mid))
        self.r['msgs_in'][k] = self.r['msgs_in'].get(k, 0) + 1

    def on_msg(self, c, m):
        """Default bookkeeping of a message from the remote."""
        mid, p = m
        if mid == HAVE and len(p) == 4:
            i = struct.unpack('>I', p)[0]
            self.r['haves_in'] += 1
            if i > self.max_have:
                self.max_have = self.r['max_have'] = i
        elif mid == REQUEST:
            self.r['requests_in'] += 1
        elif mid == EXTENDED and p[:1] == b'\x00':
            try:
                c.ext, _ = bdecode(p[1:])
            except (ValueError, IndexError):
                c.ext = {}

    def connect(self):
        """A new connection to --connect, from --bind (a random one of
        --bind-count consecutive addresses)."""
        ip, port = self.a.connect.rsplit(':', 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        if self.a.bind:
            b = self.a.bind
            if self.a.bind_count > 1:
                q = b.split('.')
                q[3] = str(int(q[3]) + self.rnd.randrange(self.a.bind_count))
                b = '.'.join(q)
            s.bind((b, 0))
        try:
            s.connect((ip, int(port)))
        except OSError as e:
            self.r['connect_errors'] += 1
            s.close()
            raise Closed('connect: %s' % e)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.r['connects'] += 1
        return Conn(self, s)

    def connections(self):
        """Yield connections until --secs is up: made to --connect (again
        after each close, up to --reconnect times), or accepted on
        --listen."""
        if self.a.connect:
            for k in range(1 + self.a.reconnect):
                if self.left() <= 0:
                    return
                try:
                    yield self.connect()
                except Closed as e:
                    log('connect failed:', e)
                    time.sleep(min(1.0, max(0.0, self.left())))
                    continue
                if k < self.a.reconnect:
                    time.sleep(self.a.reconnect_delay)
        else:
            ip, port = self.a.listen.rsplit(':', 1)
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((ip, int(port)))
            ls.listen(64)
            log('listening on', self.a.listen)
            while self.left() > 0:
                r, _, _ = select.select([ls], [], [], min(0.5, self.left()))
                if r:
                    s, _ = ls.accept()
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.r['connects'] += 1
                    yield Conn(self, s)
            ls.close()

    def closed_remote(self, c, why):
        ms = int((time.monotonic() - c.t_open) * 1000)
        self.r['remote_closed'] += 1
        self.r['drop_ms'].append(ms)
        log('the other side closed after %d ms: %s' % (ms, why))


def run_per_connection(ctx, fn):
    for c in ctx.connections():
        try:
            fn(ctx, c)
            if not c.closed:
                ctx.r['closed_by_us'] += 1
        except Closed as e:
            ctx.closed_remote(c, e)
        except OSError as e:
            ctx.closed_remote(c, 'socket error: %s' % e)
        finally:
            c.sock.close()


def open_as_seed(ctx, c, resv=None):
    """Handshake in the right order for our role, then claim every piece
    and unchoke. Returns once the remote's handshake is in."""
    r = resv if resv is not None else reserved(FAST_BIT, EXT_BIT)
    if ctx.a.connect:
        c.handshake(r)
        c.recv_handshake()
    else:
        c.recv_handshake()
        c.handshake(r)
    if resv is None or resv[7] & 4:
        c.have_all()
    else:
        c.send(BITFIELD, full_bitfield(ctx.t.npieces))
    c.send(UNCHOKE)


def open_plain(ctx, c, resv):
    if ctx.a.connect:
        c.handshake(resv)
        c.recv_handshake()
    else:
        c.recv_handshake()
        c.handshake(resv)


def hold(ctx, c, secs=None):
    """Keep reading (and counting) until SECS (default: the run) is over or
    the other side closes (raises Closed)."""
    c.drain(min(secs if secs is not None else ctx.left(), ctx.left()))


# ---- the cases -------------------------------------------------------------------------

CASES = {}


def case(name, role, doc):
    def reg(fn):
        CASES[name] = (role, doc, fn)
        return fn
    return reg


def serve_requests(ctx, c, answer):
    """As a seed: read messages until the run ends; for each request call
    ANSWER(i, begin, length) (which sends whatever it likes)."""
    while ctx.left() > 0:
        m = c.recv(min(1.0, ctx.left()))
        if not m:
            continue
        ctx.on_msg(c, m)
        if m[0] == REQUEST and len(m[1]) == 12:
            answer(*struct.unpack('>III', m[1]))


@case('wrong-data', 'seed', 'claims every piece, answers every request with '
      'random bytes')
def c_wrong_data(ctx, c):
    open_as_seed(ctx, c)

    def answer(i, b, n):
        c.piece(i, b, os.urandom(n))
        ctx.r['blocks_sent'] += 1
    serve_requests(ctx, c, answer)


@case('poisoner', 'leech', 'owns nothing, is asked for nothing, pushes '
      'garbage blocks for the pieces just ahead of the read (from the '
      'haves it is sent)')
def c_poisoner(ctx, c):
    open_plain(ctx, c, reserved(FAST_BIT, EXT_BIT))
    if c.remote_fast():
        c.send(HAVE_NONE)
    garbage = os.urandom(16384)
    ahead = ctx.a.ahead
    t = ctx.t
    while ctx.left() > 0:
        # what p2pfs told us it has so far moves the window
        end = time.monotonic() + ctx.a.interval
        while time.monotonic() < end:
            m = c.recv(max(0.0, end - time.monotonic()))
            if m:
                ctx.on_msg(c, m)
        first = ctx.max_have + 1
        for i in range(first, min(t.npieces, first + ahead)):
            for b, n in t.blocks(i):
                c.piece(i, b, garbage[:n])
                ctx.r['blocks_sent'] += 1


@case('past-end', 'seed', 'answers a request with a block that runs past '
      'the end of its piece')
def c_past_end(ctx, c):
    open_as_seed(ctx, c)

    def answer(i, b, n):
        # begin inside the piece, the block running 1 KiB past its end
        sz = ctx.t.piece_size(i)
        c.piece(i, sz - 1024, os.urandom(2048))
        ctx.r['blocks_sent'] += 1
    serve_requests(ctx, c, answer)


def big_length(ctx, c, n):
    open_as_seed(ctx, c)
    # a piece message announcing N bytes, then keep streaming: a peer that
    # buffers what it was promised would grow without bound
    c.send_raw(struct.pack('>IB', n & 0xffffffff, PIECE) +
               struct.pack('>II', 0, 0))
    chunk = os.urandom(1 << 16)
    sent = 0
    while ctx.left() > 0 and sent < ctx.a.stream_mb << 20:
        c.send_raw(chunk)
        sent += len(chunk)
    hold(ctx, c)


@case('len-2g', 'seed', 'a message length prefix of 2^31, then a stream')
def c_len_2g(ctx, c):
    big_length(ctx, c, 1 << 31)


@case('len-4g', 'seed', 'a message length prefix of 2^32-1, then a stream')
def c_len_4g(ctx, c):
    big_length(ctx, c, (1 << 32) - 1)


@case('req-len-2g', 'leech', 'a request for a block of 2^31 bytes')
def c_req_len_2g(ctx, c):
    open_plain(ctx, c, reserved(FAST_BIT))
    c.send(HAVE_NONE)
    c.send(INTERESTED)
    c.request(0, 0, 1 << 31)
    hold(ctx, c)


@case('req-len-4g', 'leech', 'a request for 2^32-1 bytes at offset 2^32-1')
def c_req_len_4g(ctx, c):
    open_plain(ctx, c, reserved(FAST_BIT))
    c.send(HAVE_NONE)
    c.send(INTERESTED)
    c.request(0, (1 << 32) - 1, (1 << 32) - 1)
    hold(ctx, c)


def bad_bitfield(ctx, c, bf):
    open_plain(ctx, c, reserved())
    c.send(BITFIELD, bf)
    c.send(UNCHOKE)
    hold(ctx, c)


@case('bitfield-short', 'seed', 'a bitfield one byte too short')
def c_bf_short(ctx, c):
    bad_bitfield(ctx, c, full_bitfield(ctx.t.npieces)[:-1])


@case('bitfield-long', 'seed', 'a bitfield one byte too long')
def c_bf_long(ctx, c):
    bad_bitfield(ctx, c, full_bitfield(ctx.t.npieces) + b'\xff')


@case('bitfield-spare', 'seed', 'a bitfield with every spare bit set')
def c_bf_spare(ctx, c):
    bf = bytearray(full_bitfield(ctx.t.npieces))
    bf[-1] = 0xff
    if ctx.t.npieces % 8 == 0:
        bf += b'\x01'  # no spare bits to set: one byte too many then
    bad_bitfield(ctx, c, bytes(bf))


@case('have-oob', 'seed', 'a have for piece NPIECES (one past the end)')
def c_have_oob(ctx, c):
    open_plain(ctx, c, reserved())
    c.send(HAVE, struct.pack('>I', ctx.t.npieces))
    hold(ctx, c)


@case('have-max', 'seed', 'a have for piece 2^32-1')
def c_have_max(ctx, c):
    open_plain(ctx, c, reserved())
    c.send(HAVE, struct.pack('>I', 0xffffffff))
    hold(ctx, c)


@case('request-flood', 'leech', 'interested, then a burst of --flood '
      'requests (valid and duplicate) without reading the answers')
def c_request_flood(ctx, c):
    open_plain(ctx, c, reserved(EXT_BIT))
    c.send(BITFIELD, bytes((ctx.t.npieces + 7) // 8))
    c.send(INTERESTED)
    t = ctx.t
    # one chunk of random valid requests (duplicates among them), sent
    # again and again: python could not build a million one by one fast
    chunk = bytearray()
    for _ in range(min(ctx.a.flood, 1 << 14)):
        i = ctx.rnd.randrange(t.npieces)
        b, n = ctx.rnd.choice(t.blocks(i))
        chunk += struct.pack('>IBIII', 13, REQUEST, i, b, n)
    per = len(chunk) // 17
    sent = 0
    while sent < ctx.a.flood and ctx.left() > 0:
        k = min(per, ctx.a.flood - sent)
        c.send_raw(bytes(chunk[:17 * k]))
        sent += k
    ctx.r['requests_sent'] = sent
    log('sent %d requests, now holding without reading' % sent)
    # do not read for a while: the answers pile up on the other side
    hold_unread = min(ctx.a.unread, ctx.left())
    time.sleep(max(0.0, hold_unread))
    hold(ctx, c)


@case('unchoke-silent', 'seed', 'claims every piece, unchokes, takes '
      'requests, never answers one (keep-alives only)')
def c_unchoke_silent(ctx, c):
    open_as_seed(ctx, c)
    last = time.monotonic()
    while ctx.left() > 0:
        m = c.recv(min(1.0, ctx.left()))
        if m:
            ctx.on_msg(c, m)
        if time.monotonic() - last > 30:
            c.send_raw(b'\0\0\0\0')
            last = time.monotonic()


@case('close-mid-block', 'seed', 'answers the first request with half a '
      'block, then closes (again on every connection)')
def c_close_mid_block(ctx, c):
    open_as_seed(ctx, c)
    while ctx.left() > 0:
        m = c.recv(min(1.0, ctx.left()))
        if not m:
            continue
        ctx.on_msg(c, m)
        if m[0] == REQUEST and len(m[1]) == 12:
            i, b, n = struct.unpack('>III', m[1])
            half = ctx.t.read(i * ctx.t.piece_length + b, n // 2) \
                if ctx.t.data else os.urandom(n // 2)
            c.send_raw(struct.pack('>IBII', 9 + n, PIECE, i, b) + half)
            ctx.r['blocks_sent'] += 1
            c.closed = True
            ctx.r['closed_by_us'] += 1
            return


def leech_download(ctx, c, depth, fast, early=()):
    """Download the whole torrent over C keeping up to DEPTH requests in
    flight; verify every piece against its hash. A fast peer (BEP 6)
    re-requests a rejected block after a short pause; a plain one only ever
    re-requests after a choke (BEP 3: a choke voids the requests). Returns
    when done, when nothing arrived for --stall seconds, or at --secs.
    EARLY: messages already read (and counted) before the download began."""
    t = ctx.t
    r = ctx.r
    r.update({'depth': depth, 'requests': 0, 'rejects': 0, 'chokes': 0,
              'unchokes': 0, 'blocks': 0, 'pieces_ok': 0, 'pieces_bad': 0,
              'complete': False, 'stalled': False, 'max_inflight': 0})
    todo = [(i, b, n) for i in range(t.npieces) for b, n in t.blocks(i)]
    todo.reverse()  # pop() from the end: in order
    inflight = {}
    got = {}        # piece -> {begin: bytes}
    done = set()
    retry = []      # (when, block): rejected, ask again later
    choked = True
    last_block = time.monotonic()
    t_start = time.monotonic()
    c.send(INTERESTED)
    while ctx.left() > 0 and len(done) < t.npieces:
        now = time.monotonic()
        if now - last_block > ctx.a.stall:
            r['stalled'] = True
            log('stalled: nothing for %ss with %d requests in flight, '
                '%d of %d pieces' % (ctx.a.stall, len(inflight), len(done),
                                     t.npieces))
            break
        while retry and retry[0][0] <= now:
            todo.append(retry.pop(0)[1])
        if not choked:
            out = bytearray()
            while todo and len(inflight) < depth:
                blk = todo.pop()
                if blk[0] in done or blk in inflight:
                    continue
                inflight[blk] = now
                out += struct.pack('>IBIII', 13, REQUEST, *blk)
                r['requests'] += 1
            if out:
                c.send_raw(bytes(out))
            r['max_inflight'] = max(r['max_inflight'], len(inflight))
        if early:
            m, early = early[0], early[1:]
        else:
            m = c.recv(0.5)
            if m:
                ctx.on_msg(c, m)
        if not m or m[0] == 'keepalive':
            continue
        mid, p = m
        if mid == CHOKE:
            r['chokes'] += 1
            choked = True
            if not fast:  # BEP 3: every request is void
                todo.extend(inflight)
                inflight.clear()
        elif mid == UNCHOKE:
            r['unchokes'] += 1
            choked = False
        elif mid == REJECT and len(p) == 12:
            blk = struct.unpack('>III', p)
            if inflight.pop(blk, None) is not None:
                r['rejects'] += 1
                retry.append((time.monotonic() + 0.05, blk))
        elif mid == PIECE and len(p) > 8:
            i, b = struct.unpack('>II', p[:8])
            blk = (i, b, len(p) - 8)
            if inflight.pop(blk, None) is None:
                r['unrequested'] = r.get('unrequested', 0) + 1
                continue
            last_block = time.monotonic()
            r['blocks'] += 1
            got.setdefault(i, {})[b] = p[8:]
            if sum(len(x) for x in got[i].values()) == t.piece_size(i):
                data = b''.join(got[i][k] for k in sorted(got[i]))
                del got[i]
                if hashlib.sha1(data).digest() == t.hashes[i]:
                    done.add(i)
                    r['pieces_ok'] += 1
                else:
                    r['pieces_bad'] += 1
                    todo.extend((i, bb, nn) for bb, nn in t.blocks(i))
    r['complete'] = len(done) == t.npieces
    r['secs'] = round(time.monotonic() - t_start, 3)
    r['inflight_at_end'] = len(inflight)
    log('download %s: %d of %d pieces, %d requests, %d rejects, %d chokes '
        'in %.1fs' % ('complete' if r['complete'] else 'INCOMPLETE',
                      len(done), t.npieces, r['requests'], r['rejects'],
                      r['chokes'], r['secs']))


@case('deep-nofast', 'leech', 'a leecher without the fast extension (the '
      'extension-protocol bit only, as rtorrent 0.9.8) keeping --depth '
      'requests in flight; exits 1 unless its download completes')
def c_deep_nofast(ctx, c):
    open_plain(ctx, c, reserved(EXT_BIT))
    if c.remote_ext():
        c.ext_msg(0, bencode({'m': {}, 'v': 'hostile 1'}))
    leech_download(ctx, c, ctx.a.depth, fast=False)
    c.closed = True
    ctx.r['closed_by_us'] += 1


@case('reqq-fast', 'leech', 'a fast-extension leecher that sizes its '
      'pipeline to the reqq of the BEP 10 handshake (--depth when none is '
      'given, as libtorrent does); exits 1 unless its download completes')
def c_reqq_fast(ctx, c):
    open_plain(ctx, c, reserved(FAST_BIT, EXT_BIT))
    if c.remote_ext():
        c.ext_msg(0, bencode({'m': {}, 'v': 'hostile 1', 'reqq': 500}))
    # the remote's BEP 10 handshake, if it sends one, comes first
    # (within 2 s, and before any unchoke)
    early = []
    end = time.monotonic() + 2
    while time.monotonic() < end and not c.ext:
        m = c.recv(max(0.0, end - time.monotonic()))
        if m:
            ctx.on_msg(c, m)
            early.append(m)
            if m[0] == UNCHOKE:
                break
    reqq = c.ext.get(b'reqq') if isinstance(c.ext, dict) else None
    depth = reqq if isinstance(reqq, int) and reqq > 0 else ctx.a.depth
    ctx.r['reqq'] = reqq
    log('remote reqq: %s, pipeline depth %d' % (reqq, depth))
    leech_download(ctx, c, depth, fast=True, early=early)
    c.closed = True
    ctx.r['closed_by_us'] += 1


# -- extension protocol (BEP 10/9/11): today p2pfs ignores extended messages;
#    once it speaks them these are the malformed ones it must survive

def serve_honestly(ctx, c):
    """The rest of the run as an honest seed: every request is answered
    with the right bytes from --data (random bytes without it)."""
    t = ctx.t

    def answer(i, b, n):
        data = t.read(i * t.piece_length + b, n) if t.data else os.urandom(n)
        c.piece(i, b, data)
        ctx.r['blocks_sent'] += 1
    serve_requests(ctx, c, answer)


def ext_open(ctx, c, m):
    """Handshake with the extension bit, claim every piece, unchoke, and
    send our BEP 10 handshake M (bytes, sent as they are)."""
    open_as_seed(ctx, c, reserved(FAST_BIT, EXT_BIT))
    c.ext_msg(0, m)


@case('ext-garbage', 'seed', 'BEP 10 handshakes that are not bencode, '
      'nested 50k deep, with m of the wrong types, with ids over 255')
def c_ext_garbage(ctx, c):
    ext_open(ctx, c, b'd1:md11:ut_metadatai3eee' + b'\xff' * 32)
    for bad in (b'not bencode at all', b'l' * 50000 + b'e' * 50000,
                b'd1:mi5ee', b'd1:mle1:pi-1ee', b'd1:md6:ut_pexi-1eee',
                b'd1:md11:ut_metadatai99999999999999999999eee',
                b'd4:reqqi-1e1:pi70000e6:yourip3:abce',
                bencode({'m': {'ut_metadata': 3, 'ut_pex': 1},
                         'metadata_size': 1 << 40, 'v': 'x' * 60000})):
        c.ext_msg(0, bad)
    # an extended message with an id we never announced, and an empty one
    c.ext_msg(200, b'd8:msg_typei0e5:piecei0ee')
    c.send(EXTENDED)
    serve_honestly(ctx, c)


@case('ut-metadata-bad', 'seed', 'announces ut_metadata with a wrong '
      'metadata_size, then sends metadata pieces of the wrong size and '
      'content, unasked')
def c_ut_metadata_bad(ctx, c):
    ext_open(ctx, c, bencode({'m': {'ut_metadata': 3},
                              'metadata_size': 0x7fffffff}))
    for k in range(64):
        c.ext_msg(2, bencode({'msg_type': 1, 'piece': k,
                              'total_size': 0x7fffffff}) +
                  os.urandom(16384 if k % 2 else 100))
    # requests for pieces that do not exist
    for k in (1 << 31, 0xffffffff, -1):
        c.ext_msg(2, bencode({'msg_type': 0, 'piece': k}))
    serve_honestly(ctx, c)


@case('ut-metadata-liar', 'seed', 'announces the true metadata_size, '
      'answers ut_metadata requests with pieces of the right size whose '
      'bytes are wrong (one bit flipped), serves blocks honestly')
def c_ut_metadata_liar(ctx, c):
    raw = ctx.t.info_raw
    ext_open(ctx, c, bencode({'m': {'ut_metadata': 3},
                              'metadata_size': len(raw)}))
    their = None
    ctx.r.setdefault('meta_lies', 0)
    while ctx.left() > 0:
        m = c.recv(min(1.0, ctx.left()))
        if not m:
            continue
        ctx.on_msg(c, m)
        if m[0] == REQUEST and len(m[1]) == 12:
            i, b, n = struct.unpack('>III', m[1])
            data = ctx.t.read(i * ctx.t.piece_length + b, n) \
                if ctx.t.data else os.urandom(n)
            c.piece(i, b, data)
            ctx.r['blocks_sent'] += 1
        if m[0] != EXTENDED or len(m[1]) < 1:
            continue
        eid, body = m[1][0], m[1][1:]
        try:
            d, _ = bdecode(body, 0)
        except Exception:
            continue
        if eid == 0 and isinstance(d, dict):
            their = d.get(b'm', {}).get(b'ut_metadata')
            continue
        if eid == 3 and isinstance(d, dict) and d.get(b'msg_type') == 0 \
                and their:
            k = d.get(b'piece', 0)
            piece = bytearray(raw[k * 16384:(k + 1) * 16384])
            if not piece:
                continue
            piece[len(piece) // 2] ^= 1
            c.ext_msg(their, bencode({'msg_type': 1, 'piece': k,
                                      'total_size': len(raw)}) +
                      bytes(piece))
            ctx.r['meta_lies'] += 1


@case('ut-pex-flood', 'seed', 'announces ut_pex, then floods PEX messages '
      'with thousands of fake loopback peers (127.4.x.y, nothing listens)')
def c_ut_pex_flood(ctx, c):
    ext_open(ctx, c, bencode({'m': {'ut_pex': 1}}))
    n = 0
    while ctx.left() > 0 and n < ctx.a.flood:
        added = bytearray()
        for _ in range(2000):
            added += bytes([127, 4, ctx.rnd.randrange(256),
                            ctx.rnd.randrange(1, 255)]) + \
                struct.pack('>H', ctx.rnd.randrange(1024, 65535))
        c.ext_msg(1, bencode({'added': bytes(added),
                              'added.f': bytes(len(added) // 6)}))
        n += 2000
        ctx.r['pex_peers_sent'] = n  # also when p2pfs drops us for it
        # answer what comes meanwhile (requests included) honestly
        end = time.monotonic() + 0.01
        while time.monotonic() < end:
            m = c.recv(max(0.0, end - time.monotonic()))
            if not m:
                break
            ctx.on_msg(c, m)
            if m[0] == REQUEST and len(m[1]) == 12 and ctx.t.data:
                i, b, k = struct.unpack('>III', m[1])
                c.piece(i, b, ctx.t.read(i * ctx.t.piece_length + b, k))
                ctx.r['blocks_sent'] += 1
    ctx.r['pex_peers_sent'] = n
    serve_honestly(ctx, c)


@case('mse-stall', 'leech', 'opens with 96 random bytes and padding (what '
      'an MSE handshake looks like), then never completes it')
def c_mse_stall(ctx, c):
    c.send_raw(os.urandom(96 + ctx.rnd.randrange(512)))
    hold(ctx, c)


# -- cases that manage their own sockets

@case('silent', 'custom', 'keeps --conns connections that handshake and '
      'then send nothing at all; one the other side closes is reopened '
      '(after --reconnect-delay s) until --secs is up')
def c_silent(ctx):
    r = ctx.r
    r.update({'open_max': 0, 'open_at_end': 0, 'refused': 0})
    conns = {}   # socket -> Conn
    start = time.monotonic()
    reopen_at = []

    def open_one():
        try:
            c = ctx.connect()
            # a peer id of its own: p2pfs drops a second connection of one
            c.handshake(reserved(FAST_BIT, EXT_BIT),
                        (b'-HO0001-' + os.urandom(6).hex().encode())[:20])
            c.sock.setblocking(False)
            conns[c.sock] = c
        except Closed:
            reopen_at.append(time.monotonic() + ctx.a.reconnect_delay)

    for _ in range(ctx.a.conns):
        open_one()
    while ctx.left() > 0:
        now = time.monotonic()
        while reopen_at and reopen_at[0] <= now and \
                r['connects'] < ctx.a.max_connects:
            reopen_at.pop(0)
            open_one()
        r['open_max'] = max(r['open_max'], len(conns))
        if not conns:
            time.sleep(0.1)
            continue
        rd, _, _ = select.select(list(conns), [], [], 0.2)
        for s in rd:
            c = conns[s]
            try:
                b = s.recv(65536)
            except OSError:
                b = b''
            if b:
                if len(c.buf) < 68 <= len(c.buf) + len(b):
                    r['handshakes'] += 1
                    if r['handshakes'] == 1:
                        log('handshake from %r' % bytes(c.buf + b)[48:56])
                c.buf += b[:max(0, 1024 - len(c.buf))]  # keep only the start
                continue
            ms = int((now - c.t_open) * 1000)
            if len(c.buf) < 68:
                r['refused'] += 1   # closed before it answered us
            else:
                r['remote_closed'] += 1
                r['drop_ms'].append(ms)
            s.close()
            del conns[s]
            reopen_at.append(now + ctx.a.reconnect_delay)
        if int(now - start) % 5 == 0 and now - getattr(c_silent, 'last', 0) > 4:
            c_silent.last = now
            log('%d open, %d connects, %d handshakes, %d closed after the '
                'handshake, %d refused' % (len(conns), r['connects'],
                                          r['handshakes'], r['remote_closed'],
                                          r['refused']))
    r['open_at_end'] = len(conns)
    for s in conns:
        s.close()


# ---- main ------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('case', nargs='?')
    ap.add_argument('--list', action='store_true', help='list the cases')
    ap.add_argument('--torrent')
    ap.add_argument('--data', help='folder holding the torrent\'s content')
    ap.add_argument('--connect', help='IP:PORT to connect to')
    ap.add_argument('--listen', help='IP:PORT to accept connections on')
    ap.add_argument('--bind', help='source address for --connect')
    ap.add_argument('--bind-count', type=int, default=1,
                    help='spread connections over this many addresses '
                    'from --bind up')
    ap.add_argument('--secs', type=float, default=20)
    ap.add_argument('--reconnect', type=int, default=0,
                    help='connect again this many times after a close')
    ap.add_argument('--reconnect-delay', type=float, default=0.5)
    ap.add_argument('--report', help='also write the JSON report here')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--ahead', type=int, default=8,
                    help='poisoner: pieces ahead of the last have')
    ap.add_argument('--interval', type=float, default=0.05,
                    help='poisoner: seconds between rounds')
    ap.add_argument('--flood', type=int, default=200000,
                    help='request-flood: requests; ut-pex-flood: peers')
    ap.add_argument('--unread', type=float, default=5,
                    help='request-flood: seconds without reading')
    ap.add_argument('--stream-mb', type=int, default=64,
                    help='len-*: megabytes streamed after the header')
    ap.add_argument('--depth', type=int, default=320,
                    help='leechers: requests in flight (reqq-fast: when '
                    'the remote gives no reqq)')
    ap.add_argument('--stall', type=float, default=20,
                    help='leechers: give up after this long without a block')
    ap.add_argument('--conns', type=int, default=200,
                    help='silent: connections held open')
    ap.add_argument('--max-connects', type=int, default=2000,
                    help='silent: connections made at most')
    a = ap.parse_args()
    if a.list:
        for k, (role, doc, _) in CASES.items():
            print('%-16s %-7s %s' % (k, role, doc))
        return 0
    if a.case not in CASES:
        ap.error('unknown case %r (see --list)' % a.case)
    if not a.torrent or not (a.connect or a.listen):
        ap.error('--torrent and --connect or --listen are needed')
    for hp in (a.connect, a.listen, a.bind):
        if hp and not hp.startswith('127.'):
            ap.error('loopback addresses only: %s' % hp)
    role, _, fn = CASES[a.case]
    ctx = Ctx(a)

    def on_term(sig, frame):
        raise KeyboardInterrupt
    # a test stops it with SIGTERM (a background job's SIGINT is ignored):
    # the report is still written
    signal.signal(signal.SIGTERM, on_term)
    log('case %s (%s) against %s, %.0fs' % (a.case, role,
                                            a.connect or a.listen, a.secs))
    try:
        if role == 'custom':
            fn(ctx)
        else:
            run_per_connection(ctx, fn)
    except KeyboardInterrupt:
        pass
    out = json.dumps(ctx.r, sort_keys=True)
    print(out, flush=True)
    if a.report:
        with open(a.report + '.tmp', 'w') as f:
            f.write(out + '\n')
        os.rename(a.report + '.tmp', a.report)
    if role == 'leech' and 'complete' in ctx.r and not ctx.r['complete']:
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
