#!/usr/bin/env python3
"""Regenerates the small .torrent files used by tests/unit/test_metainfo.c.

  tests/data/bad/*.torrent   malformed: bt_metainfo_load() must give -EINVAL
                             and a non-empty one-line reason
  tests/data/good/*.torrent  valid but hostile or unusual (paths to sanitise,
                             duplicate names, pad files), plus two made by
                             mktorrent, whose info-hashes are printed here and
                             pinned in the unit test

Run from the repository root: python3 tests/data/make-bad.py
The output is deterministic (mktorrent runs with -d: no creation date).
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(ROOT, "bad")
GOOD = os.path.join(ROOT, "good")


def enc(v):
    """Canonical bencode: dict keys sorted as raw bytes."""
    if isinstance(v, bool):
        raise TypeError("bool")
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(enc(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x)
                       for k, x in v.items())
        return b"d" + b"".join(enc(k) + enc(x) for k, x in items) + b"e"
    raise TypeError(type(v))


def hashes(total, pl):
    if not isinstance(pl, int) or not isinstance(total, int) or pl <= 0:
        return b""
    n = (total + pl - 1) // pl
    assert n < 100000, "pass pieces= explicitly for huge torrents"
    return b"".join(hashlib.sha1(b"piece %d" % i).digest() for i in range(n))


PL = 16384


def single(length=1000, pl=PL, name="file.bin", **extra):
    info = {"name": name, "piece length": pl, "length": length}
    info.update(extra)
    if "pieces" not in info:
        info["pieces"] = hashes(length, pl)
    return {"announce": "http://127.0.0.1:6969/announce", "info": info}


def multi(file_list, pl=PL, name="dir", **extra):
    total = sum(f["length"] for f in file_list)
    info = {"name": name, "piece length": pl, "files": file_list}
    info.update(extra)
    if "pieces" not in info:
        info["pieces"] = hashes(total, pl)
    return {"announce": "http://127.0.0.1:6969/announce", "info": info}


def f(path, length=10, **extra):
    d = {"path": path, "length": length}
    d.update(extra)
    return d


def without(t, key):
    t = dict(t)
    t["info"] = dict(t["info"])
    del t["info"][key]
    return t


def write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as fp:
        fp.write(data)


def bad_files():
    good = enc(single())
    out = {}
    out["empty.torrent"] = b""
    out["not-a-dict.torrent"] = b"li1ee"
    out["truncated.torrent"] = good[: len(good) // 2]
    out["truncated-one-byte.torrent"] = good[:-1]
    out["bad-string-length.torrent"] = good.replace(b"8:file.bin",
                                                    b"9999999:file.bin")
    out["string-length-leading-zero.torrent"] = good.replace(
        b"8:file.bin", b"08:file.bin")
    out["string-length-overflow.torrent"] = good.replace(
        b"8:file.bin", b"99999999999999999999999999:file.bin")
    out["int-leading-zero.torrent"] = good.replace(b"i16384e", b"i016384e")
    out["int-negative-zero.torrent"] = enc(
        dict(single(), **{"creation date": 777777})).replace(b"i777777e",
                                                             b"i-0e")
    out["int-overflow.torrent"] = good.replace(
        b"i1000e", b"i9223372036854775808e")
    out["int-empty.torrent"] = good.replace(b"i1000e", b"ie")
    out["int-plus-sign.torrent"] = good.replace(b"i1000e", b"i+1000e")
    out["deep-nesting.torrent"] = (b"d4:info" + b"l" * 100000 +
                                   b"e" * 100000 + b"e")
    out["deep-nesting-65.torrent"] = (b"d8:announce" + b"l" * 64 +
                                      b"e" * 64 + b"4:info" +
                                      enc(single()["info"]) + b"e")
    out["trailing-garbage.torrent"] = good + b"x"
    out["trailing-second-value.torrent"] = good + b"de"
    # 'info' (i) before 'announce' (a)
    t = single()
    out["unsorted-keys.torrent"] = (b"d4:info" + enc(t["info"]) +
                                    b"8:announce" + enc(t["announce"]) + b"e")
    # inside info: 'pieces' before 'piece length' ("piece " < "pieces")
    info = enc(t["info"])
    pl_item = b"12:piece lengthi16384e"
    pieces_item = b"6:pieces20:" + t["info"]["pieces"]
    assert pl_item + pieces_item in info
    out["unsorted-info-keys.torrent"] = (
        b"d8:announce" + enc(t["announce"]) + b"4:info" +
        info.replace(pl_item + pieces_item, pieces_item + pl_item) + b"e")
    out["duplicate-keys.torrent"] = (
        b"d8:announce" + enc(t["announce"]) + b"4:info" +
        info.replace(b"4:name8:file.bin", b"4:name8:file.bin4:name8:file.bin")
        + b"e")
    out["key-not-string.torrent"] = b"di1ei2ee"
    out["huge-piece-count.torrent"] = enc(
        single(length=2**50, pl=1, pieces=b"\0" * 20))
    out["huge-piece-count-max-pl.torrent"] = enc(
        single(length=2**62, pl=64 << 20, pieces=b"\0" * 20))
    out["pieces-not-multiple-of-20.torrent"] = enc(single(pieces=b"\0" * 41))
    out["pieces-count-mismatch.torrent"] = enc(single(pieces=b"\0" * 40))
    out["pieces-empty.torrent"] = enc(single(pieces=b""))
    out["pieces-not-string.torrent"] = enc(single(pieces=5))
    out["negative-length.torrent"] = enc(single(length=-1, pieces=b""))
    out["negative-file-length.torrent"] = enc(
        multi([f(["a"], 10), f(["b"], -5)], pieces=b"\0" * 20))
    out["length-not-int.torrent"] = enc(single(length="10", pieces=b""))
    out["zero-total-length.torrent"] = enc(single(length=0))
    out["zero-total-multi.torrent"] = enc(multi([f(["a"], 0), f(["b"], 0)]))
    out["total-overflow.torrent"] = enc(
        multi([f(["a"], 2**62), f(["b"], 2**62)], pl=64 << 20,
              pieces=b"\0" * 20))
    out["file-length-int64-max.torrent"] = enc(
        multi([f(["a"], 1), f(["b"], 2**63 - 1)], pl=64 << 20,
              pieces=b"\0" * 20))
    out["missing-info.torrent"] = enc({"announce": "http://x/a"})
    out["info-not-dict.torrent"] = enc({"info": [1, 2]})
    out["missing-name.torrent"] = enc(without(single(), "name"))
    out["missing-pieces.torrent"] = enc(without(single(), "pieces"))
    out["missing-piece-length.torrent"] = enc(without(single(), "piece length"))
    out["missing-length-and-files.torrent"] = enc(without(single(), "length"))
    out["both-length-and-files.torrent"] = enc(single(files=[f(["a"], 1000)]))
    out["name-not-string.torrent"] = enc(single(name=7))
    out["piece-length-zero.torrent"] = enc(single(pl=0, pieces=b""))
    out["piece-length-negative.torrent"] = enc(single(pl=-16384, pieces=b""))
    out["piece-length-too-big.torrent"] = enc(
        single(pl=(64 << 20) + 1, pieces=b"\0" * 20))
    out["piece-length-not-int.torrent"] = enc(single(pl="16384"))
    out["files-not-list.torrent"] = enc(multi([f(["a"], 1)], files={"a": 1}))
    out["files-empty.torrent"] = enc(multi([], pieces=b""))
    out["file-not-dict.torrent"] = enc(multi([f(["a"], 1)], files=[[1]]))
    out["file-missing-length.torrent"] = enc(
        multi([f(["a"], 1)], files=[{"path": ["a"]}]))
    out["file-missing-path.torrent"] = enc(
        multi([f(["a"], 1)], files=[{"length": 1}]))
    out["path-not-list.torrent"] = enc(multi([f("a", 1)]))
    out["path-empty.torrent"] = enc(multi([f([], 1)]))
    out["path-item-not-string.torrent"] = enc(multi([f(["a", 5], 1)]))
    out["attr-not-string.torrent"] = enc(multi([f(["a"], 1, attr=1)]))
    out["private-not-int.torrent"] = enc(single(private="1"))
    out["v2-only.torrent"] = enc({"info": {
        "name": "v2", "piece length": PL, "meta version": 2,
        "file tree": {"a": {"": {"length": 1, "pieces root": b"\0" * 32}}}}})
    return out


def good_files():
    out = {}
    # hostile paths: every one must parse and come out sanitised
    out["dotdot-paths.torrent"] = enc(multi([
        f(["..", "..", "etc", "passwd"]),
        f(["/etc/passwd"]),
        f(["", "etc", "shadow"]),
        f([".", "y"]),
        f(["a\0b"]),
        f([b"caf\xc3\xa9", b"\xff\xfe.txt"]),
        f(["...", "ok"]),
    ], name=".."))
    out["absolute-name.torrent"] = enc(single(name="/etc/passwd"))
    out["utf8-names.torrent"] = enc(multi([
        f([b"raw\xe9"], **{"path.utf-8": ["\u00fcn\u00efcode.txt"]}),
        f(["plain.txt"], **{"path.utf-8": 5}),  # unusable: falls back
    ], name=b"n\xe4me", **{"name.utf-8": "n\u00e4me"}))
    pad = {"attr": "p"}
    out["duplicates.torrent"] = enc(multi([
        f([".pad", "0"], 6, **pad),
        f(["a.txt"], 6, **pad),  # a pad file never takes a real name
        f(["a.txt"]),
        f(["a.txt"]),
        f(["a.txt"]),
        f(["a~1.txt"]),
        f(["d"]),
        f(["d", "x"]),
        f([".hidden"]),
        f([".hidden"]),
        f(["..", "z"]),
        f(["_..", "z"]),
    ]))
    out["padded.torrent"] = enc(multi([
        f(["a.bin"], 10000),
        f([".pad", "6384"], 6384, attr="p"),
        f(["b.bin"], 0),
        f(["c.bin"], 20000, attr="x"),
    ], **{"private": 1}))
    out["trackers.torrent"] = enc(dict(single(), **{
        "announce": "http://ignored.example/announce",
        "announce-list": [
            ["udp://t1.example:80/announce", "http://t2.example/a"],
            ["wss://t3.example/a", " HTTPS://t4.example/a \n",
             "udp://t1.example:80/announce"],
            "http://flat.example/a",
            [5, "http://", "http://bad url/a", "magnet:?xt=1"],
        ],
        "comment": b"hello \xff",
        "created by": "make-bad.py",
        "creation date": 1700000000,
    }))
    out["announce-only.torrent"] = enc(dict(single(), **{
        "announce-list": [["ftp://nope/"]], "comment": 5}))
    return out


def info_hash(data):
    """SHA-1 of the raw bytes of the top-level 'info' value."""
    def skip(i):
        c = data[i:i + 1]
        if c == b"i":
            return data.index(b"e", i) + 1
        if c in (b"l", b"d"):
            i += 1
            while data[i:i + 1] != b"e":
                i = skip(i)
            return i + 1
        colon = data.index(b":", i)
        return colon + 1 + int(data[i:colon])
    i = 1
    while data[i:i + 1] != b"e":
        kend = skip(i)
        key = data[data.index(b":", i) + 1:kend]
        vend = skip(kend)
        if key == b"info":
            return hashlib.sha1(data[kend:vend]).hexdigest()
        i = vend
    raise ValueError("no info")


def pattern(n, seed):
    return bytes((i * 7 + seed * 13 + (i >> 8)) % 251 for i in range(n))


def mktorrents():
    if not shutil.which("mktorrent"):
        print("mktorrent not found: keeping the committed mktorrent-*.torrent")
        return
    tmp = tempfile.mkdtemp()
    try:
        top = os.path.join(tmp, "mkt-multi")
        os.makedirs(os.path.join(top, "sub", "deeper"))
        files = {"a.bin": pattern(300000, 1), "sub/b.txt": b"hello\n" * 200,
                 "sub/deeper/c.dat": pattern(70000, 2)}
        for rel, data in files.items():
            with open(os.path.join(top, rel), "wb") as fp:
                fp.write(data)
        single_path = os.path.join(tmp, "mkt-single.bin")
        with open(single_path, "wb") as fp:
            fp.write(pattern(600000, 3))
        for src, name in ((top, "mktorrent-multi.torrent"),
                          (single_path, "mktorrent-single.torrent")):
            dst = os.path.join(GOOD, name)
            if os.path.exists(dst):
                os.unlink(dst)
            subprocess.run(["mktorrent", "-d", "-l", "18", "-a",
                            "http://127.0.0.1:6969/announce", "-o", dst, src],
                           check=True, stdout=subprocess.DEVNULL)
    finally:
        shutil.rmtree(tmp)
    for name in ("mktorrent-multi.torrent", "mktorrent-single.torrent"):
        with open(os.path.join(GOOD, name), "rb") as fp:
            print("%s info-hash %s" % (name, info_hash(fp.read())))


def main():
    for folder, gen in ((BAD, bad_files), (GOOD, good_files)):
        os.makedirs(folder, exist_ok=True)
        for name, data in sorted(gen().items()):
            write(folder, name, data)
    mktorrents()
    print("wrote %d bad and %d good files" % (len(bad_files()),
                                              len(good_files())))


if __name__ == "__main__":
    sys.exit(main())
