/* Intrusive doubly-linked list (Linux list_head / Redis adlist style, node kept inside the object).
 *
 * A head is a sentinel that points at itself when empty. A node that is not in any list has
 * next == prev == NULL, so list_unlink() on it is a no-op: unlinking twice is harmless and a
 * destructor can assert(!list_linked(&obj->node)). Single-threaded, like the rest of the runtime. */
#ifndef RT_LIST_H
#define RT_LIST_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>

struct list {
	struct list *next; /* borrowed: next node, or NULL when unlinked */
	struct list *prev; /* borrowed: previous node, or NULL when unlinked */
};

#define list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Iterate over a list while the body may unlink (and free) the current node. */
#define list_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

static inline void list_init(struct list *head) { head->next = head->prev = head; }
static inline void list_node_init(struct list *node) { node->next = node->prev = NULL; }
static inline bool list_empty(const struct list *head) { return head->next == head; }
static inline bool list_linked(const struct list *node) { return node->next != NULL; }

/* Append node at the tail. The node must not be linked anywhere. */
static inline void list_push(struct list *head, struct list *node)
{
	assert(!list_linked(node));
	node->prev = head->prev;
	node->next = head;
	head->prev->next = node;
	head->prev = node;
}

/* O(1) removal; harmless on a node that is not linked. */
static inline void list_unlink(struct list *node)
{
	if (!list_linked(node))
		return;
	node->prev->next = node->next;
	node->next->prev = node->prev;
	list_node_init(node);
}

static inline size_t list_count(const struct list *head)
{
	size_t n = 0;
	for (const struct list *p = head->next; p != head; p = p->next)
		n++;
	return n;
}

#endif
