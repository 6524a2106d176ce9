/* pfs_text — make untrusted text safe to print: names from magnet links,
 * client versions from peers, anything a remote party chose that ends up
 * in a log line, on a terminal or in `p2pfs status`.
 *
 * Pure functions on the caller's buffers; any thread. */
#ifndef PFS_TEXT_H
#define PFS_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Length of the well-formed UTF-8 sequence at P (N bytes left), or 0 when
 * it is not one (overlong forms, surrogates, code points past U+10FFFF). */
size_t pfs_utf8_seq_len(const uint8_t *p, size_t n);

/* Copy LEN bytes of IN into OUT (CAP bytes, CAP >= 1) as printable text:
 * well-formed UTF-8 is kept except control characters (C0, DEL and the C1
 * range U+0080..U+009F, which terminals take as escapes), which become
 * '?', as do bytes that are not UTF-8. The copy is cut at a character
 * boundary so that it fits, always NUL-terminated. Returns its length. */
size_t pfs_text_clean(const void *in, size_t len, char *out, size_t cap);

#endif
