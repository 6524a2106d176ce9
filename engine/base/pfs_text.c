/* pfs_text — printable copies of untrusted text; see pfs_text.h. */
#include "pfs_text.h"

size_t pfs_utf8_seq_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len;
	uint32_t cp, min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

size_t pfs_text_clean(const void *in, size_t len, char *out, size_t cap)
{
	const uint8_t *p = in;
	size_t o = 0, i = 0;

	if (!cap)
		return 0;
	while (i < len) {
		size_t k = pfs_utf8_seq_len(p + i, len - i);
		const uint8_t *src = p + i;
		size_t n = k;
		if (k == 0 || (k == 1 && (p[i] < 0x20 || p[i] == 0x7f)) ||
		    (k == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0)) {
			src = (const uint8_t *)"?";
			n = 1;
		}
		if (o + n >= cap)
			break;
		for (size_t j = 0; j < n; j++)
			out[o++] = (char)src[j];
		i += k ? k : 1;
	}
	out[o] = '\0';
	return o;
}
