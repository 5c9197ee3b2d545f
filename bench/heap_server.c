/* heap_server: the echo server holding MB megabytes of reachable heap, in 1 KiB blocks.
 * Used by the benchmark to show that a leak snapshot costs with the live heap, not with
 * the cycles run. Usage: heap_server MB [PORT]. Frees everything at shutdown. */
#include <stdio.h>
#include <stdlib.h>

#include "rt/server.h"

#define BLOCK 1024

static char **blocks;  /* owned: the held heap */
static size_t nblocks;

static void heap_free(void)
{
	for (size_t i = 0; i < nblocks; i++)
		free(blocks[i]);
	free(blocks);
}

int main(int argc, char **argv)
{
	static const struct server_ops ops = { .on_shutdown = heap_free };
	char *end;
	long mb = argc >= 2 ? strtol(argv[1], &end, 10) : -1;
	if (argc < 2 || *end || mb < 0 || mb > 4096) {
		fprintf(stderr, "usage: %s MB [PORT]\n", argv[0]);
		return 2;
	}
	nblocks = (size_t)mb * 1024 * 1024 / BLOCK;
	blocks = calloc(nblocks ? nblocks : 1, sizeof *blocks);
	for (size_t i = 0; blocks && i < nblocks; i++)
		blocks[i] = calloc(1, BLOCK);
	argv[1] = argv[0];
	return server_main(argc - 1, argv + 1, &ops);
}
