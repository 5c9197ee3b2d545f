/* Protocol scripts: see script.h. */
#define _GNU_SOURCE
#include "drive/script.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive/net.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

long lc_unescape_bytes(const char *in, char *out, size_t cap, const char **why)
{
	static const char simple[] = { 'n', '\n', 'r', '\r', 't', '\t', '\\', '\\', '0', '\0' };
	size_t n = 0;
	*why = NULL;
	for (const char *p = in; *p; p++) {
		char c = *p;
		if (c == '\\') {
			size_t i = 0;
			while (i < sizeof simple && simple[i] != p[1])
				i += 2;
			if (i < sizeof simple) {
				c = simple[i + 1];
				p++;
			} else if (p[1] == 'x' && hex_digit(p[2]) >= 0 && hex_digit(p[3]) >= 0) {
				c = (char)(hex_digit(p[2]) * 16 + hex_digit(p[3]));
				p += 3;
			} else {
				*why = "bad escape (\\n \\r \\t \\\\ \\0 \\xNN)";
				return -1;
			}
		}
		if (n == cap) {
			*why = "too long";
			return -1;
		}
		out[n++] = c;
	}
	return (long)n;
}

void lc__escape_bytes(const char *in, size_t len, char *out, size_t cap)
{
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		char one[8];
		if (c == '\n' || c == '\r' || c == '\t' || c == '\\')
			snprintf(one, sizeof one, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : '\\');
		else if (c < 0x20 || c >= 0x7f)
			snprintf(one, sizeof one, "\\x%02x", c);
		else
			snprintf(one, sizeof one, "%c", c);
		if (w + strlen(one) + 4 > cap) {
			snprintf(out + w, cap - w, "...");
			return;
		}
		memcpy(out + w, one, strlen(one));
		w += strlen(one);
	}
	out[w] = '\0';
}

int lc__script_add(struct lc_script *s, enum lc_step_kind kind, const char *data, size_t len)
{
	if (s->n == LC_MAX_STEPS || len > LC_STEP_MAX)
		return -1;
	struct lc_step *st = &s->steps[s->n++];
	st->kind = kind;
	st->len = len;
	memcpy(st->data, data, len);
	return 0;
}

enum keyword { K_SEND, K_EXPECT, K_QUIT, K_UNKNOWN };

/* The keyword line starts with ("send", "expect", "quit"), its length in *len. */
static enum keyword keyword_of(const char *line, size_t *len)
{
	static const char *const words[] = { [K_SEND] = "send", [K_EXPECT] = "expect", [K_QUIT] = "quit" };
	for (enum keyword k = K_SEND; k < K_UNKNOWN; k++) {
		*len = strlen(words[k]);
		if (strncmp(line, words[k], *len) == 0 && (!line[*len] || isblank((unsigned char)line[*len])))
			return k;
	}
	return K_UNKNOWN;
}

/* One line "keyword [TEXT]" into s. Returns 0, or -1 with a reason. */
static int parse_line(const char *line, struct lc_script *s, const char **why)
{
	char data[LC_STEP_MAX];
	size_t wl = 0;
	enum keyword k = keyword_of(line, &wl);
	if (k == K_UNKNOWN) {
		*why = "unknown step (send, expect, quit)";
		return -1;
	}
	const char *text = line + wl + strspn(line + wl, " \t");
	long len = lc_unescape_bytes(text, data, sizeof data, why);
	if (len < 0)
		return -1;
	if (k != K_EXPECT && len == 0) {
		*why = "nothing to send";
		return -1;
	}
	if (k == K_QUIT) {
		s->quit.kind = LC_STEP_SEND;
		s->quit.len = (size_t)len;
		memcpy(s->quit.data, data, (size_t)len);
		return 0;
	}
	if (lc__script_add(s, k == K_SEND ? LC_STEP_SEND : LC_STEP_EXPECT, data, (size_t)len) < 0) {
		*why = "more than 16 steps";
		return -1;
	}
	return 0;
}

int lc__script_parse(const char *text, struct lc_script *s, char *err, size_t errlen)
{
	unsigned lineno = 0;
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");
		char line[LC_STEP_MAX * 4 + 16];
		const char *why = NULL;
		lineno++;
		if (len >= sizeof line) {
			snprintf(err, errlen, "line %u: too long", lineno);
			return -1;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		if (len && line[len - 1] == '\r')
			line[len - 1] = '\0';
		p += len + (p[len] == '\n');
		const char *q = line + strspn(line, " \t");
		if (!*q || *q == '#')
			continue;
		if (parse_line(q, s, &why) < 0) {
			snprintf(err, errlen, "line %u: %s", lineno, why);
			return -1;
		}
	}
	if (s->n == 0) {
		snprintf(err, errlen, "no steps (send, expect)");
		return -1;
	}
	return 0;
}

int lc__script_load(const char *path, struct lc_script *s, char *err, size_t errlen)
{
	enum { MAX_TEXT = 65536 };
	int rc = -1;
	char *text = NULL;
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (!(text = malloc(MAX_TEXT))) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	size_t n = fread(text, 1, MAX_TEXT - 1, f);
	if (!feof(f)) {
		snprintf(err, errlen, "%s: over 64 KiB", path);
		goto out;
	}
	text[n] = '\0';
	if (memchr(text, '\0', n)) {
		snprintf(err, errlen, "%s: a NUL byte (write \\0)", path);
		goto out;
	}
	rc = lc__script_parse(text, s, err, errlen);
out:
	if (f)
		fclose(f);
	free(text);
	return rc;
}

/* data with every "{n}" replaced by conn, and "{N}" by conn in 8 digits, into out. Returns
 * the length. */
static size_t expand(const struct lc_step *st, unsigned long conn, char *out, size_t cap)
{
	char num[2][24];
	size_t w = 0, nlen[2] = { (size_t)snprintf(num[0], sizeof num[0], "%lu", conn),
				  (size_t)snprintf(num[1], sizeof num[1], "%08lu", conn % 100000000UL) };
	for (size_t i = 0; i < st->len && w < cap; i++) {
		int k = i + 3 <= st->len && st->data[i] == '{' && st->data[i + 2] == '}' ?
			(st->data[i + 1] == 'n' ? 0 : st->data[i + 1] == 'N' ? 1 : -1) : -1;
		if (k >= 0 && w + nlen[k] <= cap) {
			memcpy(out + w, num[k], nlen[k]);
			w += nlen[k];
			i += 2;
		} else {
			out[w++] = st->data[i];
		}
	}
	return w;
}

int lc__script_run(const struct lc_script *s, int fd, unsigned long conn, double timeout, char *why,
		  size_t whylen, char *got, size_t gotcap, size_t *got_len)
{
	char data[LC_STEP_MAX + 256], want[LC_STEP_MAX * 4 + 8], seen[200];
	*got_len = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct lc_step *st = &s->steps[i];
		size_t len = expand(st, conn, data, sizeof data);
		if (st->kind == LC_STEP_SEND) {
			if (lc__send_all(fd, data, len, timeout) < 0)
				return -1;
			continue;
		}
		/* lc__recv_until also returns at EOF or a full buffer: check what came */
		long n = lc__recv_until(fd, got, gotcap, data, len, timeout);
		if (n < 0)
			return -1;
		*got_len = (size_t)n;
		if (n == 0) {
			snprintf(why, whylen, "the server closed the connection without replying (step %zu)", i + 1);
			return -2;
		}
		if (len && !memmem(got, (size_t)n, data, len)) {
			lc__escape_bytes(data, len, want, sizeof want);
			lc__escape_bytes(got, (size_t)n, seen, sizeof seen);
			snprintf(why, whylen, "the reply does not contain the expected text '%.200s' (step %zu); got '%s'",
				 want, i + 1, seen);
			return -2;
		}
	}
	return 0;
}

bool lc__script_expects(const struct lc_script *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->steps[i].kind == LC_STEP_EXPECT)
			return true;
	return false;
}
