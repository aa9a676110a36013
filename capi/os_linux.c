// Linux implementations of os.h: pipe2, eventfd and futex.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os.h"

int libgnsq_os_pipe(int fds[2]) { return pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0 ? 0 : -errno; }

int libgnsq_os_doorbell(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

void libgnsq_os_wait(int32_t *word, int32_t expected, const struct timespec *timeout) {
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, timeout, NULL, 0);
}

void libgnsq_os_wake(int32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }
