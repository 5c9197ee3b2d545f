/* gdb remote serial protocol: see rsp.h. The format is gdb's "Remote Protocol"
 * appendix: packets "$data#cs", '}' escapes the next byte XOR 0x20, "X*n" repeats X n-29 more
 * times (valgrind's gdbserver compresses stop replies this way: "0*\"" is eight zeros). */
#include "valgrind/rsp.h"

#include <stdio.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int lc__rsp_frame(const char *payload, char *out, size_t cap)
{
	unsigned sum = 0;
	for (const char *p = payload; *p; p++)
		sum += (unsigned char)*p;
	int n = snprintf(out, cap, "$%s#%02x", payload, sum & 0xffu);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int lc__rsp_hex_encode(const void *data, size_t len, char *out, size_t cap)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *d = data;
	if (cap < 2 * len + 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * len] = '\0';
	return 0;
}

long lc__rsp_hex_decode(const char *hex, size_t hexlen, char *out, size_t cap)
{
	if (hexlen % 2 || cap < hexlen / 2 + 1)
		return -1;
	for (size_t i = 0; i < hexlen; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (char)(hi << 4 | lo);
	}
	out[hexlen / 2] = '\0';
	return (long)(hexlen / 2);
}

int lc__rsp_feed(struct lc_rsp_reader *r, const char *data, size_t len)
{
	if (len > sizeof r->buf - r->len)
		return -1;
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

static void consume(struct lc_rsp_reader *r, size_t n)
{
	memmove(r->buf, r->buf + n, r->len - n);
	r->len -= n;
}

/* Undo '}' escapes and "X*n" runs of raw[0..n) into out. Returns the length or -1. */
static long unpack(const char *raw, size_t n, char *out, size_t cap)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		char c = raw[i];
		if (c == '}' && i + 1 < n)
			c = (char)(raw[++i] ^ 0x20);
		else if (c == '*' && w > 0 && i + 1 < n) {
			int rep = (unsigned char)raw[++i] - 29;
			if (rep < 0 || w + (size_t)rep >= cap)
				return -1;
			memset(out + w, out[w - 1], (size_t)rep);
			w += (size_t)rep;
			continue;
		}
		if (w + 1 >= cap)
			return -1;
		out[w++] = c;
	}
	out[w] = '\0';
	return (long)w;
}

enum lc_rsp_result lc__rsp_next(struct lc_rsp_reader *r, char *out, size_t cap, size_t *outlen)
{
	char *start = memchr(r->buf, '$', r->len);
	if (!start) {
		r->len = 0; /* acks and noise only */
		return LC_RSP_NEED_MORE;
	}
	consume(r, (size_t)(start - r->buf));
	char *hash = memchr(r->buf, '#', r->len);
	if (!hash || (size_t)(hash - r->buf) + 3 > r->len)
		return LC_RSP_NEED_MORE;
	size_t n = (size_t)(hash - r->buf) - 1, total = n + 4;
	unsigned sum = 0;
	for (size_t i = 1; i <= n; i++)
		sum += (unsigned char)r->buf[i];
	int hi = hexval(hash[1]), lo = hexval(hash[2]);
	long len = hi < 0 || lo < 0 || (unsigned)(hi << 4 | lo) != (sum & 0xffu) ? -1 : unpack(r->buf + 1, n, out, cap);
	consume(r, total);
	if (len < 0)
		return LC_RSP_BAD;
	if (outlen)
		*outlen = (size_t)len;
	return LC_RSP_PACKET;
}

enum lc_rsp_kind lc__rsp_classify(const char *p, int *num)
{
	int v = 0;
	*num = 0;
	if (strcmp(p, "OK") == 0)
		return LC_RSP_OK;
	if (p[0] == 'O' && p[1] && strcmp(p, "OK") != 0)
		return LC_RSP_OUTPUT;
	if (strchr("ESTWX", p[0]) && p[0] && hexval(p[1]) >= 0 && hexval(p[2]) >= 0)
		v = hexval(p[1]) << 4 | hexval(p[2]);
	else
		return LC_RSP_OTHER;
	*num = v;
	switch (p[0]) {
	case 'E': return LC_RSP_ERROR;
	case 'S': case 'T': return LC_RSP_STOPPED;
	case 'W': return LC_RSP_EXITED;
	default: return LC_RSP_KILLED;
	}
}

int lc__rsp_stop_thread(const char *p, char *out, size_t cap)
{
	const char *t = p[0] == 'T' ? strstr(p, "thread:") : NULL;
	size_t n = 0;
	if (!t)
		return -1;
	t += strlen("thread:");
	const char *dot = t[0] == 'p' ? strchr(t, '.') : NULL;
	if (dot && (!strchr(t, ';') || dot < strchr(t, ';')))
		t = dot + 1;
	while (hexval(t[n]) >= 0)
		n++;
	if (n == 0 || n + 1 > cap || (t[n] != ';' && t[n] != '\0'))
		return -1;
	memcpy(out, t, n);
	out[n] = '\0';
	return 0;
}
