/* The server's command line and its config file: the placeholders {port} (the port leakcheck
 * chose or was given), {dir} (the run's work dir) and {config} (the --config copy's path). */
#ifndef LC_COMMAND_H
#define LC_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

struct lc_command {
	unsigned port;
	char dir[512];              /* the work dir */
	char config[700];           /* the --config copy's path, or "" */
	char *config_text;          /* owned: the --config template, or NULL */
};

/* Read TEMPLATE (NULL: none) for a copy in c->dir. Returns 0, or -1 with a reason. */
int lc__command_read_config(struct lc_command *c, const char *template_path, char *err, size_t errlen);
/* Does {port} appear in argv or the template? Then leakcheck chooses the port. */
bool lc__command_wants_port(const struct lc_command *c, char *const argv[]);
/* Write the copy, once c->port is known (nothing without a template). 0, or -1 with errno. */
int lc__command_write_config(const struct lc_command *c);
/* argv with the placeholders filled in: malloc'd strings in a malloc'd NULL-terminated array,
 * or NULL (nothing half done) when out of memory. */
char **lc__command_argv(const struct lc_command *c, char *const argv[]);
void lc__command_free_argv(char **argv);
void lc__command_free(struct lc_command *c);

#endif
