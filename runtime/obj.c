/* Refcounted objects, weak references and per-type live counters: see include/rt/obj.h. */
#include "rt/obj.h"

#include <stdio.h>

static struct list type_table = { &type_table, &type_table }; /* borrowed: static obj_types */

void obj_init(struct obj *o, struct obj_type *type)
{
	assert(type != NULL && type->destroy != NULL);
	ref_init(&o->ref);
	o->type = type;
	list_init(&o->weakrefs);
	if (!list_linked(&type->node))
		list_push(&type_table, &type->node);
	type->live++;
}

struct obj *obj_get(struct obj *o)
{
	ref_get(&o->ref);
	return o;
}

/* Weak references are cleared first, so destroy() and anything it triggers see NULL. */
static void obj_release(struct ref *r)
{
	struct obj *o = list_entry(r, struct obj, ref);
	struct list *pos, *tmp;

	list_each_safe(pos, tmp, &o->weakrefs) {
		struct weak *w = list_entry(pos, struct weak, node);
		list_unlink(&w->node);
		w->target = NULL;
	}
	o->type->live--;
	o->type->destroy(o);
}

bool obj_put(struct obj *o)
{
	return ref_put(&o->ref, obj_release);
}

int obj_refcount(const struct obj *o)
{
	return ref_read(&o->ref);
}

void weak_init(struct weak *w, struct obj *target)
{
	list_node_init(&w->node);
	w->target = target;
	if (target)
		list_push(&target->weakrefs, &w->node);
}

struct obj *weak_get(struct weak *w)
{
	return w->target ? obj_get(w->target) : NULL;
}

/* Must run before the memory holding w is freed, unless the target is already gone. */
void weak_clear(struct weak *w)
{
	list_unlink(&w->node);
	w->target = NULL;
}

long obj_live(const struct obj_type *type)
{
	return type->live;
}

long obj_live_total(void)
{
	long n = 0;
	for (struct list *p = type_table.next; p != &type_table; p = p->next)
		n += list_entry(p, struct obj_type, node)->live;
	return n;
}

int obj_stats_format(char *buf, size_t size)
{
	int len = 0;
	for (struct list *p = type_table.next; p != &type_table; p = p->next) {
		const struct obj_type *t = list_entry(p, struct obj_type, node);
		size_t room = (size_t)len < size ? size - (size_t)len : 0;
		len += snprintf(buf + (room ? len : 0), room, "%s%s=%ld", len ? " " : "", t->name, t->live);
	}
	if (len == 0 && size > 0)
		buf[0] = '\0';
	return len;
}
