/* Refcounted objects with weak references and live-object counters per type.
 *
 * struct obj is embedded as the first member of a case's object (Connection, Handler...).
 * Strong references follow the rules in ref.h. Weak references follow CPython's
 * weakrefobject.c / GLib's GWeakRef:
 *  - a weak reference holds no count;
 *  - when the last strong reference goes, the target clears every weak reference pointing
 *    at it *before* its type's destroy runs, so no weak reference ever dangles;
 *  - weak_get() returns a new strong reference (drop it with obj_put) or NULL.
 * Each type counts its live objects (obj_live), the C analog of sys.getrefcount checks:
 * tests and the server's STATS command read them. */
#ifndef RT_OBJ_H
#define RT_OBJ_H

#include <stdbool.h>
#include <stddef.h>

#include "rt/list.h"
#include "rt/ref.h"

struct obj;

struct obj_type {
	const char *name;                /* borrowed: a static string */
	void (*destroy)(struct obj *o);  /* frees the object; weak refs are already cleared */
	long live;                       /* objects of this type that exist now */
	struct list node;                /* in the table of types, linked on first obj_init */
};

#define OBJ_TYPE_INIT(name_, destroy_) { .name = (name_), .destroy = (destroy_) }

struct obj {
	struct ref ref;
	struct obj_type *type;           /* borrowed: static type descriptor */
	struct list weakrefs;            /* head of the weak references that point here */
};

struct weak {
	struct list node;                /* in target->weakrefs while target is set */
	struct obj *target;              /* weak: no count; set to NULL by the target's release */
};

void obj_init(struct obj *o, struct obj_type *type);
struct obj *obj_get(struct obj *o);
bool obj_put(struct obj *o);
int obj_refcount(const struct obj *o);

void weak_init(struct weak *w, struct obj *target);
struct obj *weak_get(struct weak *w);
void weak_clear(struct weak *w);

long obj_live(const struct obj_type *type);
long obj_live_total(void);
/* Writes "Name=N Name=N ..." for every type used so far; returns the length (snprintf-like). */
int obj_stats_format(char *buf, size_t size);

#endif
