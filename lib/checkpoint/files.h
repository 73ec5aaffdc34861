/* lib/checkpoint/files.h - the file-system rules of the checkpoint code, each
 * written once (internal):
 *  - inputs are opened only when they are regular files (or symlinks to
 *    one), without blocking first (a FIFO would block open() for ever), and
 *    read with pread, never mapped: a file truncated while kbit reads it
 *    gives KBIT_EIO, not SIGBUS;
 *  - outputs are built under "<target>.kbit-tmp-<pid>-<serial>-<ns>" next
 *    to the target, locked (flock) by the process that builds them; what a
 *    dead process left there is found and removed by the next run. */
#ifndef KBIT_LIB_CK_FILES_H
#define KBIT_LIB_CK_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "kbit.h"

/* Open path for reading if it is a regular file (symlinks followed):
 * KBIT_EIO naming path (and what it is: a FIFO, a directory, ...)
 * otherwise. *size: its size now. The descriptor is close-on-exec. */
kbit_status kbit_file_open_read(const char *path, int *fd, uint64_t *size);

/* Read len bytes at offset off: KBIT_EIO naming path when the read fails or
 * the file ends first (it shrank since it was opened, says the message). */
kbit_status kbit_file_pread(int fd, const char *path, void *buf, size_t len, uint64_t off);

/* Copy n bytes from in (at in_off) to out (at out_off), in the kernel when it
 * can (copy_file_range), else through a 1 MiB buffer. KBIT_EIO naming the
 * file at fault (the input ending early: "truncated"). */
kbit_status kbit_file_copy_range(int in, const char *in_path, uint64_t in_off, int out,
                                 const char *out_path, uint64_t out_off, uint64_t n);

/* A whole small regular file (config.json, an index) as a NUL-terminated
 * malloc'd string; KBIT_EFORMAT when larger than max bytes. */
kbit_status kbit_file_read_text(const char *path, size_t max, char **text, size_t *len);

/* What is at path: 0 nothing, 1 a regular file (symlinks followed), 2 a
 * directory, 3 something else (FIFO, socket, device, dangling link). */
int kbit_file_kind(const char *path);

/* KBIT_EIO: "path is a FIFO (a directory, ...), not a regular file". */
kbit_status kbit_file_refuse(const char *path);

/* Copy a regular file (from kbit_file_open_read's rules) to a new file `to`
 * (O_EXCL). KBIT_EIO naming the file on failure. */
kbit_status kbit_file_copy(const char *from, const char *to);

/* rm -rf of a tree this process made (best effort, follows no symlink). */
void kbit_file_remove_tree(const char *path);

/* A name next to `target` for a file or directory that becomes `target`
 * only when complete: "<target>.kbit-<tag>-<pid>-<serial>-<ns>" (tag "tmp"
 * or "old"), unique within and across processes. */
void kbit_sibling_name(const char *target, const char *tag, char *buf, size_t len);

/* Take the builder's lock on a temporary (a file or a directory): returns a
 * descriptor to close when done, or -1 (the temporary is then protected by
 * the pid in its name alone). */
int kbit_file_lock(const char *path);

/* Remove what dead processes left next to target (kbit_checkpoint_remove_stale). */
int kbit_file_remove_stale(const char *target);

#endif
