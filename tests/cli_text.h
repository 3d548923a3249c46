/* tests/cli_text.h — checks on what a run of the `weft` program printed,
 * shared by the suites that run it (cmocka must be included first). */
#ifndef WEFT_TESTS_CLI_TEXT_H
#define WEFT_TESTS_CLI_TEXT_H

#include <stdio.h>
#include <string.h>

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

#endif
