/* fuzz_replay: a short, deterministic stand-in for the fuzzers inside `make check`, with the
 * default compiler and no libFuzzer. Feeds every fixture (*.xml to the XML reader, rsp-* to the gdb protocol reader, vgdb-*.txt
 * to the vgdb reader) through the fuzz targets' LLVMFuzzerTestOneInput, then truncations of it
 * and mutants from a fixed-seed PRNG. Each input sits in an exact-size heap buffer so that a
 * sanitizer build (make sanitize) catches any read past its end.
 *
 *   fuzz_replay DIR...     (CTest passes tests/fixtures and tests/fuzz/regressions)
 *
 * The two targets are linked under other names (CMake renames LLVMFuzzerTestOneInput). */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slurp.h"

int lc_fuzz_vgxml(const uint8_t *data, size_t size);
int lc_fuzz_vgdb(const uint8_t *data, size_t size);
int lc_fuzz_rsp(const uint8_t *data, size_t size);

#define TRUNCS 48    /* truncation points per file */
#define MUTANTS 200  /* PRNG mutants per file */
#define MAX_OPS 4    /* edits per mutant */

struct target {
	const char *name;                       /* borrowed: static string */
	int (*fn)(const uint8_t *, size_t);     /* borrowed: the fuzz entry point */
	unsigned long inputs;
};

static struct target targets[] = {
	{ "vgxml", lc_fuzz_vgxml, 0 },
	{ "vgdb", lc_fuzz_vgdb, 0 },
	{ "rsp", lc_fuzz_rsp, 0 },
};

/* What runs now, for the death message: a crash must name its input to be reproducible. */
static char current[512];

static volatile sig_atomic_t reported;

/* Only present in a sanitizer build: ASan's exit after its report. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

/* gcc's UBSan skips the death callback: make its fatal errors abort, for on_signal. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "abort_on_error=1:print_stacktrace=1";
}

static void on_death(void)
{
	if (!reported)
		fprintf(stderr, "fuzz_replay: crashed on %s\n", current);
	reported = 1;
}

/* Say which input, then die of the same signal for ctest to see. */
static void on_signal(int sig)
{
	static const char head[] = "fuzz_replay: crashed on ";

	if (!reported && (write(2, head, sizeof head - 1) < 0 ||
			  write(2, current, strlen(current)) < 0 || write(2, "\n", 1) < 0)) {
		/* nothing left to try */
	}
	reported = 1;
	signal(sig, SIG_DFL);
	raise(sig);
}

static uint64_t rng;

static uint64_t next(void)   /* xorshift64*: fixed seed, same inputs on every machine */
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static size_t below(size_t n)
{
	return n ? (size_t)(next() % n) : 0;
}

/* Seeded by name, so a new fixture does not change the other files' mutants. */
static void seed(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ULL;
	rng = h ? h : 1;
}

/* The input in a buffer of exactly its size (malloc(0) may be NULL: use 1 byte, pass 0). */
static void run(struct target *t, const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy) {
		perror("fuzz_replay");
		exit(2);
	}
	memcpy(copy, data, size);
	t->fn(copy, size);
	free(copy);
	t->inputs++;
}

/* Bytes the readers branch on: markup, numbers, vgdb's separators. */
static const char special[] = "<>/=\"&;\n ():,+-0123456789x";

/* One edit of buf[0..*len) in place; cap is the buffer's size. */
static void mutate(uint8_t *buf, size_t *len, size_t cap)
{
	size_t n = *len, at = below(n), k;

	switch (next() % 6) {
	case 0:
		if (n)
			buf[at] = (uint8_t)next();
		break;
	case 1:
		if (n)
			buf[at] ^= (uint8_t)(1u << below(8));
		break;
	case 2:
		if (n)
			buf[at] = (uint8_t)special[below(sizeof special - 1)];
		break;
	case 3:   /* delete a slice */
		k = below(17);
		if (k > n - at)
			k = n - at;
		memmove(buf + at, buf + at + k, n - at - k);
		*len = n - k;
		break;
	case 4: { /* duplicate a slice elsewhere */
		size_t from = below(n), to = below(n + 1);

		k = below(65);
		if (k > n - from)
			k = n - from;
		if (k > cap - n)
			k = cap - n;
		uint8_t tmp[64];
		memcpy(tmp, buf + from, k);
		memmove(buf + to + k, buf + to, n - to);
		memcpy(buf + to, tmp, k);
		*len = n + k;
		break;
	}
	default: { /* a long run of one byte: past the readers' line and text limits */
		uint8_t c = (uint8_t)special[below(sizeof special - 1)];

		k = 500 + below(1600);
		if (k > cap - n)
			k = cap - n;
		at = below(n + 1);
		memmove(buf + at + k, buf + at, n - at);
		memset(buf + at, c, k);
		*len = n + k;
		break;
	}
	}
}

static void replay(struct target *t, const char *path, const uint8_t *data, size_t size)
{
	size_t step = size / TRUNCS ? size / TRUNCS : 1;
	size_t cap = size + MAX_OPS * 2100;
	uint8_t *buf = malloc(cap);

	if (!buf) {
		perror("fuzz_replay");
		exit(2);
	}
	snprintf(current, sizeof current, "%s (whole file)", path);
	run(t, data, size);
	for (size_t cut = 0; cut < size; cut += step) {
		snprintf(current, sizeof current, "%s cut at %zu bytes", path, cut);
		run(t, data, cut);
	}
	seed(strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
	for (int m = 0; m < MUTANTS; m++) {
		size_t len = size, ops = 1 + below(MAX_OPS);

		memcpy(buf, data, size);
		for (size_t i = 0; i < ops; i++)
			mutate(buf, &len, cap);
		snprintf(current, sizeof current, "%s mutant %d (of the sequence seeded by its name)",
			 path, m);
		run(t, buf, len);
	}
	free(buf);
}

static struct target *target_of(const char *name)
{
	size_t n = strlen(name);

	if (n > 4 && strcmp(name + n - 4, ".xml") == 0)
		return &targets[0];
	if (strncmp(name, "vgdb-", 5) == 0)
		return &targets[1];
	if (strncmp(name, "rsp-", 4) == 0)
		return &targets[2];
	return NULL;
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	unsigned files = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: fuzz_replay DIR...\n");
		return 2;
	}
	signal(SIGABRT, on_signal);   /* the targets' contract checks, UBSan */
	if (__sanitizer_set_death_callback) {
		__sanitizer_set_death_callback(on_death);
	} else {   /* ASan has its own handlers for these */
		signal(SIGSEGV, on_signal);
		signal(SIGBUS, on_signal);
		signal(SIGFPE, on_signal);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int a = 1; a < argc; a++) {
		struct dirent **ents;
		int n = scandir(argv[a], &ents, NULL, alphasort);   /* sorted: same order everywhere */

		if (n < 0) {
			perror(argv[a]);
			return 2;
		}
		for (int i = 0; i < n; i++) {
			struct target *t = target_of(ents[i]->d_name);
			char path[4096];
			size_t size;

			if (t) {
				snprintf(path, sizeof path, "%s/%s", argv[a], ents[i]->d_name);
				uint8_t *data = (uint8_t *)slurp(NULL, path, &size);

				if (!data) {
					perror(path);
					exit(2);
				}
				replay(t, path, data, size);
				free(data);
				files++;
			}
			free(ents[i]);
		}
		free(ents);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("fuzz_replay: %lu inputs (%lu vgxml, %lu vgdb, %lu rsp) from %u files in %.2f s, 0 crashes\n",
	       targets[0].inputs + targets[1].inputs + targets[2].inputs, targets[0].inputs, targets[1].inputs,
	       targets[2].inputs, files,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return files ? 0 : 1;
}
