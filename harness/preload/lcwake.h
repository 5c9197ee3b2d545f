/* What the memcheck engine and its ticker (lcwake.c, liblcwake.so) agree on. Private: both
 * sides are built from this tree. */
#ifndef LC_WAKE_H
#define LC_WAKE_H

#define LC_WAKE_THREAD "lc-wake"      /* the ticker thread's name (/proc/PID/task/TID/comm) */
#define LC_WAKE_LIB "liblcwake.so"    /* beside liblcalloc.so */

#endif
