/* src/files.c — writing a file whole or not at all (src/internal.h). */
#include "src/internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int weft_replace_file(const char *path, int (*write)(FILE *f, const void *ctx), const void *ctx,
                      char *err, size_t errsize)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmp-XXXXXX");
    if (!tmp) {
        weft_say(err, errsize, "%s: out of memory", path);
        return -1;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        weft_say(err, errsize, "%s: cannot create a temporary file beside it: %s", path,
            strerror(errno));
        free(tmp);
        return -1;
    }
    /* mkstemp makes the file 0600: keep the mode of the file replaced, else 0644 */
    struct stat st;
    mode_t mode = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (st.st_mode & 07777) : 0644;
    FILE *f = fdopen(fd, "w");
    bool ok = f && fchmod(fd, mode) == 0 && write(f, ctx) == 0 && fflush(f) == 0 &&
              fsync(fd) == 0;
    int saved_errno = errno;
    if (f) {
        if (fclose(f) != 0 && ok) {
            ok = false;
            saved_errno = errno;
        }
    } else {
        close(fd);
    }
    if (!ok) {
        weft_say(err, errsize, "%s: cannot write the temporary file %s: %s (%s is unchanged)", path,
            tmp, strerror(saved_errno), path);
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        ok = false;
        weft_say(err, errsize, "%s: cannot rename %s over it: %s (it is unchanged)", path, tmp,
            strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}
