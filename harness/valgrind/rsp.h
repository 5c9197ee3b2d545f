/* The gdb remote serial protocol, as much of it as talking to valgrind's gdbserver through a
 * `vgdb --pid=P` relay needs: framing ($payload#cs), checksums, acks, run-length encoding,
 * hex, and stop replies. Pure functions over byte buffers: unit-tested on byte streams
 * recorded from real vgdb (tests/suites/test_rsp.c) and fuzzed (tests/fuzz/fuzz_rsp.c). */
#ifndef LC_RSP_H
#define LC_RSP_H

#include <stddef.h>

#define LC_RSP_MAX 16384       /* largest packet payload we accept (vgdb sends ~16 KiB at most) */

/* "$" payload "#" two hex digits of the sum of the payload's bytes mod 256. Returns the
 * framed length, or -1 if it does not fit in cap (with its NUL). */
int lc__rsp_frame(const char *payload, char *out, size_t cap);

/* Hex of len bytes into out (2*len+1). Returns 0, or -1 if it does not fit. */
int lc__rsp_hex_encode(const void *data, size_t len, char *out, size_t cap);
/* Hex text (even length, case-insensitive) to bytes, NUL-terminated. Returns the byte count,
 * or -1 on a bad digit, an odd length, or no room. */
long lc__rsp_hex_decode(const char *hex, size_t hexlen, char *out, size_t cap);

/* A reader that cuts packets out of a byte stream that may arrive in any pieces. */
struct lc_rsp_reader {
	char buf[2 * LC_RSP_MAX + 8];  /* bytes received and not consumed yet */
	size_t len;
};

enum lc_rsp_result { LC_RSP_NEED_MORE = 0, LC_RSP_PACKET = 1, LC_RSP_BAD = -1 };

/* Append received bytes. Returns -1 if the reader's buffer would overflow (a packet that is
 * too long: the stream cannot be trusted any more). */
int lc__rsp_feed(struct lc_rsp_reader *r, const char *data, size_t len);
/* The next complete packet's payload, run-length encoding and '}' escapes undone, NUL-ended
 * in out; acks ('+', '-') and noise before '$' are skipped. LC_RSP_BAD: a checksum mismatch or a
 * payload over cap (the packet is consumed all the same). */
enum lc_rsp_result lc__rsp_next(struct lc_rsp_reader *r, char *out, size_t cap, size_t *outlen);

/* What a packet from the stub means. */
enum lc_rsp_kind {
	LC_RSP_OK,        /* "OK" */
	LC_RSP_ERROR,     /* "Enn" */
	LC_RSP_OUTPUT,    /* "O<hex>": console output of a monitor command */
	LC_RSP_STOPPED,   /* "Snn" / "Tnn...": stopped by signal nn */
	LC_RSP_EXITED,    /* "Wnn": exited with status nn */
	LC_RSP_KILLED,    /* "Xnn": terminated by signal nn */
	LC_RSP_OTHER,     /* anything else ("" = unsupported, qSupported replies, ...) */
};
/* Classifies payload; *num gets the signal or status (0 when none). */
enum lc_rsp_kind lc__rsp_classify(const char *payload, int *num);
/* The thread a "T" stop reply names ("...;thread:243e;": the stopped thread's id in hex, a
 * "pPID.TID" form reduced to its TID) into out. Returns 0, or -1 when it names none or the id
 * does not fit. */
int lc__rsp_stop_thread(const char *payload, char *out, size_t cap);

#endif
