/* pfs_version — the peer id prefix from the version string; see
 * pfs_version.h. */
#include "pfs_version.h"

static uint8_t version_char(unsigned long v)
{
	if (v < 10)
		return (uint8_t)('0' + v);
	if (v < 36)
		return (uint8_t)('A' + (v - 10));
	if (v < 62)
		return (uint8_t)('a' + (v - 36));
	return 'z';
}

void pfs_version_peer_id(const char *version,
			 uint8_t out[PFS_PEER_ID_PREFIX_LEN])
{
	const char *p = version ? version : "";
	out[0] = '-';
	out[1] = 'P';
	out[2] = 'F';
	for (int i = 0; i < 4; i++) {
		unsigned long v = 0;
		while (*p >= '0' && *p <= '9') {
			if (v < 1000)
				v = v * 10 + (unsigned long)(*p - '0');
			p++;
		}
		out[3 + i] = version_char(v);
		/* skip a suffix ("-rc1") up to the next component */
		while (*p && *p != '.')
			p++;
		if (*p == '.')
			p++;
	}
	out[7] = '-';
}
