/* Naming the holder (harness/analysis/holders.c, graph.c) on servers that keep every
 * connection's objects in one of five ways (tests/servers/holders_server.c): a global list, a static registry
 * inside a function, a realloc'd array of pointers, a thread's stack, a three-object cycle; a
 * list longer than 1,000 blocks, within its budget of commands and time; and in the shapes real
 * daemons keep things (tests/servers/holder_shapes.c): a tree whose nodes all come from one line, two
 * globals growing together, one line lost on one path and kept on another, a thread slot
 * beside the real list, a large unrelated heap. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc/leakcheck.h"
#include "support.h"
#include "util/records.h"

static struct lc_report rep;

static void judge_engine(const char *server, const char *mode, unsigned cycles, unsigned every,
			 enum lc_engine_kind engine)
{
	char *argv[] = { strdup(built(server)), strdup(mode), NULL };
	struct lc_options o;
	lc_options_init(&o, engine);
	o.server_argv = argv;
	o.cycles = cycles;
	o.rounds = 2;
	o.warmup = 10;
	o.settle = 0.2;
	o.timeout = 20;
	o.every = every;
	enum lc_verdict v = lc_run(&o, &rep);
	free(argv[0]);
	free(argv[1]);
	cr_assert_eq(v, LC_LEAK, "holders %s: positive control NOT caught (%d): %s", mode, v, rep.reason);
}

static void judge_server(const char *server, const char *mode, unsigned cycles, unsigned every)
{
	judge_engine(server, mode, cycles, every, LC_ENGINE_MEMCHECK);
}

static void judge_holders_every(const char *mode, unsigned cycles, unsigned every)
{
	judge_server("tests/holders", mode, cycles, every);
}

static void judge_holders(const char *mode, unsigned cycles)
{
	judge_holders_every(mode, cycles, 0);
}

/* The retainer of the growing site allocated in fn, of kind (or any kind: -1). */
static const struct lc_retainer *held_kind(const char *mode, const char *fn, int kind)
{
	for (size_t i = 0; i < lc_report_primary(&rep)->nsites; i++) {
		const struct lc_frame *at = lc__alloc_frame(&lc_report_primary(&rep)->sites[i].rec, NULL);
		if (at && strcmp(at->fn, fn) == 0 && (kind < 0 || (int)lc_report_primary(&rep)->sites[i].rec.kind == kind)) {
			cr_assert(lc_report_primary(&rep)->held[i].searched, "holders %s: the site %s was not searched", mode, fn);
			return &lc_report_primary(&rep)->held[i];
		}
	}
	cr_assert_fail("holders %s: no growing site in %s (%zu sites)", mode, fn, lc_report_primary(&rep)->nsites);
	return NULL;
}

static const struct lc_retainer *held(const char *mode, const char *fn)
{
	return held_kind(mode, fn, -1);
}

/* The top holder is root and holds at least 9 in 10 of the record's blocks searched. */
static void expect_share(const char *mode, const struct lc_retainer *r, const char *root)
{
	char text[1024];
	lc_retainer_text(r, text, sizeof text);
	cr_assert_geq(r->nholders, 1, "holders %s: no holders ranked: %s", mode, text);
	cr_expect_str_eq(r->holders[0].root, root, "holders %s: top holder %s, expected %s: %s", mode,
			 r->holders[0].root, root, text);
	cr_expect_geq(r->holders[0].blocks * 10, r->blocks * 9, "holders %s: %s holds %lu of %lu blocks: %s", mode,
		      root, r->holders[0].blocks, r->blocks, text);
	unsigned long sum = 0;
	for (size_t i = 0; i < r->nholders; i++)
		sum += r->holders[i].blocks;
	cr_expect_leq(sum, r->blocks, "holders %s: shares add up to %lu of %lu blocks: %s", mode, sum, r->blocks, text);
}

static void expect_root(const char *mode, const struct lc_retainer *r, enum lc_root_kind kind, const char *root)
{
	char text[1024];
	lc_retainer_text(r, text, sizeof text);
	cr_expect_eq(r->kind, kind, "holders %s: root kind %s, expected %s: %s", mode, lc_root_kind_name(r->kind),
		     lc_root_kind_name(kind), text);
	cr_expect(strstr(r->root, root) == r->root || (!root[0] && !r->root[0]),
		  "holders %s: root '%s', expected '%s': %s", mode, r->root, root, text);
}

/* chain[i] is the site fn with at least min blocks. */
static void expect_link(const char *mode, const struct lc_retainer *r, size_t i, const char *fn,
			unsigned long min)
{
	cr_assert(i < r->nchain, "holders %s: chain has %zu links, wanted %s at %zu", mode, r->nchain, fn, i);
	cr_expect_str_eq(r->chain[i].at.fn, fn, "holders %s: link %zu is %s, expected %s", mode, i,
			 r->chain[i].at.fn, fn);
	cr_expect_geq(r->chain[i].count, min, "holders %s: link %zu counts %lu blocks, expected >= %lu", mode, i,
		      r->chain[i].count, min);
}

TestSuite(holders, .timeout = 120);

Test(holders, global_list_head)
{
	judge_holders("list", 100);
	const struct lc_retainer *r = held("list", "sess_new");
	expect_root("list", r, LC_ROOT_GLOBAL, "sessions");
	expect_link("list", r, 0, "sess_new", 200);
	cr_expect_eq(r->chain[0].offset, 16, "list: the head points 16 bytes in, not %ld", r->chain[0].offset);
	cr_expect_eq(r->chain[0].linked_at, 16, "list: linked through +16, not %ld", r->chain[0].linked_at);
	r = held("list", "name_new");
	expect_root("list", r, LC_ROOT_GLOBAL, "sessions");
	expect_link("list", r, 0, "sess_new", 200);
	expect_link("list", r, 1, "name_new", 200);
	lc_report_free(&rep);
}

Test(holders, static_registry_in_a_function)
{
	judge_holders("registry", 100);
	const struct lc_retainer *r = held("registry", "sess_new");
	expect_root("registry", r, LC_ROOT_GLOBAL, "slots");
	expect_link("registry", r, r->nchain - 1, "sess_new", 200);
	lc_report_free(&rep);
}

Test(holders, realloc_array_of_pointers)
{
	judge_holders("array", 100);
	const struct lc_retainer *r = held("array", "sess_new");
	expect_root("array", r, LC_ROOT_GLOBAL, "table");
	expect_link("array", r, 0, "table_grow", 1);
	expect_link("array", r, 1, "sess_new", 200);
	lc_report_free(&rep);
}

Test(holders, pointer_only_on_a_thread_stack)
{
	judge_holders("stack", 100);
	const struct lc_retainer *r = held("stack", "sess_new");
	expect_root("stack", r, LC_ROOT_STACK, "thread");
	cr_expect(strstr(r->root, "stack"), "stack: the root is %s, not a stack", r->root);
	cr_expect(!strstr(r->root, "thread 1'"), "stack: the main thread (%s) holds nothing but a stale copy", r->root);
	lc_report_free(&rep);
}

Test(holders, three_object_cycle)
{
	judge_holders("cycle", 100);
	const struct lc_retainer *r = held("cycle", "a_new");
	expect_root("cycle", r, LC_ROOT_CYCLE, "");
	cr_expect_eq(r->ncycle, 3, "cycle: %zu members, expected a_new, b_new, c_new", r->ncycle);
	bool seen[3] = { false };
	for (size_t i = 0; i < r->ncycle; i++)
		for (int k = 0; k < 3; k++)
			seen[k] |= strcmp(r->chain[i].at.fn, (const char *[]){ "a_new", "b_new", "c_new" }[k]) == 0;
	cr_expect(seen[0] && seen[1] && seen[2], "cycle: members lack one of a_new, b_new, c_new");
	lc_report_free(&rep);
}

/* 1,210 sessions in one list: found with the same few commands as ten, in bounded time. */
Test(holders, chain_of_over_a_thousand_blocks)
{
	judge_holders("list", 600);
	const struct lc_retainer *r = held("list", "sess_new");
	expect_root("list", r, LC_ROOT_GLOBAL, "sessions");
	expect_link("list", r, 0, "sess_new", 1000);
	cr_expect_leq(rep.retain_calls, 3, "long list: %u commands for 2 sites", rep.retain_calls);
	cr_expect_lt(rep.retain_seconds, 5, "long list: the search took %.2fs", rep.retain_seconds);
	lc_report_free(&rep);
}

/* --every N: a series point every N connections between the judged snapshots, growing as the
 * list does (2 blocks per connection), marked unsettled. */
Test(holders, series_every_n_connections)
{
	judge_holders_every("list", 100, 25);
	size_t n = 0;
	const struct lc_point *first = NULL, *last = NULL;
	for (size_t i = 0; i < rep.nseries; i++)
		if (!rep.series[i].settled) {
			n++;
			last = &rep.series[i];
			first = first ? first : last;
		}
	cr_assert_geq(n, 7, "--every 25 over 200 connections: %zu unsettled points", n);
	cr_expect_geq(last->blocks - first->blocks, 2 * (last->connections - first->connections) - 4,
		      "--every: %lu -> %lu blocks from %lu to %lu connections", first->blocks, last->blocks,
		      first->connections, last->connections);
	/* the points are leak checks too: a site's growth is still the whole round's (100 sessions
	 * a round), not what grew since the round's last point (25) */
	bool found = false;
	for (size_t i = 0; i < lc_report_primary(&rep)->nsites; i++) {
		const struct lc_frame *at = lc__alloc_frame(&lc_report_primary(&rep)->sites[i].rec, NULL);
		if (!at || strcmp(at->fn, "sess_new") != 0)
			continue;
		found = true;
		for (size_t k = 0; k < lc_report_primary(&rep)->nrounds; k++)
			cr_expect_geq(lc_report_primary(&rep)->site_rounds[i].blocks[k], 100, "--every 25: sess_new grew %ld blocks in round %zu of 100 "
				      "connections", lc_report_primary(&rep)->site_rounds[i].blocks[k], k + 1);
	}
	cr_expect(found, "--every 25: sess_new is not a growing site");
	lc_report_free(&rep);
}

/* A topic tree, uthash style: every node from topic_new (the root too, called from elsewhere),
 * parent, sibling and bucket pointers among them, payloads pointing back. The global db_root
 * holds it all; the old search, following one sample block, went round the tree's own pointers
 * and reported "no root found". */
Test(holders, tree_of_one_line)
{
	judge_server("tests/holder_shapes", "tree", 100, 0);
	const struct lc_retainer *r = held("tree", "topic_new");
	expect_root("tree", r, LC_ROOT_GLOBAL, "db_root");
	expect_share("tree", r, "db_root");
	expect_link("tree", r, 0, "topic_new", 200);
	r = held("tree", "payload_new");
	expect_root("tree", r, LC_ROOT_GLOBAL, "db_root");
	expect_share("tree", r, "db_root");
	expect_link("tree", r, 0, "topic_new", 200);
	expect_link("tree", r, r->nchain - 1, "payload_new", 200);
	lc_report_free(&rep);
}

/* Two lists growing together, each audit pointing at its user: each site its own holder. */
Test(holders, two_globals_growing_together)
{
	judge_server("tests/holder_shapes", "two_globals", 100, 0);
	const struct lc_retainer *r = held("two_globals", "user_new");
	expect_root("two_globals", r, LC_ROOT_GLOBAL, "users");
	expect_share("two_globals", r, "users");
	r = held("two_globals", "audit_new");
	expect_root("two_globals", r, LC_ROOT_GLOBAL, "audits");
	expect_share("two_globals", r, "audits");
	lc_report_free(&rep);
}

/* One line, kept on even connections and dropped on odd ones: two loss records of one stack.
 * The kept one is held by kept_bufs; the lost one by no root, never by kept_bufs. */
Test(holders, one_line_lost_and_kept)
{
	judge_server("tests/holder_shapes", "lost_and_kept", 100, 0);
	const struct lc_retainer *r = held_kind("lost_and_kept", "buf_new", LC_REACHABLE);
	expect_root("lost_and_kept", r, LC_ROOT_GLOBAL, "kept_bufs");
	expect_share("lost_and_kept", r, "kept_bufs");
	r = held_kind("lost_and_kept", "buf_new", LC_DEFINITE);
	expect_root("lost_and_kept", r, LC_ROOT_NONE, "");
	cr_expect_eq(r->nholders, 0, "lost_and_kept: a lost record with %zu holders", r->nholders);
	lc_report_free(&rep);
}

/* A thread per connection: every session in the server's list (server -> a server_new block),
 * the live ones also in a slot array of one block. The list holds them, not the slot array. */
Test(holders, thread_slot_beside_the_list)
{
	judge_server("tests/holder_shapes", "thread_slot", 100, 0);
	const struct lc_retainer *r = held("thread_slot", "sess_new");
	expect_root("thread_slot", r, LC_ROOT_GLOBAL, "server");
	expect_share("thread_slot", r, "server");
	expect_link("thread_slot", r, 0, "server_new", 1);
	expect_link("thread_slot", r, 1, "sess_new", 200);
	lc_report_free(&rep);
}

/* Every session on the global list `registry`, the live one also in the global `live_slots`:
 * at the snapshot the live one is the harness's probe, heading the list, so both globals reach
 * every session just as near (one pointer into the first site). The lower address won the tie
 * and only one was named (the slots: "held by: live_slots [all 200 new blocks]", where the
 * slots hold one session); now the other is named beside it, in both engines. */
Test(holders, two_roots_alike_both_named)
{
	for (int native = 0; native < 2; native++) {
		const char *what = native ? "registry_slots natively" : "registry_slots";
		judge_engine("tests/holder_shapes", "registry_slots", 100, 0, native ? LC_ENGINE_NATIVE : LC_ENGINE_MEMCHECK);
		const struct lc_retainer *r = held(what, "sess_new");
		char text[1024];
		lc_retainer_text(r, text, sizeof text);
		bool slots_top = strcmp(r->root, "live_slots") == 0;
		cr_expect(slots_top || strcmp(r->root, "registry") == 0, "%s: held by %s", what, text);
		cr_expect(r->alike.blocks * 2 >= r->holders[0].blocks &&
				  strcmp(r->alike.root, slots_top ? "registry" : "live_slots") == 0,
			  "%s: the other root is not named alike: %s", what, text);
		cr_expect(strstr(text, "; as near from "), "%s: %s", what, text);
		lc_report_free(&rep);
	}
}

/* 60,000 unrelated live blocks beside the leak: the holder found, the whole heap read, in
 * bounded time (make bench measures it against heap size). */
Test(holders, large_unrelated_heap)
{
	judge_server("tests/holder_shapes", "big_heap", 100, 0);
	const struct lc_retainer *r = held("big_heap", "sess_new");
	expect_root("big_heap", r, LC_ROOT_GLOBAL, "kept");
	expect_share("big_heap", r, "kept");
	cr_expect_leq(rep.retain_calls, 3, "big heap: %u commands", rep.retain_calls);
	cr_expect_lt(rep.retain_seconds, 5, "big heap: the search took %.2fs", rep.retain_seconds);
	lc_report_free(&rep);
}

/* The JSON report: each growing site's retainer with its ranked holders and their shares of
 * the record's new blocks; the lost record with root_kind "none" and no holder. */
Test(holders, json_holders_and_shares)
{
	char dir[128], cmd[2048], lc[600];
	test_tmpdir(dir, sizeof dir, "holders-json");
	snprintf(lc, sizeof lc, "%s", built("harness/leakcheck")); /* built() returns one buffer */
	snprintf(cmd, sizeof cmd,
		 "%s --cycles 100 --json %s/r.json -- %s lost_and_kept >/dev/null 2>&1; "
		 "python3 -c 'import json\n"
		 "d = json.load(open(\"%s/r.json\"))\n"
		 "s = [x for x in d[\"retained\"][\"sites\"] if x[\"site\"] == \"buf_new\"]\n"
		 "assert len(s) == 2, (d[\"verdict\"], d[\"reason\"], d[\"retained\"][\"sites\"])\n"
		 "kept = [x[\"retainer\"] for x in s if x[\"kind\"] == \"still reachable\"][0]\n"
		 "lost = [x[\"retainer\"] for x in s if x[\"kind\"] == \"definitely lost\"][0]\n"
		 "h = kept[\"holders\"][0]\n"
		 "assert h[\"root_kind\"] == \"global\" and h[\"root\"] == \"kept_bufs\", h\n"
		 "assert 0 < h[\"blocks\"] <= kept[\"blocks\"] and h[\"bytes\"] == 96 * h[\"blocks\"], kept\n"
		 "assert kept[\"new_blocks\"] and kept[\"blocks\"] >= 50, kept\n"
		 "assert lost[\"root_kind\"] == \"none\" and lost[\"holders\"] == [] and lost[\"root\"] is None, lost\n"
		 "'; rc=$?; rm -rf %s; exit $rc",
		 lc, dir, built("tests/holder_shapes"), dir, dir);
	cr_expect_eq(system(cmd), 0, "the JSON's holders are wrong (see the assertion above)");
}

/* Natively, the same graph from the allocator preload's blocks (found in the server's memory by
 * their headers): the tree is db_root's; of one line's blocks, the kept half is kept_bufs' and
 * the dropped half reached by no root. */
Test(holders, natively_from_the_preloads_blocks)
{
	judge_engine("tests/holder_shapes", "tree", 100, 0, LC_ENGINE_NATIVE);
	const struct lc_retainer *r = held("tree natively", "payload_new");
	expect_root("tree natively", r, LC_ROOT_GLOBAL, "db_root");
	expect_share("tree natively", r, "db_root");
	lc_report_free(&rep);
	judge_engine("tests/holder_shapes", "lost_and_kept", 100, 0, LC_ENGINE_NATIVE);
	r = held("lost_and_kept natively", "buf_new");
	expect_root("lost_and_kept natively", r, LC_ROOT_GLOBAL, "kept_bufs");
	cr_expect(r->unreached * 10 >= r->blocks * 4 && r->unreached * 10 <= r->blocks * 6,
		  "lost_and_kept natively: %lu of %lu blocks reached by no root, not about half", r->unreached, r->blocks);
	lc_report_free(&rep);
}
