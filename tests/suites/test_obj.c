/* Object model: kref semantics, weak references, live counters, intrusive list. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "rt/list.h"
#include "rt/obj.h"
#include "rt/ref.h"

struct thing {
	struct obj base;
	int *destroyed;       /* borrowed: counter owned by the test */
	struct list node;     /* in a test list */
};

static void thing_destroy(struct obj *o)
{
	struct thing *t = (struct thing *)o;
	(*t->destroyed)++;
	free(t);
}

static struct obj_type thing_type = OBJ_TYPE_INIT("Thing", thing_destroy);
static struct obj_type other_type = OBJ_TYPE_INIT("Other", thing_destroy);

static struct thing *thing_new(struct obj_type *type, int *destroyed)
{
	struct thing *t = calloc(1, sizeof *t);
	cr_assert_not_null(t);
	obj_init(&t->base, type);
	t->destroyed = destroyed;
	return t;
}

static int released;
static void count_release(struct ref *r) { (void)r; released++; }

Test(ref, init_get_put_release_once)
{
	struct ref r;
	released = 0;
	ref_init(&r);
	cr_assert_eq(ref_read(&r), 1);
	ref_get(&r);
	cr_assert_eq(ref_read(&r), 2);
	cr_assert_not(ref_put(&r, count_release));
	cr_assert_eq(released, 0);
	cr_assert(ref_put(&r, count_release));
	cr_assert_eq(released, 1, "release must run exactly once, at zero");
}

Test(obj, put_destroys_at_zero_and_counts_live)
{
	int destroyed = 0;
	long before = obj_live(&thing_type);
	struct thing *t = thing_new(&thing_type, &destroyed);
	cr_assert_eq(obj_live(&thing_type), before + 1);
	obj_get(&t->base);
	cr_assert_eq(obj_refcount(&t->base), 2);
	cr_assert_not(obj_put(&t->base));
	cr_assert_eq(destroyed, 0);
	cr_assert(obj_put(&t->base));
	cr_assert_eq(destroyed, 1);
	cr_assert_eq(obj_live(&thing_type), before, "live counter must go back to zero");
}

Test(obj, stats_lists_each_type)
{
	int destroyed = 0;
	struct thing *a = thing_new(&thing_type, &destroyed);
	struct thing *b = thing_new(&other_type, &destroyed);
	struct thing *c = thing_new(&other_type, &destroyed);
	char buf[128];
	obj_stats_format(buf, sizeof buf);
	cr_assert_str_eq(buf, "Thing=1 Other=2");
	cr_assert_eq(obj_live_total(), 3);
	obj_put(&a->base);
	obj_put(&b->base);
	obj_put(&c->base);
	obj_stats_format(buf, sizeof buf);
	cr_assert_str_eq(buf, "Thing=0 Other=0");
	cr_assert_eq(obj_live_total(), 0);
	cr_assert_eq(obj_stats_format(buf, 4), 15, "returns the full length like snprintf");
	cr_assert_str_eq(buf, "Thi");
}

Test(weak, get_returns_new_strong_ref)
{
	int destroyed = 0;
	struct thing *t = thing_new(&thing_type, &destroyed);
	struct weak w;
	weak_init(&w, &t->base);
	cr_assert_eq(obj_refcount(&t->base), 1, "a weak reference holds no count");
	struct obj *s = weak_get(&w);
	cr_assert_eq(s, &t->base);
	cr_assert_eq(obj_refcount(&t->base), 2);
	obj_put(s);
	obj_put(&t->base);
	cr_assert_eq(destroyed, 1);
	cr_assert_null(w.target, "target must clear its weak references");
	cr_assert_null(weak_get(&w), "weak_get after the last put must be NULL");
}

static struct weak *seen_by_destroy;
static int destroy_saw_null;
static void probe_destroy(struct obj *o)
{
	destroy_saw_null = seen_by_destroy->target == NULL;
	free(o);
}
static struct obj_type probe_type = OBJ_TYPE_INIT("Probe", probe_destroy);

Test(weak, cleared_before_destroy_runs)
{
	struct obj *o = malloc(sizeof *o);
	struct weak w1, w2;
	obj_init(o, &probe_type);
	weak_init(&w1, o);
	weak_init(&w2, o);
	seen_by_destroy = &w2;
	obj_put(o);
	cr_assert(destroy_saw_null, "weak refs must read NULL inside destroy");
	cr_assert_null(weak_get(&w1));
	cr_assert_null(weak_get(&w2));
}

Test(weak, clear_detaches_and_is_idempotent)
{
	int destroyed = 0;
	struct thing *t = thing_new(&thing_type, &destroyed);
	struct weak w;
	weak_init(&w, &t->base);
	weak_clear(&w);
	weak_clear(&w);
	cr_assert_null(weak_get(&w));
	cr_assert(list_empty(&t->base.weakrefs));
	obj_put(&t->base);
	cr_assert_eq(destroyed, 1);
}

Test(list, push_unlink_twice_is_harmless)
{
	struct list head, a, b, c;
	list_init(&head);
	list_node_init(&a);
	list_node_init(&b);
	list_node_init(&c);
	list_push(&head, &a);
	list_push(&head, &b);
	list_push(&head, &c);
	cr_assert_eq(list_count(&head), 3);
	list_unlink(&b);
	cr_assert_not(list_linked(&b));
	cr_assert_null(b.next);
	list_unlink(&b);
	cr_assert_eq(list_count(&head), 2);
	cr_assert_eq(head.next, &a);
	cr_assert_eq(a.next, &c);
	cr_assert_eq(c.prev, &a);
	list_unlink(&a);
	list_unlink(&c);
	cr_assert(list_empty(&head));
}

Test(list, each_safe_allows_unlink_and_free)
{
	int destroyed = 0;
	struct list head, *pos, *tmp;
	list_init(&head);
	for (int i = 0; i < 5; i++) {
		struct thing *t = thing_new(&thing_type, &destroyed);
		list_node_init(&t->node);
		list_push(&head, &t->node);
	}
	list_each_safe(pos, tmp, &head) {
		struct thing *t = list_entry(pos, struct thing, node);
		list_unlink(&t->node);
		obj_put(&t->base);
	}
	cr_assert(list_empty(&head));
	cr_assert_eq(destroyed, 5);
}
