/* Text helpers every part of the library uses. */
#ifndef LC_TEXT_H
#define LC_TEXT_H

#include <stddef.h>

/* printf at the end of the NUL-ended string in buf (cap bytes in all), cut to fit: the one
 * appender of the library. */
void lc__appendf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
