/* fuzz/fuzz_args.c — command-line parsing (src/cli/args.c) on any argv: the
 * bytes split at NUL into arguments, parsed against a table with every kind
 * of flag, twice (with and without a stop at the first positional argument,
 * as the global flags are parsed). */
#define _GNU_SOURCE
#include "fuzz/fuzz_file.h"

#include "src/cli/args.h"

#include <stdbool.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum { MAX_ARGS = 64 };
    char *buf = fuzz_string(data, size);
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)"weft fuzz";
    for (size_t i = 0; i <= size && argc < MAX_ARGS;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;

    bool flag = false;
    int n = 3;
    float x = 0.5f;
    const char *name = "default", *out = NULL;
    const weft_flag flags[] = {
        { "flag", WEFT_FLAG_BOOL, &flag, NULL, "a switch", 0, 0 },
        { "n", WEFT_FLAG_INT, &n, "N", "a bounded int", 1, 1000 },
        { "any", WEFT_FLAG_INT, &n, "N", "any int", 0, 0 },
        { "x", WEFT_FLAG_FLOAT, &x, "X", "a bounded float", 0, 1 },
        { "name", WEFT_FLAG_STRING, &name, "S", "a string", 0, 0 },
        { "output", WEFT_FLAG_STRING, &out, "FILE", "another", 0, 0 },
    };
    const weft_flag_group groups[] = { { "options", flags, 6 } };
    const char *pos[4];
    int n_pos = 0, at = argc;
    weft_args_spec spec = { .prog = "weft fuzz", .summary = "fuzzing", .groups = groups,
                            .n_groups = 1, .positional = "FILE", .max_positional = 4 };
    FILE *saved_out = stdout, *saved_err = stderr;
    FILE *sink = fopen("/dev/null", "w");
    if (sink) stdout = stderr = sink;   /* help and messages: not the fuzzer's console */
    (void)weft_args_parse(&spec, argc, argv, pos, &n_pos);
    spec.stop_at = &at;
    (void)weft_args_parse(&spec, argc, argv, pos, &n_pos);
    if (at < 0 || at > argc) abort();
    (void)weft_args_peek(argc, argv, "name");
    int iv;
    float fv;
    (void)weft_args_int(argv[argc - 1], &iv);
    (void)weft_args_float(argv[argc - 1], &fv);
    stdout = saved_out;
    stderr = saved_err;
    if (sink) fclose(sink);
    free(buf);
    return 0;
}
