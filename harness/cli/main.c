/* leakcheck CLI: parse options into struct lc_options, run, print, exit with the verdict. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lc/leakcheck.h"

/* The project's version, from CMake's project(VERSION) (harness/CMakeLists.txt). */
#ifndef LC_VERSION
#define LC_VERSION "unknown"
#endif

static const char usage[] =
	"usage: leakcheck [OPTIONS] -- SERVER [ARGS...]\n"
	"Runs SERVER under valgrind memcheck, drives connect/disconnect cycles at it on 127.0.0.1,\n"
	"and judges leaks at exit and while it runs. Exit status: 0 clean, 1 leak, 2 could not judge.\n"
	"  --native             no valgrind: the server runs as it is with an allocator preload,\n"
	"                       each snapshot reads its live blocks per site (a static binary:\n"
	"                       anonymous memory), fds and threads; holders from the preload's\n"
	"                       blocks in the server's memory; no exit report.\n"
	"                       Defaults become --cycles 500 --warmup 50\n"
	"  --stats TEXT         sent on the probe connection at each snapshot; the server's reply\n"
	"                       holds a counter of its own (live objects), judged like heap blocks\n"
	"  --stats-field REGEX  where the counter is in that reply (group 1; default\n"
	"                       'objects=([0-9]+)')\n"
	"  {port} in ARGS       replaced by a free loopback port; otherwise the port is read from the\n"
	"                       server's stdout line 'listening on 127.0.0.1:PORT'\n"
	"  --port N             the server's fixed port (it must be free); {port} is N\n"
	"  --config TEMPLATE    copied into the work dir with {port} and {dir} (the work dir)\n"
	"                       filled in; {config} in ARGS is the copy's path\n"
	"  --ready REGEX        readiness line to wait for, on stdout or stderr (extended regex;\n"
	"                       group 1 = port)\n"
	"  --cycles N           connections per measured round (default 200)\n"
	"  --rounds R           measured rounds, at least 2 (default 3): a leak must grow in every\n"
	"                       round, so one round could not tell one-time growth from a leak\n"
	"  --confirm N          growth under one block (fd, thread) a connection is confirmed by one\n"
	"                       round of N x --cycles connections: a leak grows about N times a\n"
	"                       round's growth, a cache that fills does not (default 10; 0: never)\n"
	"  --warmup W           connections before the baseline (default 20)\n"
	"  --close MODE         eof | server | reset | mix (default mix)\n"
	"  --concurrency K      connections open at once (default 1)\n"
	"  --send TEXT          sent on each connection (default 'ping\\n'; '' sends nothing)\n"
	"  --expect TEXT        reply to wait for (default: the echo of --send; any reply if --send\n"
	"                       is given without it)\n"
	"  --quit TEXT          line that makes the server close (--close server; default 'QUIT\\n')\n"
	"                       TEXT escapes: \\n \\r \\t \\\\ \\0 \\xNN\n"
	"  --script FILE        steps per connection instead of --send/--expect, one per line:\n"
	"                       'send TEXT', 'expect TEXT', 'expect' (any byte), 'quit TEXT';\n"
	"                       {n} in TEXT is the connection's number (a key of its own)\n"
	"  --timeout S          seconds for every wait on the server once ready (default 10)\n"
	"  --ready-timeout S    seconds for it to print its line and accept (default 60)\n"
	"  --settle S           a snapshot that grew is trusted once the heap has not shrunk for S\n"
	"                       seconds (default 0.5); raise it for frees deferred longer than that\n"
	"  --trace-children-skip PATTERNS  passed to valgrind: children not to follow (default:\n"
	"                       every forked and exec'd process is followed and measured)\n"
	"  --every N            also a heap snapshot every N connections, for plots: --json's\n"
	"                       retained.series gets them with \"settled\": false (not judged)\n"
	"  --alloc-fn NAME      an allocation wrapper: sites are named by its caller (repeatable,\n"
	"                       up to 8). Allocator layers are skipped without it: the frames above\n"
	"                       the allocation whose function name holds \"alloc\" in any case\n"
	"                       (xmalloc, g_malloc0, zmalloc_usable, PyMem_Malloc, ngx_palloc) or\n"
	"                       ends in strdup, and operator new\n"
	"  --suppressions FILE  passed to valgrind\n"
	"  --write-baseline FILE  record the sites that grow today, per connection (known leaks)\n"
	"  --baseline FILE      known leaks: growth only at those sites, no faster than recorded\n"
	"                       (+10%), is not a leak; a new site, or a faster one, still is\n"
	"  --write-suppressions FILE  a suppression for every loss at exit, written to FILE for\n"
	"                       you to review (then pass it with --suppressions)\n"
	"  --json FILE          machine-readable report\n"
	"  --junit FILE         JUnit XML: a testcase per check and per growing site\n"
	"  --sarif FILE         SARIF 2.1.0: a result per growing site or loss at exit, at its\n"
	"                       source line (GitHub code scanning); with GITHUB_ACTIONS=true,\n"
	"                       ::error annotations are printed as well\n"
	"  --html FILE          one self-contained page: the verdict, the heap against connections\n"
	"                       (SVG), each growing site with its source line and what holds it\n"
	"  --source-dir DIR     where --html looks for source files first (default: beside SERVER\n"
	"                       and its parents, a build tree's source twin, the current folder)\n"
	"  --keep DIR           keep valgrind's raw logs (XML, vgdb output, server output) in DIR\n"
	"  --valgrind PROG      valgrind program to run (default valgrind)\n"
	"  -q                   print only the verdict line\n"
	"  --version            print leakcheck's version and exit\n"
	"  -h, --help           this text\n";

static void on_signal(int sig)
{
	(void)sig;
	lc_cancel();
}

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "leakcheck: %s%s%s (try --help)\n", msg, arg ? ": " : "", arg ? arg : "");
	return LC_ERROR;
}

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || s[0] == '-' || v > 10000000)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int set_text(char *dst, size_t *len, const char *src)
{
	const char *why;
	long n = lc_unescape_bytes(src, dst, LC_TEXT_MAX - 1, &why);
	if (n < 0)
		return -1;
	dst[n] = '\0';
	*len = (size_t)n;
	return 0;
}

/* Fail at parse time, not after a whole run, when the report cannot be written. */
static bool writable(const char *path)
{
	FILE *f = fopen(path, "a");
	if (f)
		fclose(f);
	return f != NULL;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether word is one of opts' long options ("--json", "--json=x", "--"): as the value of an
 * option, it means the value was left out, and taking it would run with "--json" as a folder. */
static bool is_option(const struct option *opts, const char *word)
{
	if (strncmp(word, "--", 2) != 0)
		return false;
	size_t n = strcspn(word + 2, "=");
	for (const struct option *o = opts; o->name; o++)
		if (strlen(o->name) == n && strncmp(o->name, word + 2, n) == 0)
			return true;
	return n == 0;
}

int main(int argc, char **argv)
{
	enum { O_READY = 256, O_CYCLES, O_ROUNDS, O_WARMUP, O_CLOSE, O_CONC, O_SEND, O_EXPECT, O_QUIT,
	       O_TIMEOUT, O_SUPP, O_JSON, O_KEEP, O_VALGRIND, O_SETTLE, O_SKIP, O_ALLOC, O_EVERY, O_SCRIPT, O_PORT, O_CONFIG, O_WSUPP, O_JUNIT, O_SARIF, O_BASE, O_WBASE, O_NATIVE, O_STATS, O_SFIELD, O_RTIMEOUT, O_HTML, O_SRCDIR, O_CONFIRM };
	static const struct option longopts[] = {
		{ "version", 0, 0, 'V' },
		{ "ready", 1, 0, O_READY }, { "cycles", 1, 0, O_CYCLES }, { "rounds", 1, 0, O_ROUNDS },
		{ "confirm", 1, 0, O_CONFIRM },
		{ "warmup", 1, 0, O_WARMUP }, { "close", 1, 0, O_CLOSE }, { "concurrency", 1, 0, O_CONC },
		{ "send", 1, 0, O_SEND }, { "expect", 1, 0, O_EXPECT }, { "quit", 1, 0, O_QUIT },
		{ "timeout", 1, 0, O_TIMEOUT }, { "ready-timeout", 1, 0, O_RTIMEOUT }, { "suppressions", 1, 0, O_SUPP }, { "json", 1, 0, O_JSON },
		{ "keep", 1, 0, O_KEEP }, { "valgrind", 1, 0, O_VALGRIND }, { "settle", 1, 0, O_SETTLE },
		{ "trace-children-skip", 1, 0, O_SKIP }, { "alloc-fn", 1, 0, O_ALLOC }, { "every", 1, 0, O_EVERY },
		{ "script", 1, 0, O_SCRIPT }, { "port", 1, 0, O_PORT }, { "config", 1, 0, O_CONFIG },
		{ "write-suppressions", 1, 0, O_WSUPP }, { "junit", 1, 0, O_JUNIT }, { "sarif", 1, 0, O_SARIF },
		{ "baseline", 1, 0, O_BASE }, { "write-baseline", 1, 0, O_WBASE }, { "native", 0, 0, O_NATIVE },
		{ "stats", 1, 0, O_STATS }, { "stats-field", 1, 0, O_SFIELD }, { "html", 1, 0, O_HTML },
		{ "source-dir", 1, 0, O_SRCDIR }, { "help", 0, 0, 'h' }, { 0 },
	};
	struct lc_options o;
	const char *json = NULL, *junit = NULL, *sarif = NULL, *html = NULL;
	static char stats[LC_TEXT_MAX];
	bool quiet = false, send_given = false, expect_given = false;
	lc_options_init(&o, LC_ENGINE_MEMCHECK);
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--native") == 0) /* its defaults first: any option given overrides them */
			lc_options_init(&o, LC_ENGINE_NATIVE);
	opterr = 0;
	int c, idx = 0;
	size_t nalloc = 0;
	while ((c = getopt_long(argc, argv, "+qh", longopts, &idx)) != -1) {
		int bad = 0;
		char *end;
		if (c != '?' && optarg && is_option(longopts, optarg)) { /* "--keep --json out.json": --keep's value forgotten */
			char what[64];
			snprintf(what, sizeof what, "missing value for --%s (the next word is an option)", longopts[idx].name);
			return usage_error(what, optarg);
		}
		switch (c) {
		case 'q': quiet = true; break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V': puts("leakcheck " LC_VERSION); return 0;
		case O_READY: o.ready = optarg; break;
		case O_CYCLES: bad = parse_uint(optarg, &o.cycles) || o.cycles < 1; break;
		case O_ROUNDS: bad = parse_uint(optarg, &o.rounds) || o.rounds < 2 || o.rounds > LC_MAX_ROUNDS; break;
		case O_CONFIRM: bad = parse_uint(optarg, &o.confirm) || o.confirm == 1 || o.confirm > 1000; break;
		case O_WARMUP: bad = parse_uint(optarg, &o.warmup); break;
		case O_CONC: bad = parse_uint(optarg, &o.concurrency) || o.concurrency < 1 || o.concurrency > 256; break;
		case O_CLOSE: bad = lc_close_parse(optarg, &o.close); break;
		case O_SEND: bad = set_text(o.send, &o.send_len, optarg); send_given = true; break;
		case O_EXPECT: bad = set_text(o.expect, &o.expect_len, optarg); expect_given = true; break;
		case O_QUIT: bad = set_text(o.quit, &o.quit_len, optarg) || !o.quit_len; break;
		case O_SCRIPT: o.script = optarg; bad = access(optarg, R_OK) != 0; break;
		case O_PORT: bad = parse_uint(optarg, &o.port) || o.port < 1 || o.port > 65535; break;
		case O_CONFIG: o.config = optarg; bad = access(optarg, R_OK) != 0; break;
		case O_WSUPP: o.write_suppressions = optarg; bad = !writable(optarg); break;
		case O_TIMEOUT: o.timeout = strtod(optarg, &end); bad = *end || !(o.timeout > 0 && o.timeout <= 3600); break;
		case O_RTIMEOUT:
			o.ready_timeout = strtod(optarg, &end);
			bad = *end || !(o.ready_timeout > 0 && o.ready_timeout <= 3600);
			break;
		case O_SUPP: o.suppressions = optarg; bad = access(optarg, R_OK) != 0; break;
		case O_JSON: json = optarg; bad = !writable(optarg); break;
		case O_JUNIT: junit = optarg; bad = !writable(optarg); break;
		case O_SARIF: sarif = optarg; bad = !writable(optarg); break;
		case O_HTML: html = optarg; bad = !writable(optarg); break;
		case O_SRCDIR: o.source_dir = optarg; bad = !is_dir(optarg); break;
		case O_BASE: o.baseline = optarg; bad = access(optarg, R_OK) != 0; break;
		case O_WBASE: o.write_baseline = optarg; bad = !writable(optarg); break;
		case O_KEEP: o.keep_dir = optarg; break;
		case O_VALGRIND: o.valgrind = optarg; break;
		case O_SETTLE: o.settle = strtod(optarg, &end); bad = *end || !(o.settle >= 0 && o.settle <= 600); break;
		case O_SKIP: o.trace_skip = optarg; break;
		case O_EVERY: bad = parse_uint(optarg, &o.every) || o.every < 1; break;
		case O_NATIVE: break;
		case O_STATS: bad = set_text(stats, &o.stats_len, optarg) || !o.stats_len; o.stats = stats; break;
		case O_SFIELD: o.stats_field = optarg; bad = !*optarg; break;
		case O_ALLOC: bad = nalloc == LC_MAX_ALLOC_FNS || !*optarg; if (!bad) o.alloc_fns[nalloc++] = optarg; break;
		default: return usage_error("unknown option or missing value", argv[optind - 1]);
		}
		if (bad) {
			char what[64];
			snprintf(what, sizeof what, "bad value for --%s", longopts[idx].name);
			return usage_error(what, optarg);
		}
	}
	if (optind >= argc)
		return usage_error("no server command (leakcheck [OPTIONS] -- SERVER [ARGS...])", NULL);
	if (send_given && !expect_given) {
		o.expect[0] = '\0';
		o.expect_len = 0;
		o.expect_any = o.send_len > 0;
	}
	o.server_argv = argv + optind;
	o.progress = !quiet && isatty(STDERR_FILENO);

	/* SIGINT/SIGTERM: lc_run gives up its waits, stops the server, removes its work dir,
	 * and we still print the report (verdict 2). No SA_RESTART: blocking calls return. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct lc_report *rep = lc_report_new();
	if (!rep) {
		fputs("leakcheck: out of memory\n", stderr);
		return (int)LC_ERROR;
	}
	enum lc_verdict v = lc_run(&o, rep);
	lc_report_print(stdout, rep, &o, quiet);
	const char *paths[] = { json, junit, sarif, html };
	int (*writers[])(const char *, const struct lc_report *, const struct lc_options *) = {
		lc_report_json, lc_report_junit, lc_report_sarif, lc_report_html,
	};
	for (int i = 0; i < 4; i++)
		if (paths[i] && writers[i](paths[i], rep, &o) < 0) {
			fprintf(stderr, "leakcheck: cannot write %s\n", paths[i]);
			v = LC_ERROR;
		}
	const char *gha = getenv("GITHUB_ACTIONS");
	if (gha && strcmp(gha, "true") == 0)
		lc_report_annotations(stdout, rep, &o);
	lc_report_delete(rep);
	return (int)v;
}
