/* lib/checkpoint/files.c - opening, reading, copying and removing files, and
 * the temporaries of outputs (see files.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/files.h"
#include "runtime/error.h"

static const char *kind_name(mode_t mode)
{
    return S_ISFIFO(mode) ? "a FIFO"
           : S_ISSOCK(mode) ? "a socket"
           : S_ISDIR(mode) ? "a directory"
           : S_ISCHR(mode) ? "a character device"
           : S_ISBLK(mode) ? "a block device"
                           : "not a regular file";
}

kbit_status kbit_file_open_read(const char *path, int *out, uint64_t *size)
{
    /* stat first, so that no FIFO or device is ever opened; O_NONBLOCK and
     * fstat again, in case the path changed in between */
    struct stat sb;
    if (stat(path, &sb) != 0)
        return kbit_error(KBIT_EIO, "cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return kbit_error(KBIT_EIO, "%s is %s, not a regular file", path, kind_name(sb.st_mode));
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return kbit_error(KBIT_EIO, "cannot open %s: %s", path, strerror(errno));
    int flags = fcntl(fd, F_GETFL);
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || flags < 0 ||
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        if (!S_ISREG(sb.st_mode))
            return kbit_error(KBIT_EIO, "%s is %s, not a regular file", path,
                              kind_name(sb.st_mode));
        return kbit_error(KBIT_EIO, "cannot open %s: %s", path, strerror(e));
    }
    *out = fd;
    if (size)
        *size = (uint64_t)sb.st_size;
    return KBIT_OK;
}

kbit_status kbit_file_pread(int fd, const char *path, void *buf, size_t len, uint64_t off)
{
    unsigned char *p = buf;
    while (len > 0) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : len;
        ssize_t k = pread(fd, p, chunk, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return kbit_error(KBIT_EIO, "cannot read %s: %s", path, strerror(errno));
        if (k == 0) {
            struct stat sb;
            long long now = fstat(fd, &sb) == 0 ? (long long)sb.st_size : -1;
            return kbit_error(KBIT_EIO, "cannot read %s: it ends at byte %lld, before byte %llu "
                              "(was it truncated while kbit read it?)", path, now,
                              (unsigned long long)off + 1);
        }
        p += k;
        off += (uint64_t)k;
        len -= (size_t)k;
    }
    return KBIT_OK;
}

kbit_status kbit_file_copy_range(int in, const char *in_path, uint64_t in_off, int out,
                                 const char *out_path, uint64_t out_off, uint64_t n)
{
#ifdef __linux__
    while (n > 0) {
        loff_t a = (loff_t)in_off, b = (loff_t)out_off;
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t k = copy_file_range(in, &a, out, &b, chunk, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == ENOSYS || errno == EXDEV || errno == EINVAL ||
                      errno == EOPNOTSUPP || errno == EBADF))
            break; /* not here: the buffer below */
        if (k < 0)
            return kbit_error(KBIT_EIO, "cannot write %s: %s", out_path, strerror(errno));
        if (k == 0) /* the input ended */
            return kbit_file_pread(in, in_path, &(char){ 0 }, 1, in_off);
        in_off += (uint64_t)k;
        out_off += (uint64_t)k;
        n -= (uint64_t)k;
    }
#endif
    size_t cap = n < ((size_t)1 << 20) ? (size_t)n : ((size_t)1 << 20);
    unsigned char *buf = n ? malloc(cap) : NULL;
    if (n && buf == NULL)
        return kbit_error(KBIT_ENOMEM, "out of memory for a %zu-byte copy buffer", cap);
    kbit_status st = KBIT_OK;
    while (n > 0 && st == KBIT_OK) {
        size_t k = n < cap ? (size_t)n : cap;
        if ((st = kbit_file_pread(in, in_path, buf, k, in_off)) != KBIT_OK)
            break;
        for (size_t done = 0; done < k && st == KBIT_OK;) {
            ssize_t m = pwrite(out, buf + done, k - done, (off_t)(out_off + done));
            if (m < 0 && errno == EINTR)
                continue;
            if (m <= 0)
                st = kbit_error(KBIT_EIO, "cannot write %s: %s", out_path,
                                m < 0 ? strerror(errno) : "no progress");
            else
                done += (size_t)m;
        }
        in_off += k;
        out_off += k;
        n -= k;
    }
    free(buf);
    return st;
}

kbit_status kbit_file_read_text(const char *path, size_t max, char **text, size_t *len_out)
{
    int fd;
    uint64_t size;
    kbit_status st = kbit_file_open_read(path, &fd, &size);
    if (st != KBIT_OK)
        return st;
    if (size > max) {
        close(fd);
        return kbit_error(KBIT_EFORMAT, "%s is larger than %zu bytes", path, max);
    }
    char *buf = malloc((size_t)size + 1);
    if (buf == NULL) {
        close(fd);
        return kbit_error(KBIT_ENOMEM, "%s: out of memory for %llu bytes", path,
                          (unsigned long long)size);
    }
    st = kbit_file_pread(fd, path, buf, (size_t)size, 0);
    close(fd);
    if (st != KBIT_OK) {
        free(buf);
        return st;
    }
    buf[size] = '\0';
    *text = buf;
    if (len_out)
        *len_out = (size_t)size;
    return KBIT_OK;
}

kbit_status kbit_file_refuse(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return kbit_error(KBIT_EIO, "%s: %s", path, strerror(errno));
    return kbit_error(KBIT_EIO, "%s is %s, not a regular file", path, kind_name(sb.st_mode));
}

int kbit_file_kind(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (lstat(path, &sb) == 0)
            return 3; /* a dangling symlink */
        return 0;
    }
    return S_ISREG(sb.st_mode) ? 1 : S_ISDIR(sb.st_mode) ? 2 : 3;
}

kbit_status kbit_file_copy(const char *from, const char *to)
{
    int in;
    kbit_status st = kbit_file_open_read(from, &in, NULL);
    if (st != KBIT_OK)
        return st;
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        st = kbit_error(KBIT_EIO, "cannot create %s: %s", to, strerror(errno));
        close(in);
        return st;
    }
    char buf[1 << 16]; /* per call: conversions may run on several threads */
    for (;;) {
        ssize_t k = read(in, buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            st = kbit_error(KBIT_EIO, "cannot read %s: %s", from, strerror(errno));
            break;
        }
        if (k == 0)
            break;
        for (ssize_t done = 0; done < k && st == KBIT_OK;) {
            ssize_t m = write(out, buf + done, (size_t)(k - done));
            if (m < 0 && errno == EINTR)
                continue;
            if (m <= 0)
                st = kbit_error(KBIT_EIO, "cannot write %s: %s", to,
                                m < 0 ? strerror(errno) : "no progress");
            else
                done += m;
        }
        if (st != KBIT_OK)
            break;
    }
    close(in);
    if (close(out) != 0 && st == KBIT_OK)
        st = kbit_error(KBIT_EIO, "cannot write %s: %s", to, strerror(errno));
    return st;
}

/* Remove name inside directory dirfd; directories by descriptor, so no path
 * is built (nothing to allocate but the listing) and no link is followed. */
static void remove_at(int parent, const char *name, int depth)
{
    struct stat sb;
    if (fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        unlinkat(parent, name, 0);
        return;
    }
    int fd = depth < 256 ? openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                         : -1;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL && fd >= 0)
        close(fd);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                remove_at(dirfd(d), de->d_name, depth + 1);
        closedir(d);
    }
    unlinkat(parent, name, AT_REMOVEDIR);
}

void kbit_file_remove_tree(const char *path)
{
    remove_at(AT_FDCWD, path, 0);
}

void kbit_sibling_name(const char *target, const char *tag, char *buf, size_t len)
{
    static _Atomic unsigned long serial;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(buf, len, "%s.kbit-%s-%ld-%lu-%ld%09ld", target, tag, (long)getpid(),
             (unsigned long)++serial, (long)now.tv_sec, (long)now.tv_nsec);
}

int kbit_file_lock(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The pid of "<pid>-<serial>-<digits>" (the rest of a sibling name), or 0. */
static long parse_sibling(const char *s)
{
    long pid = 0;
    int part = 0, digits = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            if (part == 0 && pid < 100000000)
                pid = pid * 10 + (*s - '0');
            digits++;
        } else if (*s == '-' && digits > 0 && part < 2) {
            part++;
            digits = 0;
        } else
            return 0;
    }
    return part == 2 && digits > 0 ? pid : 0;
}

/* Whether process pid still runs (a zombie does not). */
static int process_alive(long pid)
{
    if (pid == (long)getpid())
        return 1;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 0;
    char path[64], stat_line[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 1;
    size_t n = fread(stat_line, 1, sizeof stat_line - 1, f);
    fclose(f);
    stat_line[n] = '\0';
    const char *paren = strrchr(stat_line, ')');
    return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}

int kbit_file_remove_stale(const char *target)
{
    char dir[4096];
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", slash == target ? 1 : (int)(slash - target), target);
    else
        snprintf(dir, sizeof dir, ".");
    size_t blen = strlen(base);
    if (blen == 0 || blen > 255)
        return 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int handled = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        int is_tmp = strncmp(name, base, blen) == 0 && strncmp(name + blen, ".kbit-tmp-", 10) == 0;
        int is_old = strncmp(name, base, blen) == 0 && strncmp(name + blen, ".kbit-old-", 10) == 0;
        long pid = is_tmp || is_old ? parse_sibling(name + blen + 10) : 0;
        if (pid <= 0 || process_alive(pid))
            continue;
        char path[4096 + 256];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        /* the builder holds a lock on its temporary while it lives (also
         * when its pid is not visible here: another pid namespace) */
        int lock = kbit_file_lock(path);
        if (lock < 0)
            continue;
        if (is_old && kbit_file_kind(target) == 0 && rename(path, target) == 0)
            handled++; /* OUT was set aside and the new one never came: put it back */
        else {
            kbit_file_remove_tree(path);
            handled++;
        }
        close(lock);
    }
    closedir(d);
    return handled;
}
