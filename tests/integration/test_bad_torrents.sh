#!/bin/bash
# Malformed .torrent files: `p2pfs info` and `p2pfs mount` exit with status
# 2, print exactly one line on stderr, mount nothing and never crash.
# Inputs: every file in tests/data/bad/ plus a few generated here.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 7100

B=$T/bad
mkdir -p "$B"
n_repo=0
for f in "$IT_ROOT"/tests/data/bad/*.torrent; do
	[ -f "$f" ] || continue
	cp "$f" "$B/repo-$(basename "$f")"
	n_repo=$((n_repo + 1))
done
log "$n_repo bad torrent(s) from tests/data/bad"

gen_data "$T/src/ok.bin" 100000
make_torrent "$T/src/ok.bin" 15 "$T/ok.torrent" "$(tracker_url 7100)"
"$IT_PY" - "$T/ok.torrent" "$B" <<'PYEOF'
import hashlib, os, sys
good = open(sys.argv[1], 'rb').read()
out = sys.argv[2]

def enc(v):
    if isinstance(v, int):
        return b'i%de' % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b'%d:%s' % (len(v), v)
    if isinstance(v, list):
        return b'l' + b''.join(enc(x) for x in v) + b'e'
    if isinstance(v, dict):
        return b'd' + b''.join(enc(k) + enc(v[k]) for k in sorted(v)) + b'e'
    raise TypeError(v)

def torrent(info):
    return enc({b'announce': b'http://127.0.0.1:7100/announce', b'info': info})

def w(name, data):
    open(os.path.join(out, 'gen-' + name + '.torrent'), 'wb').write(data)

pl = 32768
L = 100000
np = (L + pl - 1) // pl
ph = b''.join(hashlib.sha1(b'%d' % i).digest() for i in range(np))
def upd(k, v):
    d = dict(base)
    d[k] = v
    return d

base = {b'name': b'x.bin', b'length': L, b'piece length': pl, b'pieces': ph}
w('truncated', good[:len(good) // 2])
w('truncated-last-byte', good[:-1])
w('empty', b'')
w('not-bencode', b'this is not a torrent\n')
w('pieces-not-20', torrent(upd(b'pieces', ph[:-1])))
w('pieces-count', torrent(upd(b'pieces', ph[:-20])))
w('piece-length-0', torrent(upd(b'piece length', 0)))
w('piece-length-negative', torrent(upd(b'piece length', -16384)))
w('length-negative', torrent(upd(b'length', -1)))
w('no-info', enc({b'announce': b'http://127.0.0.1:7100/announce'}))
w('info-not-dict', torrent(b'info'))
w('no-name', torrent({k: v for k, v in base.items() if k != b'name'}))
w('deep-nesting', b'd8:announce3:url4:info' + b'l' * 200000 + b'e' * 200000 + b'e')
w('deep-nesting-dict', b'd4:info' + b'd1:a' * 100000 + b'i0e' + b'e' * 100000 + b'e')
w('huge-string-len', b'd4:info99999999999999999999:xe')
w('list-top', b'l' + good + b'e')
PYEOF
n=0
for f in "$B"/*; do
	name=$(basename "$f")
	mkdir -p "$T/mnt"
	rc=0
	with_timeout 10 "$P2PFS" info "$f" >"$T/out" 2>"$T/err" || rc=$?
	lines=$(awk 'END { print NR }' "$T/err")
	if [ "$rc" != 2 ] || [ "$lines" != 1 ]; then
		log "$name: info exited $rc with $lines stderr line(s):"
		head -c 2000 "$T/err" >&2
		n=$((n + 1))
	fi
	rc=0
	with_timeout 10 "$P2PFS" mount -f --cache "$T/cache" "$f" "$T/mnt" >"$T/out" 2>"$T/err" || rc=$?
	lines=$(awk 'END { print NR }' "$T/err")
	if is_mounted "$T/mnt"; then
		fusermount3 -u -z "$T/mnt" || true
		log "$name: mount mounted something"
		n=$((n + 1))
	fi
	if [ "$rc" != 2 ] || [ "$lines" != 1 ]; then
		log "$name: mount exited $rc with $lines stderr line(s):"
		head -c 2000 "$T/err" >&2
		n=$((n + 1))
	else
		log "$name: ok: $(cat "$T/err")"
	fi
done
[ "$n" = 0 ] || fail "$n check(s) failed"
log PASS
