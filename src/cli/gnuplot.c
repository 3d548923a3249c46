/* src/cli/gnuplot.c — what the commands that draw charts with gnuplot
 * (weft compare, weft gradflow) share. */
#include "src/cli/cli.h"

#include <stdlib.h>
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
