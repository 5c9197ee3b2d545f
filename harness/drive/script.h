/* Protocol scripts: what leakcheck says on each connection, and what it waits for.
 *
 * A script is a list of steps run in order on every connection, from --send/--expect or from a
 * file (--script FILE), one step per line:
 *
 *   # MQTT 3.1.1: CONNECT, wait for CONNACK, then DISCONNECT
 *   send   \x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00
 *   expect \x20\x02\x00\x00
 *   send   \xe0\x00
 *
 *   send TEXT     write TEXT
 *   expect TEXT   read until TEXT has arrived (since the previous expect)
 *   expect        read until any byte has arrived (a greeting the server sends first)
 *   quit TEXT     the line that asks the server to close (--close server)
 *
 * TEXT takes the escapes \n \r \t \\ \0 \xNN, and {n}, replaced by the connection's number
 * (0, 1, 2, ... over the whole run), so each connection can use a key of its own (memcached
 * "set k{n} 0 0 1"); {N} is the same in 8 digits, for binary protocols whose length fields
 * must not change (an MQTT topic per connection). Leading blanks after the keyword are
 * skipped; write \x20 for a leading space. */
#ifndef LC_SCRIPT_H
#define LC_SCRIPT_H

#include "lc/leakcheck.h" /* lc_unescape_bytes() */

#include <stdbool.h>
#include <stddef.h>

#define LC_MAX_STEPS 16
#define LC_STEP_MAX 1024

enum lc_step_kind { LC_STEP_SEND, LC_STEP_EXPECT };

struct lc_step {
	enum lc_step_kind kind;
	size_t len;                  /* bytes of data; an expect with 0 waits for any byte */
	char data[LC_STEP_MAX];
};

struct lc_script {
	struct lc_step steps[LC_MAX_STEPS];
	size_t n;
	struct lc_step quit;         /* sent for --close server */
};


/* Parses a script file's text. Returns 0, or -1 with "line N: reason" in err. */
int lc__script_parse(const char *text, struct lc_script *s, char *err, size_t errlen);
/* Reads and parses FILE. */
int lc__script_load(const char *path, struct lc_script *s, char *err, size_t errlen);
/* Appends a step; returns -1 when the script is full. */
int lc__script_add(struct lc_script *s, enum lc_step_kind kind, const char *data, size_t len);

/* True when some step waits for a reply (the server then accepted the connection). */
bool lc__script_expects(const struct lc_script *s);

/* Runs the steps on a connected fd, as connection number conn. Returns 0; -1 when a send or
 * a read failed (errno set: a timeout is ETIMEDOUT); -2 when the server answered otherwise,
 * with a reason in why (what was expected, and the first bytes that came, escaped). got and
 * *got_len keep what the last expect received (for --keep). */
int lc__script_run(const struct lc_script *s, int fd, unsigned long conn, double timeout, char *why,
		  size_t whylen, char *got, size_t gotcap, size_t *got_len);

/* Writes bytes as printable text with escapes (at most cap - 1 chars, "..." if cut). */
void lc__escape_bytes(const char *in, size_t len, char *out, size_t cap);

#endif
