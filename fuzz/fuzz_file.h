/* fuzz/fuzz_file.h — what the harnesses share: the fuzzer's bytes as a file
 * for the readers that take a path. The file is an anonymous one in memory
 * (memfd), reached as /proc/self/fd/N: a regular file, no disk, nothing left
 * behind. */
#ifndef WEFT_FUZZ_FILE_H
#define WEFT_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* A path whose file holds exactly data[0..size). Valid until the next call. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("weft-fuzz", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) abort();
    size_t at = 0;
    while (at < size) {
        ssize_t put = pwrite(fd, data + at, size - at, (off_t)at);
        if (put <= 0) abort();
        at += (size_t)put;
    }
    return path;
}

/* The bytes as a NUL-terminated string (malloc'd; the caller frees). */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    for (size_t i = 0; i < size; i++) s[i] = (char)data[i];
    s[size] = '\0';
    return s;
}

#endif
