/* kref-style reference counting (after Linux include/linux/kref.h), single-threaded.
 *
 * Ownership rules:
 *  1. ref_init() sets the count to 1: the creator holds the first reference.
 *  2. Take a reference (ref_get) before you hand a pointer to someone who keeps it
 *     (a list, a registry, another object's field); the keeper drops it with ref_put.
 *  3. A pointer you only use during a call needs no reference: it is borrowed.
 *  4. ref_put() calls release exactly once, when the count reaches zero. release is never NULL. */
#ifndef RT_REF_H
#define RT_REF_H

#include <assert.h>
#include <stdbool.h>

struct ref {
	int count;
};

static inline void ref_init(struct ref *r) { r->count = 1; }
static inline int ref_read(const struct ref *r) { return r->count; }

static inline void ref_get(struct ref *r)
{
	assert(r->count > 0 && "ref_get on a released object");
	r->count++;
}

/* Returns true if this put released the object. */
static inline bool ref_put(struct ref *r, void (*release)(struct ref *r))
{
	assert(release != NULL);
	assert(r->count > 0 && "ref_put on a released object");
	if (--r->count > 0)
		return false;
	release(r);
	return true;
}

#endif
