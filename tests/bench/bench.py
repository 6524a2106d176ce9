"""Helpers for tests/bench/bench.sh (python3, standard library only).

  randreads MNT_FILE SRC_FILE N SEED LEN
      N reads of LEN bytes at random offsets of MNT_FILE, one pread each on
      one open file; prints the wall time of each read in ms, one a line.
      Each read is compared with the same range of SRC_FILE (after the
      timing): a mismatch is reported on stderr and makes the exit status 3.
  seqread FILE CAP
      Reads FILE from the start in 1 MiB reads until EOF or until CAP
      seconds have passed; prints "BYTES SECONDS".
  handshake IP PORT INFOHASH N
      N times: connect to the peer IP:PORT (from 127.0.0.9), send a
      BitTorrent handshake for INFOHASH, print the ms until the peer's
      68-byte handshake has come back (or "failed").
  table RESULTS
      Reads the raw per-run lines of bench.sh (see there) and prints the
      summary table: the median over runs of each figure.

Only the timing is a measurement; nothing here passes or fails on a time.
"""
import os
import random
import socket
import statistics
import sys
import time


def randreads(mnt_file, src_file, n, seed, ln):
    rnd = random.Random(seed)
    size = os.path.getsize(src_file)
    a = os.open(mnt_file, os.O_RDONLY)
    b = os.open(src_file, os.O_RDONLY)
    bad = 0
    for _ in range(n):
        off = rnd.randrange(0, max(1, size - ln))
        t0 = time.perf_counter()
        got = os.pread(a, ln, off)
        dt = (time.perf_counter() - t0) * 1000.0
        print('%.3f' % dt, flush=True)
        if got != os.pread(b, ln, off):
            bad += 1
            sys.stderr.write('randreads: wrong bytes at offset %d (len %d, '
                             'got %d bytes)\n' % (off, ln, len(got)))
    os.close(a)
    os.close(b)
    return 3 if bad else 0


def seqread(path, cap):
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    total = 0
    fd = os.open(path, os.O_RDONLY)
    t0 = time.perf_counter()
    while True:
        n = os.readv(fd, [mv])
        total += n
        if n == 0 or time.perf_counter() - t0 >= cap:
            break
    dt = time.perf_counter() - t0
    os.close(fd)
    print('%d %.6f' % (total, dt))
    return 0


def handshake(ip, port, ih, n):
    ih = bytes.fromhex(ih)
    for k in range(n):
        s = socket.socket()
        s.settimeout(10)
        try:
            s.bind(('127.0.0.9', 0))
            s.connect((ip, port))
            t0 = time.perf_counter()
            s.sendall(b'\x13BitTorrent protocol' + bytes(8) + ih +
                      b'-BENCH0-' + b'%012d' % k)
            got = b''
            while len(got) < 68:
                c = s.recv(68 - len(got))
                if not c:
                    break
                got += c
            dt = (time.perf_counter() - t0) * 1000.0
            print('%.1f' % dt if len(got) == 68 else 'failed', flush=True)
        except OSError:
            print('failed', flush=True)
        finally:
            s.close()
        time.sleep(0.1)
    return 0


def pct(vals, p):
    """Nearest-rank percentile."""
    s = sorted(vals)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


# figure key -> (label, unit/format, target text, how runs combine)
ROWS = [
    ('ls', 'mount -> ls -lR done (tree)', 'ms', '', 'median'),
    ('first', 'mount -> first 64 KiB read', 'ms', '<= 50 ms', 'median'),
    ('rand_med', 'random 64 KiB read, median', 'ms', '<= 5 ms', 'pool'),
    ('rand_p90', 'random 64 KiB read, p90', 'ms', '', 'pool'),
    ('rand_max', 'random 64 KiB read, max', 'ms', '<= 100 ms', 'pool'),
    ('seq', 'sequential cold read, big file', 'MB/s',
     '>= 300, > aria2c', 'median'),
    ('ffprobe', 'cold ffprobe of the video', 's', '<= 0.2 s', 'median'),
    ('readall', 'read all tree files (total)', 's', '', 'median'),
    ('cpu', 'daemon CPU, mount to end of the cold read', 's', '',
     'median'),
    ('cpu_gib', 'daemon CPU per GiB fetched', 's', '<= 3 s', 'median'),
    ('rss', 'daemon peak RSS (VmHWM)', 'MiB', '<= 48 MiB', 'median'),
    ('rss_anon', 'daemon RssAnon at the end of the read', 'MiB', '',
     'median'),
    ('warm_same', 'warm re-read, same mount', 'MB/s', '', 'median'),
    ('warm_remount', 'warm re-read, remount on full cache', 'MB/s',
     '>= 80% of passthrough', 'median'),
]
REFS = [
    ('handshake', 'reference: an aria2c seeder answers a handshake in', 'ms'),
    ('lt_first', 'p2pfs, one libtorrent seeder: mount -> first 64 KiB', 'ms'),
    ('lt_ffprobe', 'p2pfs, one libtorrent seeder: cold ffprobe', 's'),
    ('aria2c', 'reference: aria2c download of the big torrent', 'MB/s'),
    ('local', 'reference: local read of the same bytes (warm)', 'MB/s'),
    ('passthrough', 'reference: FUSE passthrough read (warm)', 'MB/s'),
    ('enc_seq_off', 'p2pfs --encryption off: sequential cold read', 'MB/s'),
    ('enc_seq_require', 'p2pfs --encryption require: sequential cold read',
     'MB/s'),
    ('enc_cpu_gib_off', 'p2pfs --encryption off: CPU per GiB', 's'),
    ('enc_cpu_gib_require', 'p2pfs --encryption require: CPU per GiB', 's'),
    # a bare magnet link, its one libtorrent seeder found through the DHT
    ('mag_peer', 'p2pfs, magnet via DHT: mount -> first peer connected',
     'ms'),
    ('mag_meta', 'p2pfs, magnet via DHT: mount -> metadata', 'ms'),
    ('mag_peer_meta', 'p2pfs, magnet via DHT: first peer -> metadata', 'ms',
     '<= 1000 ms'),
    ('mag_first', 'p2pfs, magnet via DHT: mount -> first 64 KiB', 'ms'),
]


def fmt(v, unit):
    if v is None:
        return '-'
    if isinstance(v, str):
        return v
    if unit == 's':
        return '%.3f' % v
    if unit == 'ms':
        return '%.1f' % v if v < 100 else '%.0f' % v
    return '%.1f' % v if v < 10 else '%.0f' % v


def table(path):
    # raw lines: RUN PIECES CLIENT KEY VALUE   (VALUE a number or a word
    # such as "timeout"/"failed"); KEY "rand" has one line per read
    vals = {}
    runs = set()
    pieces = []
    clients = []
    for line in open(path):
        if line.startswith('#') or not line.strip():
            continue
        f = line.split()
        if len(f) < 5:
            continue
        run, pc, cl, key, v = f[:5]
        runs.add(run)
        if pc not in pieces:
            pieces.append(pc)
        if cl not in clients and cl != 'ref':
            clients.append(cl)
        try:
            v = float(v)
        except ValueError:
            pass
        vals.setdefault((pc, cl, key), []).append(v)
    clients = [c for c in ('p2pfs', 'btfs') if c in clients] or ['p2pfs']

    def capped(pc, cl):
        return any(isinstance(x, float) and x < 1.0
                   for x in vals.get((pc, cl, 'seq_whole'), []))

    def combine(pc, cl, key, how):
        if how == 'pool':
            xs = [x for x in vals.get((pc, cl, 'rand'), [])
                  if isinstance(x, float)]
            if not xs:
                bad = vals.get((pc, cl, 'rand'), [])
                return bad[0] if bad else None
            return {'rand_med': statistics.median(xs),
                    'rand_p90': pct(xs, 90),
                    'rand_max': max(xs)}[key]
        xs = vals.get((pc, cl, key), [])
        nums = [x for x in xs if isinstance(x, float)]
        if not nums:
            return xs[0] if xs else None
        m = statistics.median(nums)
        if len(nums) < len(xs):  # some runs failed: say so
            return '%s (%d/%d)' % (fmt(m, unitof[key]), len(nums), len(xs))
        return m

    unitof = {r[0]: r[2] for r in ROWS}
    unitof.update({r[0]: r[2] for r in REFS})
    hdr = ['figure', 'pieces'] + clients + ['target']
    out = []
    star = False
    for key, label, unit, target, how in ROWS:
        for pc in pieces:
            cells = [combine(pc, cl, key, how) for cl in clients]
            if all(c is None for c in cells):
                continue
            txt = [fmt(c, unit) for c in cells]
            if key in ('seq', 'cpu', 'cpu_gib'):
                txt = [t + ' *' if capped(pc, cl) else t
                       for t, cl in zip(txt, clients)]
                if any(capped(pc, cl) for cl in clients):
                    star = True
            out.append(['%s (%s)' % (label, unit), pc] + txt + [target])
    for key, label, unit, *target in REFS:
        for pc in pieces:
            c = combine(pc, 'ref', key, 'median')
            if c is None:
                continue
            out.append(['%s (%s)' % (label, unit), pc, fmt(c, unit)] +
                       [''] * (len(clients) - 1) + target[:1] + [''] *
                       (1 - len(target[:1])))
    # the warm re-read target is relative to the passthrough read
    pt = combine('-', 'ref', 'passthrough', 'median')
    if 'p2pfs' in clients and isinstance(pt, float) and pt > 0:
        for pc in pieces:
            wr = combine(pc, 'p2pfs', 'warm_remount', 'median')
            if isinstance(wr, float):
                out.append(['warm re-read, remount / passthrough (%)', pc,
                            '%.0f' % (100.0 * wr / pt)] +
                           [''] * (len(clients) - 1) + ['>= 80 %'])
    # encrypted beside plain, same swarm, same run
    for pc in pieces:
        off = combine(pc, 'ref', 'enc_seq_off', 'median')
        req = combine(pc, 'ref', 'enc_seq_require', 'median')
        if isinstance(off, float) and isinstance(req, float) and off > 0:
            out.append(['--encryption require / off, sequential (%)', pc,
                        '%.0f' % (100.0 * req / off)] +
                       [''] * (len(clients) - 1) + ['>= 80 %'])
    w = [max(len(str(r[i])) for r in [hdr] + out) for i in range(len(hdr))]
    line = lambda r: ' | '.join(str(c).ljust(w[i]) if i == 0 else
                                str(c).rjust(w[i]) if i < len(r) - 1 else
                                str(c) for i, c in enumerate(r))
    print(line(hdr))
    print('-+-'.join('-' * x for x in w))
    for r in out:
        print(line(r))
    print('median over %d run(s); random reads: all reads of all runs '
          'pooled.' % len(runs))
    if star:
        print('* the sequential read hit its time cap (BENCH_SEQ_CAP) before '
              'the end of the file in some run: MB/s over the part read, CPU '
              'scaled to what the daemon had fetched.')


if __name__ == '__main__':
    cmd = sys.argv[1] if len(sys.argv) > 1 else ''
    if cmd == 'randreads':
        sys.exit(randreads(sys.argv[2], sys.argv[3], int(sys.argv[4]),
                           int(sys.argv[5]), int(sys.argv[6])))
    elif cmd == 'seqread':
        sys.exit(seqread(sys.argv[2], float(sys.argv[3])))
    elif cmd == 'handshake':
        sys.exit(handshake(sys.argv[2], int(sys.argv[3]), sys.argv[4],
                           int(sys.argv[5])))
    elif cmd == 'table':
        table(sys.argv[2])
    else:
        sys.exit('bench.py: unknown command %r' % cmd)
