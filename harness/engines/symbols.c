/* Symbolizing with libdw's dwfl: the process's modules from /proc/PID/maps
 * (dwfl_linux_proc_report), their ELF files and debug info found the standard way (the file
 * itself, .gnu_debuglink, /usr/lib/debug). See symbols.h. */
#include "engines/symbols.h"

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lc_symbols {
	Dwfl *dwfl;                 /* owned */
	int pid;
	bool reread;                /* the maps were read again once for an unknown address */
};

static char *debuginfo_path;    /* dwfl's default search path */

static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

static int report(struct lc_symbols *s)
{
	dwfl_report_begin(s->dwfl);
	int rc = dwfl_linux_proc_report(s->dwfl, s->pid);
	dwfl_report_end(s->dwfl, NULL, NULL);
	return rc == 0 ? 0 : -1;
}

struct lc_symbols *lc__symbols_open(int pid)
{
	struct lc_symbols *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->pid = pid;
	s->dwfl = dwfl_begin(&callbacks);
	if (!s->dwfl || report(s) < 0) {
		lc__symbols_close(s);
		return NULL;
	}
	return s;
}

static const char *base(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

void lc__symbols_frame(struct lc_symbols *s, uint64_t ret, struct lc_frame *f)
{
	memset(f, 0, sizeof *f);
	if (!s || ret == 0)
		return;
	Dwarf_Addr pc = ret - 1; /* inside the call instruction: its line, not the next one's */
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, pc);
	if (!mod && !s->reread) {
		s->reread = true;
		report(s);
		mod = dwfl_addrmodule(s->dwfl, pc);
	}
	if (!mod)
		return;
	const char *name = dwfl_module_addrname(mod, pc);
	snprintf(f->fn, sizeof f->fn, "%s", name ? name : "");
	Dwfl_Line *line = dwfl_module_getsrc(mod, pc);
	int lineno = 0;
	const char *src = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
	if (src) {
		snprintf(f->file, sizeof f->file, "%s", base(src));
		f->line = lineno > 0 ? (unsigned)lineno : 0;
	} else if (!name) { /* no symbol at all: the module at least, as memcheck's "in /lib/...so" */
		const char *mname = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
		snprintf(f->file, sizeof f->file, "%s", mname ? base(mname) : "");
	}
}

bool lc__symbols_data(struct lc_symbols *s, uint64_t addr, uint64_t module_at, char *name, size_t len, uint64_t *start)
{
	Dwfl_Module *mod = s ? dwfl_addrmodule(s->dwfl, addr) : NULL;
	if (!mod && s && module_at)
		mod = dwfl_addrmodule(s->dwfl, module_at);
	GElf_Sym sym;
	GElf_Off off = 0;
	const char *sname = mod ? dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL) : NULL;
	if (!sname || (GELF_ST_TYPE(sym.st_info) != STT_OBJECT && GELF_ST_TYPE(sym.st_info) != STT_TLS &&
		       GELF_ST_TYPE(sym.st_info) != STT_NOTYPE) || off >= (sym.st_size ? sym.st_size : 1))
		return false; /* in no data symbol: between them, or in a module without a symbol table */
	snprintf(name, len, "%s", sname);
	*start = addr - off;
	return true;
}

void lc__symbols_close(struct lc_symbols *s)
{
	if (!s)
		return;
	if (s->dwfl)
		dwfl_end(s->dwfl);
	free(s);
}
