/* tests/plugin_marker.c — a shared object whose constructor writes the file
 * named by WEFT_TEST_MARKER: the test that no model file makes weft load code
 * (tests/test_reliability.c) looks for that file. It is no cell plugin: a
 * constructor runs inside dlopen, before any symbol could be checked. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((constructor)) static void leave_marker(void)
{
    const char *path = getenv("WEFT_TEST_MARKER");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) {
        fputs("loaded\n", f);
        fclose(f);
    }
}
