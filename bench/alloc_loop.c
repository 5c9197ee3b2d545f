/* alloc_loop: the cost of one allocation, for make bench's section 9b, run with and without the
 * allocator preload (and with its frame-pointer walk or its CFI walk: LC_ALLOC_UNWIND).
 *
 *   alloc_loop N DEPTH
 *
 * At DEPTH frames below main (a server's allocation is a few calls below its event loop), N
 * times malloc(64) and free, then N times strdup of a 40-byte string (glibc's, which keeps no
 * frame pointer: the walk starts in a frame without one) and free. Prints the nanoseconds per
 * allocation and free of each: "malloc NS strdup NS". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* n allocations and frees, through malloc or strdup; volatile: none is optimised away */
static __attribute__((noinline)) double loop(long n, int dup, const char *text)
{
	double t0 = now();
	for (long i = 0; i < n; i++) {
		char *volatile p = dup ? strdup(text) : malloc(64);
		free(p);
	}
	return (now() - t0) * 1e9 / (double)n;
}

/* depth more frames, each a real one (the recursion is not a tail call) */
static __attribute__((noinline)) double below(int depth, long n, int dup, const char *text)
{
	if (depth <= 0)
		return loop(n, dup, text);
	double ns = below(depth - 1, n, dup, text);
	__asm__ volatile("" ::: "memory");
	return ns;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
	int depth = argc > 2 ? atoi(argv[2]) : 8;
	char text[41];
	memset(text, 'x', 40);
	text[40] = '\0';
	if (n <= 0 || depth < 0) {
		fprintf(stderr, "usage: alloc_loop N DEPTH\n");
		return 2;
	}
	below(depth, n / 10, 0, text); /* warm up: the site table's slots, the unwinder's first look */
	below(depth, n / 10, 1, text);
	double m = below(depth, n, 0, text), s = below(depth, n, 1, text);
	printf("malloc %.1f strdup %.1f\n", m, s);
	return 0;
}
