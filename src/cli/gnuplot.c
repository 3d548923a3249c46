/* src/cli/gnuplot.c — what the commands that draw charts with gnuplot
 * (weft compare, weft gradflow) share. */
#include "src/cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

bool weft_cli_have_gnuplot(void)
{
    int rc = system("gnuplot --version >/dev/null 2>&1");
    return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

void weft_cli_gnuplot_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Does the chart file end as a whole SVG or PNG file ends? gnuplot exits 0
 * when its writes fail (a full disk): a cut-off file is how that shows. */
static bool chart_is_whole(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    unsigned char tail[64];
    size_t n = 0;
    if (fseek(f, -(long)sizeof tail, SEEK_END) != 0) rewind(f);
    n = fread(tail, 1, sizeof tail, f);
    fclose(f);
    const char *ext = strrchr(path, '.');
    if (ext && strcasecmp(ext, ".png") == 0) {
        static const unsigned char iend[8] = { 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82 };
        return n >= 8 && memcmp(tail + n - 8, iend, 8) == 0;
    }
    while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == ' ' || tail[n - 1] == '\r')) n--;
    return n >= 6 && memcmp(tail + n - 6, "</svg>", 6) == 0;
}

int weft_cli_gnuplot_finish(FILE *gp, const char *out, const char *who)
{
    bool wrote = !ferror(gp);
    int st = pclose(gp);
    const char *why = NULL;
    char buf[64];
    if (!wrote) why = "the script could not be written to it";
    else if (st == -1) why = strerror(errno);
    else if (!WIFEXITED(st)) why = "it was killed";
    else if (WEXITSTATUS(st) != 0) {
        snprintf(buf, sizeof buf, "it exited with status %d", WEXITSTATUS(st));
        why = buf;
    } else if (!chart_is_whole(out)) {
        why = "the file it wrote is cut short (a full disk?)";
    }
    if (!why) return 0;
    fprintf(stderr, "%s: gnuplot failed drawing %s: %s\n", who, out, why);
    remove(out);
    return -1;
}
