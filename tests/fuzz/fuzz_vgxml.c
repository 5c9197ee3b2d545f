/* libFuzzer target: the memcheck XML reader (harness/valgrind/vgxml.c) on arbitrary bytes.
 * Besides crashes (ASan/UBSan), it checks the header's contract: a failure leaves a reason and
 * an empty report; a success leaves records that are safe to print. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "valgrind/vgxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t size)
{
	if (!memchr(s, '\0', size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lc_exit_report r;
	char err[256];

	if (lc__exit_report_parse_buffer((const char *)data, size, &r, err, sizeof err) != 0) {
		if (err[0] == '\0' || !memchr(err, '\0', sizeof err) || r.records || r.nrecords)
			abort();
		lc_exit_report_free(&r);
		return 0;
	}
	if (r.nrecords && !r.records)
		abort();
	for (size_t i = 0; i < r.nrecords; i++) {
		const struct lc_record *rec = &r.records[i];

		if ((unsigned)rec->kind >= LC_NKINDS || rec->nframes > LC_MAX_FRAMES)
			abort();
		for (size_t j = 0; j < rec->nframes; j++) {
			check_str(rec->frames[j].fn, sizeof rec->frames[j].fn);
			check_str(rec->frames[j].file, sizeof rec->frames[j].file);
		}
	}
	lc_exit_report_free(&r);
	return 0;
}
