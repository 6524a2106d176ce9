#!/usr/bin/env python3
"""Known-answer vectors for tests/unit/test_mse.c, computed by an
implementation of Message Stream Encryption written here from the spec,
independently of the C code: RC4 in a few lines of Python, Diffie-Hellman
with pow(), SHA-1 from hashlib.

    python3 tests/unit/mse_vector.py > tests/unit/mse_vector.h

Each vector fixes both sides' random bytes (in the order bt_mse.h says the
C core draws them: the 20-byte private key, 2 bytes of pad length, the pad)
and gives the whole byte stream each way: A->B (Ya, PadA, the two hashes,
E(VC, crypto_provide, len(PadC), PadC, len(IA)), E(IA), then A's payload)
and B->A (Yb, PadB, E(VC, crypto_select, len(PadD), PadD), B's payload).
"""
import hashlib
import random
import sys

P = int('FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74'
        '020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437'
        '4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563',
        16)
G = 2


class RC4:
    def __init__(self, key):
        s = list(range(256))
        j = 0
        for i in range(256):
            j = (j + s[i] + key[i % len(key)]) % 256
            s[i], s[j] = s[j], s[i]
        self.s, self.i, self.j = s, 0, 0

    def crypt(self, data):
        s, i, j = self.s, self.i, self.j
        out = bytearray()
        for b in data:
            i = (i + 1) % 256
            j = (j + s[i]) % 256
            s[i], s[j] = s[j], s[i]
            out.append(b ^ s[(s[i] + s[j]) % 256])
        self.i, self.j = i, j
        return bytes(out)


# what our initiator offers, and what our responder may pick, per policy
OFFER = {'prefer': 3, 'require': 2}
ALLOW = {'prefer': 3, 'require': 2, 'off': 1}


def pick(provide, policy):
    both = provide & ALLOW[policy]
    return 2 if both & 2 else 1 if both & 1 else 0


def sha1(*parts):
    return hashlib.sha1(b''.join(parts)).digest()


def i2b(x):
    return x.to_bytes(96, 'big')


def stream(tag, s, skey):
    r = RC4(sha1(tag, s, skey))
    r.crypt(bytes(1024))
    return r


def side(rng, padlen):
    """A side's random bytes as the C core draws them, and its key/pad."""
    priv = bytes(rng.randrange(256) for _ in range(20))
    pad = bytes(rng.randrange(256) for _ in range(padlen))
    drawn = priv + padlen.to_bytes(2, 'big') + pad
    return drawn, int.from_bytes(priv, 'big'), pad


def vector(name, seed, pad_a, pad_b, provide, select, pad_c, pad_d, ia,
           pay_a, pay_b, init_policy, resp_policy):
    rng = random.Random(seed)
    rand_a, xa, pa = side(rng, pad_a)
    rand_b, xb, pb = side(rng, pad_b)
    skey = bytes(rng.randrange(256) for _ in range(20))
    ya, yb = pow(G, xa, P), pow(G, xb, P)
    s = i2b(pow(yb, xa, P))
    assert s == i2b(pow(ya, xb, P))
    ea, eb = stream(b'keyA', s, skey), stream(b'keyB', s, skey)
    if callable(ia):  # the BitTorrent handshake for this vector's skey
        ia = ia(skey, b'-PF0100-abcdefghijkl')
    padc = bytes(rng.randrange(256) for _ in range(pad_c))
    padd = bytes(rng.randrange(256) for _ in range(pad_d))

    a2b = i2b(ya) + pa + sha1(b'req1', s)
    a2b += bytes(x ^ y for x, y in zip(sha1(b'req2', skey), sha1(b'req3', s)))
    a2b += ea.crypt(bytes(8) + provide.to_bytes(4, 'big') +
                    pad_c.to_bytes(2, 'big') + padc +
                    len(ia).to_bytes(2, 'big') + ia)
    a2b_hs = len(a2b)
    a2b += ea.crypt(pay_a) if select == 2 else pay_a

    b2a = i2b(yb) + pb + eb.crypt(bytes(8) + select.to_bytes(4, 'big') +
                                  pad_d.to_bytes(2, 'big') + padd)
    b2a_hs = len(b2a)
    b2a += eb.crypt(pay_b) if select == 2 else pay_b
    return dict(name=name, rand_a=rand_a, rand_b=rand_b, skey=skey, ia=ia,
                init_policy=init_policy, resp_policy=resp_policy,
                select=select, a2b=a2b, a2b_hs=a2b_hs, b2a=b2a,
                b2a_hs=b2a_hs, pay_a=pay_a, pay_b=pay_b,
                # does this side send exactly what our C core sends with
                # that policy?
                a_ours=int(pad_c == 0 and provide == OFFER[init_policy]),
                b_ours=int(pad_d == 0 and
                           select == pick(provide, resp_policy)))


def bt_handshake(skey, peer_id):
    return (b'\x13BitTorrent protocol' + bytes(8) + skey + peer_id)


def carr(name, data):
    rows = []
    for i in range(0, len(data), 12):
        rows.append('\t' + ' '.join('0x%02x,' % b for b in data[i:i + 12]))
    body = '\n'.join(rows) if rows else '\t0'
    return 'static const uint8_t %s[] = {\n%s\n};\n' % (name, body)


def main():
    vs = []
    # our initiator (prefer: offers RC4 and plaintext) and our responder
    # (prefer: picks RC4), the BitTorrent handshake in IA
    rng = random.Random(1)
    pay_a = bytes(rng.randrange(256) for _ in range(300))
    pay_b = bytes(rng.randrange(256) for _ in range(517))
    ia = bt_handshake
    vs.append(vector('rc4', 11, 37, 200, 3, 2, 0, 0, ia, pay_a, pay_b,
                     'prefer', 'prefer'))
    # plaintext selected (a responder with "off"): IA still RC4, then clear
    vs.append(vector('plain', 12, 512, 0, 3, 1, 0, 0, ia, pay_a, pay_b,
                     'prefer', 'off'))
    # a foreign initiator: RC4 only, PadC of 100 bytes, no IA; and a foreign
    # responder with a PadD of 77 bytes
    vs.append(vector('padc-padd', 13, 0, 512, 2, 2, 100, 77, b'', pay_a,
                     pay_b, 'require', 'require'))
    # plaintext, no IA, PadC/PadD of the maximum size
    vs.append(vector('plain-noia', 14, 5, 6, 1, 1, 512, 512, b'', pay_a,
                     pay_b, 'prefer', 'prefer'))

    out = ['/* Generated by tests/unit/mse_vector.py (an independent Python',
           ' * implementation of MSE); do not edit. */',
           '#include <stddef.h>', '#include <stdint.h>', '']
    for k, v in enumerate(vs):
        for f in ('rand_a', 'rand_b', 'skey', 'ia', 'a2b', 'b2a', 'pay_a',
                  'pay_b'):
            out.append(carr('v%d_%s' % (k, f), v[f]))
    out.append('struct mse_vec {')
    out.append('\tconst char *name, *init_policy, *resp_policy;')
    for f in ('rand_a', 'rand_b', 'ia', 'a2b', 'b2a', 'pay_a', 'pay_b'):
        out.append('\tconst uint8_t *%s;\n\tsize_t %s_len;' % (f, f))
    out.append('\tconst uint8_t *skey;')
    out.append('\tsize_t a2b_hs, b2a_hs; /* handshake part of each stream */')
    out.append('\tuint32_t select;')
    out.append('\tint a_ours, b_ours; /* that side sends what ours does */')
    out.append('};\n')
    out.append('static const struct mse_vec mse_vecs[] = {')
    for k, v in enumerate(vs):
        fields = ['"%s", "%s", "%s"' % (v['name'], v['init_policy'],
                                        v['resp_policy'])]
        for f in ('rand_a', 'rand_b', 'ia', 'a2b', 'b2a', 'pay_a', 'pay_b'):
            fields.append('v%d_%s, %d' % (k, f, len(v[f])))
        fields.append('v%d_skey' % k)
        fields.append('%d, %d' % (v['a2b_hs'], v['b2a_hs']))
        fields.append('%d, %d, %d' % (v['select'], v['a_ours'], v['b_ours']))
        out.append('\t{' + ',\n\t '.join(fields) + '},')
    out.append('};')
    sys.stdout.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
