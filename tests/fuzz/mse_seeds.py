#!/usr/bin/env python3
"""Seed corpus for tests/fuzz/fuzz_mse.c, from the independent Python MSE of
tests/unit/mse_vector.py: complete, valid handshakes for the responder
(mode 0) and the initiator (mode 1) with the private key and SKEY they need,
pair runs (mode 2) and classifier inputs (mode 3).

    python3 tests/fuzz/mse_seeds.py tests/fuzz/corpus/mse
"""
import hashlib
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'unit'))
import mse_vector as mv  # noqa: E402


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(7)
    pay = bytes(rng.randrange(256) for _ in range(100))
    vecs = [
        mv.vector('a', 21, 0, 0, 3, 2, 0, 0, mv.bt_handshake, pay, pay,
                  'prefer', 'prefer'),
        mv.vector('b', 22, 512, 512, 3, 1, 0, 0, b'', pay, pay,
                  'prefer', 'off'),
        mv.vector('c', 23, 100, 3, 2, 2, 512, 40, b'xyz', pay, pay,
                  'require', 'require'),
    ]
    seeds = []
    for v in vecs:
        for chunking in (0, 1, 9):
            seeds.append(bytes([0, chunking]) + v['rand_b'][:20] +
                         v['skey'] + v['a2b'])
            seeds.append(bytes([1, chunking]) + v['rand_a'][:20] +
                         v['skey'] + bytes([len(v['ia'])]) + v['b2a'])
    for pa, pb, pad_a, pad_b, ia, ca, cb in (
            (0, 0, 0, 0, 0, 255, 255), (1, 1, 512, 512, 68, 0, 3),
            (0, 2, 37, 200, 68, 16, 16), (1, 2, 5, 5, 0, 100, 100),
            (0, 1, 300, 1, 255, 1, 1)):
        seeds.append(bytes([2, pa, pb, pad_a >> 8, pad_a & 255, pad_b >> 8,
                            pad_b & 255, ia, ca, cb]))
    # one with a mutation in the VC of A's stream
    seeds.append(bytes([2, 0, 0, 0, 0, 0, 0, 0, 255, 255,
                        0, 0, 96 + 40 + 2, 0x40]))
    seeds.append(b'\x03' + mv.bt_handshake(bytes(20), bytes(20)))
    seeds.append(b'\x03\x13BitTor')
    seeds.append(b'\x03' + vecs[0]['a2b'][:96])
    for s in seeds:
        name = hashlib.sha1(s).hexdigest()
        with open(os.path.join(out, name), 'wb') as f:
            f.write(s)
    print('%d seeds in %s' % (len(seeds), out))


if __name__ == '__main__':
    main()
