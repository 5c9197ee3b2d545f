/* Return addresses of a live process to function, file and line, with elfutils' libdw (dwfl):
 * the native engine names its allocation sites as memcheck names its loss records. */
#ifndef LC_SYMBOLS_H
#define LC_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lc/records.h"

struct lc_symbols;

/* The modules of process pid, as /proc/PID/maps lists them now. NULL if it cannot be read. */
struct lc_symbols *lc__symbols_open(int pid);
/* Return address ret (the instruction after a call) to the calling frame: fn, file (no
 * directory) and line, each left empty or 0 where the module has no such information. A module
 * mapped since open (dlopen) is found by reading the maps again once. */
void lc__symbols_frame(struct lc_symbols *s, uint64_t ret, struct lc_frame *f);
/* The data symbol (a global or static variable) that contains addr: its name and its start.
 * module_at (or 0): an address of the module, for a bss past the module's file-backed
 * mappings, which /proc/PID/maps shows as anonymous memory. false: in none. */
bool lc__symbols_data(struct lc_symbols *s, uint64_t addr, uint64_t module_at, char *name, size_t len,
		     uint64_t *start);
void lc__symbols_close(struct lc_symbols *s);

#endif
