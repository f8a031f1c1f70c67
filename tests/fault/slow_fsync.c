/*
 * LD_PRELOAD shim for the fault-injection tests: a slow disk.
 *
 * fsync, fdatasync, sync_file_range, syncfs and msync(MS_SYNC) first sleep
 * BOXOFFICE_FSYNC_DELAY_MS milliseconds (default 200), then call the real
 * function. pwrite/pwrite64 (sled's log writes) first sleep
 * BOXOFFICE_WRITE_DELAY_MS (default 0): kill -9 does not drop the kernel's
 * page cache, so without it bytes written but not yet synced survive a
 * SIGKILL that a power cut would lose. Both are read once, at load time.
 * With BOXOFFICE_STALL_FILE set to a path, every sync call also waits for
 * as long as that file exists: a disk that stalls and recovers when the
 * test says so.
 * With BOXOFFICE_FSYNC_DEBUG set (and not "0") every intercepted call is
 * logged to stderr with a CLOCK_MONOTONIC timestamp.
 *
 * errno is preserved: callers see the real function's errno.
 *
 * Build: cc -shared -fPIC -O2 -o slow_fsync.so slow_fsync.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static long fsync_delay_ms = 200;
static long write_delay_ms = 0;
static int debug;
static const char *stall_file;

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_sync_file_range)(int, off64_t, off64_t, unsigned int);
static int (*real_syncfs)(int);
static int (*real_msync)(void *, size_t, int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);

static long env_ms(const char *name, long fallback) {
    const char *s = getenv(name);
    if (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end == '\0' && v >= 0)
            return v;
    }
    return fallback;
}

static void log_call(const char *what, int fd, long ms) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    char buf[128];
    int n = snprintf(buf, sizeof buf, "slow_fsync: %ld.%03ld %s(fd %d) +%ld ms\n", (long)now.tv_sec,
                     now.tv_nsec / 1000000L, what, fd, ms);
    if (n > 0)
        (void)!write(2, buf, (size_t)n);
}

/* Runs at load time, before the program's main and its threads. */
__attribute__((constructor)) static void slow_fsync_init(void) {
    fsync_delay_ms = env_ms("BOXOFFICE_FSYNC_DELAY_MS", 200);
    write_delay_ms = env_ms("BOXOFFICE_WRITE_DELAY_MS", 0);
    stall_file = getenv("BOXOFFICE_STALL_FILE");
    const char *d = getenv("BOXOFFICE_FSYNC_DEBUG");
    debug = d && *d && strcmp(d, "0") != 0;
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    real_sync_file_range =
        (int (*)(int, off64_t, off64_t, unsigned int))dlsym(RTLD_NEXT, "sync_file_range");
    real_syncfs = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
    real_msync = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
    real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = (ssize_t(*)(int, const void *, size_t, off64_t))dlsym(RTLD_NEXT, "pwrite64");
    if (debug) {
        char buf[128];
        int n = snprintf(buf, sizeof buf, "slow_fsync: loaded, fsync delay %ld ms, write delay %ld ms\n",
                         fsync_delay_ms, write_delay_ms);
        if (n > 0)
            (void)!write(2, buf, (size_t)n);
    }
}

/* Sleeps `ms`; leaves errno as the caller had it. */
static void slow_down(const char *what, int fd, long ms) {
    int saved = errno;
    if (debug)
        log_call(what, fd, ms);
    struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) == -1 && errno == EINTR) {
    }
    errno = saved;
}

/* A sync call's delay, then the stall for as long as the stall file exists. */
static void sync_delay(const char *what, int fd) {
    slow_down(what, fd, fsync_delay_ms);
    if (!stall_file || !*stall_file)
        return;
    int saved = errno;
    while (access(stall_file, F_OK) == 0) {
        struct timespec tick = {0, 10 * 1000000L};
        nanosleep(&tick, NULL);
    }
    errno = saved;
}

static int missing(void) {
    errno = ENOSYS;
    return -1;
}

int fsync(int fd) {
    sync_delay("fsync", fd);
    return real_fsync ? real_fsync(fd) : missing();
}

int fdatasync(int fd) {
    sync_delay("fdatasync", fd);
    return real_fdatasync ? real_fdatasync(fd) : missing();
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
    sync_delay("sync_file_range", fd);
    return real_sync_file_range ? real_sync_file_range(fd, offset, nbytes, flags) : missing();
}

int syncfs(int fd) {
    sync_delay("syncfs", fd);
    return real_syncfs ? real_syncfs(fd) : missing();
}

int msync(void *addr, size_t length, int flags) {
    if (flags & MS_SYNC)
        sync_delay("msync", -1);
    return real_msync ? real_msync(addr, length, flags) : missing();
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    if (write_delay_ms > 0 || debug)
        slow_down("pwrite", fd, write_delay_ms);
    return real_pwrite ? real_pwrite(fd, buf, count, offset) : missing();
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset) {
    if (write_delay_ms > 0 || debug)
        slow_down("pwrite64", fd, write_delay_ms);
    return real_pwrite64 ? real_pwrite64(fd, buf, count, offset) : missing();
}
