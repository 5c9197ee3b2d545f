/* libFuzzer target: the gdb remote protocol reader (harness/valgrind/rsp.c) on any byte stream, fed
 * in pieces, every packet classified and its hex decoded, as the relay does. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "valgrind/rsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lc_rsp_reader rd;
	static char out[LC_RSP_MAX], text[LC_RSP_MAX];
	memset(&rd, 0, sizeof rd);
	for (size_t off = 0; off < size;) {
		size_t piece = 1 + (size_t)data[off] % 64;
		if (piece > size - off)
			piece = size - off;
		if (lc__rsp_feed(&rd, (const char *)data + off, piece) < 0)
			break;
		off += piece;
		enum lc_rsp_result res;
		while ((res = lc__rsp_next(&rd, out, sizeof out, NULL)) != LC_RSP_NEED_MORE) {
			int n;
			if (res == LC_RSP_PACKET && lc__rsp_classify(out, &n) == LC_RSP_OUTPUT)
				lc__rsp_hex_decode(out + 1, strlen(out + 1), text, sizeof text);
		}
	}
	return 0;
}
