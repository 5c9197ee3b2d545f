/* The server's command line and config file: see command.h. */
#include "drive/command.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* in with {port}, {dir} and {config} filled in: malloc'd, or NULL. */
static char *fill(const struct lc_command *c, const char *in)
{
	char port[16];
	snprintf(port, sizeof port, "%u", c->port);
	const char *const keys[] = { "{port}", "{dir}", "{config}" }, *vals[] = { port, c->dir, c->config };
	size_t cap = strlen(in) + 1, w = 0;
	for (const char *p = in; (p = strchr(p, '{')); p++)
		cap += sizeof c->config; /* room for any value at every brace */
	char *out = malloc(cap);
	for (const char *p = in; out && *p;) {
		size_t k = 0;
		while (k < 3 && strncmp(p, keys[k], strlen(keys[k])) != 0)
			k++;
		if (k < 3) {
			w += (size_t)snprintf(out + w, cap - w, "%s", vals[k]);
			p += strlen(keys[k]);
		} else {
			out[w++] = *p++;
		}
	}
	if (out)
		out[w] = '\0';
	return out;
}

void lc__command_free_argv(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

char **lc__command_argv(const struct lc_command *c, char *const argv[])
{
	size_t n = 0;
	while (argv[n])
		n++;
	char **out = calloc(n + 1, sizeof *out);
	for (size_t i = 0; out && i < n; i++)
		if (!(out[i] = fill(c, argv[i]))) {
			lc__command_free_argv(out);
			return NULL;
		}
	return out;
}

bool lc__command_wants_port(const struct lc_command *c, char *const argv[])
{
	for (; *argv; argv++)
		if (strstr(*argv, "{port}"))
			return true;
	return c->config_text && strstr(c->config_text, "{port}");
}

int lc__command_read_config(struct lc_command *c, const char *template_path, char *err, size_t errlen)
{
	if (!template_path)
		return 0;
	FILE *f = fopen(template_path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read --config template: %s", strerror(errno));
		return -1;
	}
	size_t cap = 1 << 20, n;
	c->config_text = malloc(cap);
	n = c->config_text ? fread(c->config_text, 1, cap - 1, f) : 0;
	bool whole = c->config_text && feof(f);
	fclose(f);
	if (!whole) {
		snprintf(err, errlen, "--config template: over 1 MiB, or out of memory");
		return -1;
	}
	c->config_text[n] = '\0';
	const char *base = strrchr(template_path, '/');
	snprintf(c->config, sizeof c->config, "%s/%s", c->dir, base ? base + 1 : template_path);
	return 0;
}

int lc__command_write_config(const struct lc_command *c)
{
	if (!c->config_text)
		return 0;
	char *text = fill(c, c->config_text);
	FILE *f = text ? fopen(c->config, "w") : NULL;
	int rc = -1;
	if (f && fputs(text, f) >= 0 && fclose(f) == 0)
		rc = 0;
	else if (f)
		fclose(f);
	if (!text)
		errno = ENOMEM;
	free(text);
	return rc;
}

void lc__command_free(struct lc_command *c)
{
	free(c->config_text);
	c->config_text = NULL;
}
