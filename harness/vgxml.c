/* Placeholder until the expat reader lands: every parse fails loudly. */
#include "lc/vgxml.h"

#include <stdio.h>
#include <string.h>

int vg_report_parse_buffer(const char *buf, size_t len, struct vg_report *out, char *err, size_t errlen)
{
	(void)buf;
	(void)len;
	memset(out, 0, sizeof *out);
	snprintf(err, errlen, "XML reader not implemented yet");
	return -1;
}

int vg_report_parse_file(const char *path, struct vg_report *out, char *err, size_t errlen)
{
	return vg_report_parse_buffer(path, 0, out, err, errlen);
}

void vg_report_free(struct vg_report *r) { (void)r; }
const char *vg_kind_name(enum vg_kind k) { (void)k; return "?"; }
