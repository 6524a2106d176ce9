/* Unit tests for pfs_dh: public keys against values computed with
 * python3's pow(2, x, P) (including one that needs left-padding), the
 * shared secret both ways and against python3, the range check on a
 * peer's key (0, 1, P-1, P, 2^768-1 rejected; 2 and P-2 accepted), and a
 * zero private key refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "pfs_dh.h"
#include "pfs_hash.h"

/* python3:
 *   P = int('FFFF...0563', 16)   # the MSE prime
 *   pow(2, int.from_bytes(x, 'big'), P).to_bytes(96, 'big').hex() */
static const char *X1 = "0102030405060708090a0b0c0d0e0f1011121314";
static const char *PUB1 =
    "96e112dab29e8c5272accb9b17b26887ce54a144a4e3b697c7d159b7a817e556"
    "b0918db2b4c658e02a87f7e5fb14b18a553e084cbf3dad2d30f16596ccb982d4"
    "06258c61b30c5c1dae2ddc60bdbd48d79896312aad63238c39e1a633821eb693";
static const char *X2 = "ffffffffffffffffffffffffffffffffffffffff";
static const char *PUB2 =
    "fe9aac142f64ad4d5bca7e30bea17d62c709de9e4c5694e2b27e8c6ed82510bb"
    "57952fcce38f6a5084b9699ec34b033ed1a0dbd51d70274bff40ae493f0ce2cd"
    "bd3cbd6055c9677a7eb70d29f4d8ecfbc2625316a7ae1a0d3d6605f0406bad79";
/* a key whose public value has a zero top byte */
static const char *X3 = "c3f465442eb300c337a648a6c0dbdd73fc95f5c2";
static const char *PUB3 =
    "002a186a68e7410d6528d3da7750f8c7f67703a92b55231abfa9af7422d0fa20"
    "d920c263c5884a2bdc0c8f13df3657559138caa4ba728b16010c18407ac381b8"
    "2eaf74560bf1fdb72990d6d78e24ff4582c0ce2fda5cea90a6a72edb02e97fc3";
/* pow(PUB2, X1, P) */
static const char *S12 =
    "3adb0afff0af5a57448d2c9942ba132cd670d27879b5bf7745c8c4fd2ce1bc68"
    "e599e1c7ae211b44220a1ce7c6da8dcef2acd5516b5358089caae45e14b3626c"
    "7c824c214a4b4bb0b90f4973d99a368cd092d23c1c46fe2f70f0cc81fe510f31";
static const char *PRIME =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563";

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	assert_int_equal(pfs_unhex(hex, out, n), 0);
}

static void check_pub(const char *x_hex, const char *pub_hex)
{
	uint8_t x[PFS_DH_PRIV_LEN], want[PFS_DH_LEN], pub[PFS_DH_LEN];
	unhex(x_hex, x, sizeof(x));
	unhex(pub_hex, want, sizeof(want));
	memset(pub, 0xee, sizeof(pub));
	assert_int_equal(pfs_dh_public(x, pub), 0);
	assert_memory_equal(pub, want, PFS_DH_LEN);
}

static void test_public(void **state)
{
	(void)state;
	check_pub(X1, PUB1);
	check_pub(X2, PUB2);
	check_pub(X3, PUB3);
	/* tiny keys: 2^1 and 2^10, left-padded to 96 bytes */
	uint8_t x[PFS_DH_PRIV_LEN] = {0}, pub[PFS_DH_LEN], want[PFS_DH_LEN];
	x[19] = 1;
	memset(want, 0, sizeof(want));
	want[95] = 2;
	assert_int_equal(pfs_dh_public(x, pub), 0);
	assert_memory_equal(pub, want, PFS_DH_LEN);
	x[19] = 10;
	want[95] = 0;
	want[94] = 4;
	assert_int_equal(pfs_dh_public(x, pub), 0);
	assert_memory_equal(pub, want, PFS_DH_LEN);
	/* a zero private key */
	memset(x, 0, sizeof(x));
	assert_int_equal(pfs_dh_public(x, pub), -EINVAL);
}

static void test_secret(void **state)
{
	(void)state;
	uint8_t x1[20], x2[20], p1[96], p2[96], s1[96], s2[96], want[96];
	unhex(X1, x1, 20);
	unhex(X2, x2, 20);
	unhex(PUB1, p1, 96);
	unhex(PUB2, p2, 96);
	unhex(S12, want, 96);
	assert_int_equal(pfs_dh_secret(x1, p2, s1), 0);
	assert_int_equal(pfs_dh_secret(x2, p1, s2), 0);
	assert_memory_equal(s1, want, 96);
	assert_memory_equal(s2, want, 96);
	/* a secret from the left-padded public key agrees both ways too */
	uint8_t x3[20], p3[96];
	unhex(X3, x3, 20);
	unhex(PUB3, p3, 96);
	assert_int_equal(pfs_dh_secret(x1, p3, s1), 0);
	assert_int_equal(pfs_dh_secret(x3, p1, s2), 0);
	assert_memory_equal(s1, s2, 96);
}

static void test_peer_range(void **state)
{
	(void)state;
	uint8_t x[20], peer[96], s[96], p[96];
	unhex(X1, x, 20);
	unhex(PRIME, p, 96);
	/* 0 and 1 */
	memset(peer, 0, 96);
	assert_int_equal(pfs_dh_secret(x, peer, s), -EPROTO);
	peer[95] = 1;
	assert_int_equal(pfs_dh_secret(x, peer, s), -EPROTO);
	peer[95] = 2;
	assert_int_equal(pfs_dh_secret(x, peer, s), 0);
	/* P, P-1, P+1, all ones */
	memcpy(peer, p, 96);
	assert_int_equal(pfs_dh_secret(x, peer, s), -EPROTO);
	peer[95] = 0x62;
	assert_int_equal(pfs_dh_secret(x, peer, s), -EPROTO);
	peer[95] = 0x61; /* P-2 */
	assert_int_equal(pfs_dh_secret(x, peer, s), 0);
	peer[95] = 0x64;
	assert_int_equal(pfs_dh_secret(x, peer, s), -EPROTO);
	memset(peer, 0xff, 96);
	assert_int_equal(pfs_dh_secret(x, peer, s), -EPROTO);
	/* a zero private key */
	memset(x, 0, 20);
	unhex(PUB1, peer, 96);
	assert_int_equal(pfs_dh_secret(x, peer, s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_public),
	    cmocka_unit_test(test_secret),
	    cmocka_unit_test(test_peer_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
