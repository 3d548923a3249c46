/* tests/cli_text.h — running the `weft` program and checking what it printed,
 * shared by the suites that run it (cmocka must be included first). */
#ifndef WEFT_TESTS_CLI_TEXT_H
#define WEFT_TESTS_CLI_TEXT_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static inline void assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want)) fail_msg("\"%s\" lacks \"%s\"", text, want);
}

/* The last line of text (without its newline), copied into buf. */
static inline const char *last_line(const char *text, char *buf, size_t n)
{
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == '\n') len--;
    size_t start = len;
    while (start > 0 && text[start - 1] != '\n') start--;
    snprintf(buf, n, "%.*s", (int)(len - start), text + start);
    return buf;
}

/* The first n - 1 bytes of the file at path (all of it when shorter) into
 * buf, NUL-terminated; fails the test when the file cannot be opened. */
static inline void weft_test_slurp(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
}

/* weft_test_slurp of the file name in the folder dir. */
static inline void weft_test_read_file(const char *dir, const char *name, char *buf, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    weft_test_slurp(path, buf, n);
}

/* Writes len bytes of text to the file at path, replacing it. */
static inline void weft_test_write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* What one run of the program gave. The buffers hold the most any suite's
 * run prints; anything longer is cut there. */
typedef struct weft_test_output {
    int status;          /* exit status */
    char out[65536];     /* stdout */
    char err[16384];     /* stderr */
} weft_test_output;

/* Runs `env 'exe' ARGS` through the shell in the current folder, ARGS made
 * from fmt as printf makes it (shell quoting is the caller's), env (may be
 * NULL) put in front, e.g. "WEFT_NUM_THREADS=2". stdout and stderr go to
 * temporary files under /tmp, read back and removed. Fails the test when the
 * program does not exit normally. Returns a result that the next run
 * overwrites (borrowed, never freed). */
static inline weft_test_output *weft_test_run(const char *exe, const char *env,
                                              const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline weft_test_output *weft_test_run(const char *exe, const char *env,
                                              const char *fmt, ...)
{
    static weft_test_output result;   /* large: not on the stack */
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof args) fail_msg("weft arguments too long: %s", args);

    char out_path[] = "/tmp/weft-run-out-XXXXXX", err_path[] = "/tmp/weft-run-err-XXXXXX";
    int fo = mkstemp(out_path), fe = mkstemp(err_path);
    assert_true(fo >= 0 && fe >= 0);
    close(fo);
    close(fe);
    snprintf(cmd, sizeof cmd, "%s '%s' %s >%s 2>%s", env ? env : "", exe, args, out_path,
             err_path);
    int status = system(cmd);
    weft_test_slurp(out_path, result.out, sizeof result.out);
    weft_test_slurp(err_path, result.err, sizeof result.err);
    unlink(out_path);
    unlink(err_path);
    assert_true(status != -1 && WIFEXITED(status));
    result.status = WEXITSTATUS(status);
    return &result;
}

#endif
