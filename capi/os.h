// The operating-system primitives libgnsq needs beyond POSIX, in one
// place (os_linux.c): a port to another OS replaces that file.
#ifndef LIBGNSQ_OS_H
#define LIBGNSQ_OS_H
#include <stdint.h>
#include <time.h>

/* A non-blocking, close-on-exec pipe (a handle's notify pipe). 0 or -errno. */
int libgnsq_os_pipe(int fds[2]);
/* A non-blocking, close-on-exec fd that a write of 8 bytes makes
   readable (the publish list's doorbell); -1 on failure. */
int libgnsq_os_doorbell(void);
/* Sleeps while *word == expected, at most timeout (NULL: no limit); may
   return early. */
void libgnsq_os_wait(int32_t *word, int32_t expected, const struct timespec *timeout);
/* Wakes one thread sleeping in libgnsq_os_wait on word. */
void libgnsq_os_wake(int32_t *word);
#endif
