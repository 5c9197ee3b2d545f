/* The plain echo server: the runtime with no case code. Baseline for the harness and benchmarks.
 *
 * What the tools must report (any number of cycles, any close mode, then SIGTERM):
 *   lost at exit: 0 definite, 0 indirect, 0 possible;  still reachable at exit: 0
 *   retained blocks per cycle while running: 0;  STATS: open=<clients> objects=0 */
#include "rt/server.h"

int main(int argc, char **argv)
{
	static const struct server_ops ops = { 0 };
	return server_main(argc, argv, &ops);
}
