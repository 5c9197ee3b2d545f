/* The holder of a growing site as one line of text (records.h's lc_retainer_text): the text
 * report, the CI annotations and the HTML page all write it so. */
#include <stdio.h>
#include <string.h>

#include "lc/records.h"
#include "util/text.h"

static void link_text(const struct lc_link *l, char *buf, size_t len)
{
	char at[300], extra[120] = "";
	if (l->at.file[0])
		snprintf(at, sizeof at, "%s %s:%u", l->at.fn, l->at.file, l->at.line);
	else
		snprintf(at, sizeof at, "%s", l->at.fn[0] ? l->at.fn : "???");
	if (l->offset)
		snprintf(extra, sizeof extra, "+%ld, ", l->offset);
	lc__appendf(extra, sizeof extra, "x%lu", l->count);
	if (l->linked_at >= 0)
		lc__appendf(extra, sizeof extra, ", linked through +%ld", l->linked_at);
	lc__appendf(buf, len, "block at %s", at);
	lc__appendf(buf, len, " (%s)", extra);
}

void lc_retainer_text(const struct lc_retainer *r, char *buf, size_t len)
{
	buf[0] = '\0';
	if (r->kind == LC_ROOT_GLOBAL) /* a symbol's name, or "data of libc.so.6" between symbols */
		lc__appendf(buf, len, "%s%s", r->root, strchr(r->root, ' ') ? "" : " (data symbol)");
	else if (r->kind == LC_ROOT_STACK || r->kind == LC_ROOT_MAPPING)
		lc__appendf(buf, len, "%s", r->root);
	else if (r->kind == LC_ROOT_CYCLE)
		lc__appendf(buf, len, "%s", "no root, a cycle:");
	else if (r->kind == LC_ROOT_NONE)
		lc__appendf(buf, len, "%s", "no root: lost");
	else
		lc__appendf(buf, len, "no root found (%s)", r->note[0] ? r->note : "?");
	for (size_t i = 0; i < r->nchain; i++) {
		lc__appendf(buf, len, "%s", i == 0 && r->kind == LC_ROOT_CYCLE ? " " : " -> ");
		link_text(&r->chain[i], buf + strlen(buf), len - strlen(buf));
		if (r->kind == LC_ROOT_CYCLE && i + 1 == r->ncycle)
			lc__appendf(buf, len, " (back to %s)", r->chain[0].at.fn);
	}
	if (r->nholders == 0) {
		if (r->unreached)
			lc__appendf(buf, len, " [%lu of %lu %s reached by no root]", r->unreached, r->blocks,
				   r->new_blocks ? "new blocks" : "blocks");
		return;
	}
	const char *what = r->new_blocks ? "new blocks" : "blocks";
	if (r->holders[0].blocks == r->blocks)
		lc__appendf(buf, len, " [all %lu %s", r->blocks, what);
	else
		lc__appendf(buf, len, " [%lu of %lu %s", r->holders[0].blocks, r->blocks, what);
	for (size_t i = 1; i < r->nholders; i++)
		lc__appendf(buf, len, "%s%s%s %lu", i == 1 ? "; also " : ", ", r->holders[i].root,
			   r->holders[i].kind == LC_ROOT_GLOBAL && !strchr(r->holders[i].root, ' ') ? " (data symbol)" : "",
			   r->holders[i].blocks);
	if (r->unreached)
		lc__appendf(buf, len, "; %lu reached by no root", r->unreached); /* memcheck may call them possibly lost */
	lc__appendf(buf, len, "]");
	if (r->alike.blocks) /* a tie the lower address broke: both roots hold them */
		lc__appendf(buf, len, "; as near from %s%s (%lu of them)", r->alike.root,
			   r->alike.kind == LC_ROOT_GLOBAL && !strchr(r->alike.root, ' ') ? " (data symbol)" : "",
			   r->alike.blocks);
}
