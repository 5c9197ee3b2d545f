/* libFuzzer target: the vgdb monitor text reader (harness/valgrind/vgdb.c) on arbitrary bytes.
 * lc__vgdb_parse takes a C string, so the input is copied into an exact-size buffer: ASan then
 * catches a read past its NUL. Also checks the header's contract on the snapshot. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "valgrind/vgdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t size)
{
	if (!memchr(s, '\0', size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lc_snapshot snap;
	char err[256] = "";
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (lc__vgdb_parse(text, &snap, err, sizeof err) != 0) {
		if (err[0] == '\0' || !memchr(err, '\0', sizeof err))
			abort();
		free(text);
		return 0;
	}
	if (snap.nsites > LC_MAX_SITES || snap.fds != -1)
		abort();
	for (size_t i = 0; i < snap.nsites; i++) {
		const struct lc_site *s = &snap.sites[i];

		/* sorted by growth, largest first; only records that grew are kept */
		if ((i > 0 && snap.sites[i - 1].dbytes < s->dbytes) || (s->dbytes <= 0 && s->dblocks <= 0))
			abort();
		if ((unsigned)s->rec.kind >= LC_NKINDS || s->rec.nframes > LC_MAX_FRAMES)
			abort();
		for (size_t j = 0; j < s->rec.nframes; j++) {
			check_str(s->rec.frames[j].fn, sizeof s->rec.frames[j].fn);
			check_str(s->rec.frames[j].file, sizeof s->rec.frames[j].file);
		}
	}
	free(text);
	return 0;
}
