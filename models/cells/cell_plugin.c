/* models/cells/cell_plugin.c — cells from shared objects (weft/cell.h): load a
 * plugin with dlopen and check what its one function returns; resolve a
 * command line's cell name to a built-in or a plugin; the plugins a model file
 * may name (only those the user allowed). */
#define _XOPEN_SOURCE 700   /* realpath */
#include "weft/cell.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const weft_cell_type *weft_cell_plugin_open(const char *path, void **handle, char *err,
                                            size_t errsize)
{
    *handle = NULL;
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(err, errsize, "cannot load the cell plugin %s: %s", path,
                 why ? why : "dlopen failed");
        return NULL;
    }
    weft_cell_plugin_fn fn;
    /* POSIX's way from an object pointer to a function pointer */
    *(void **)(&fn) = dlsym(h, WEFT_CELL_PLUGIN_SYMBOL);
    if (!fn) {
        snprintf(err, errsize, "%s is not a cell plugin: it has no function %s (a plugin exports "
                 "const weft_cell_type *%s(void); see docs/cells.md)", path,
                 WEFT_CELL_PLUGIN_SYMBOL, WEFT_CELL_PLUGIN_SYMBOL);
        dlclose(h);
        return NULL;
    }
    const weft_cell_type *t = fn();
    if (!t || !t->name || !t->name[0] || !t->declare || !t->step || t->n_states < 1 ||
        t->n_states > WEFT_CELL_MAX_STATES) {
        snprintf(err, errsize, "%s: %s() returned %s", path, WEFT_CELL_PLUGIN_SYMBOL,
                 !t ? "NULL" : "a cell type without a name, declare, step or 1..4 states");
        dlclose(h);
        return NULL;
    }
    *handle = h;
    return t;
}

void weft_cell_plugin_close(void *handle)
{
    if (handle) dlclose(handle);
}

bool weft_cell_name_is_plugin(const char *name)
{
    size_t len = strlen(name);
    return strchr(name, '/') || (len > 3 && strcmp(name + len - 3, ".so") == 0);
}

const weft_cell_type *weft_cell_lookup(const char *name, void **handle, char *err,
                                       size_t errsize)
{
    *handle = NULL;
    if (weft_cell_name_is_plugin(name)) {
        /* the user named it: model files may name it too (a resumed run's state) */
        const weft_cell_type *t = weft_cell_plugin_open(name, handle, err, errsize);
        if (t && weft_cell_plugin_allow(name, err, errsize)) {
            weft_cell_plugin_close(*handle);
            *handle = NULL;
            return NULL;
        }
        return t;
    }
    const weft_cell_type *t = weft_cell_find(name);
    if (t) return t;
    int n, used = snprintf(err, errsize, "unknown cell '%s'; the cells are:", name);
    const weft_cell_type *const *all = weft_cell_types(&n);
    for (int i = 0; i < n && used >= 0 && (size_t)used < errsize; i++)
        used += snprintf(err + used, errsize - (size_t)used, " %s", all[i]->name);
    if (used >= 0 && (size_t)used < errsize)
        snprintf(err + used, errsize - (size_t)used, ", or a plugin FILE.so (see 'weft cells', "
                 "docs/cells.md)");
    return NULL;
}

/* --- the plugins a model file may name ------------------------------------------------------ */

enum { MAX_ALLOWED = 64 };

static pthread_mutex_t allowed_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *given;      /* the path as the user wrote it */
    char *real;       /* its realpath, or NULL when it does not resolve (yet) */
} allowed[MAX_ALLOWED];
static int n_allowed;

static bool is_allowed_locked(const char *given)
{
    for (int i = 0; i < n_allowed; i++)
        if (strcmp(allowed[i].given, given) == 0) return true;
    return false;
}

int weft_cell_plugin_allow(const char *path, char *err, size_t errsize)
{
    char resolved[PATH_MAX];
    char *given = strdup(path ? path : "");
    char *real = path && realpath(path, resolved) ? strdup(resolved) : NULL;
    int rc = -1;
    pthread_mutex_lock(&allowed_lock);
    if (!given || !path || !path[0]) {
        snprintf(err, errsize, "allowing a cell plugin: %s", !path || !path[0] ? "no path given"
                                                                           : "out of memory");
    } else if (is_allowed_locked(given)) {
        rc = 0;   /* already */
    } else if (n_allowed == MAX_ALLOWED) {
        snprintf(err, errsize, "allowing the cell plugin %s: at most %d plugins", path,
                 MAX_ALLOWED);
    } else {
        allowed[n_allowed].given = given;
        allowed[n_allowed].real = real;
        n_allowed++;
        given = real = NULL;
        rc = 0;
    }
    pthread_mutex_unlock(&allowed_lock);
    free(given);
    free(real);
    return rc;
}

void weft_cell_plugin_allow_none(void)
{
    pthread_mutex_lock(&allowed_lock);
    for (int i = 0; i < n_allowed; i++) {
        free(allowed[i].given);
        free(allowed[i].real);
        allowed[i].given = allowed[i].real = NULL;
    }
    n_allowed = 0;
    pthread_mutex_unlock(&allowed_lock);
}

/* The path to open for a plugin name a file gives: the allowed entry's own
 * (its realpath when it has one), copied into out; false when none matches. */
static bool allowed_path(const char *name, char *out, size_t outsize)
{
    char resolved[PATH_MAX];
    const char *real = realpath(name, resolved) ? resolved : NULL;
    bool found = false;
    pthread_mutex_lock(&allowed_lock);
    for (int i = 0; i < n_allowed && !found; i++) {
        const char *r = allowed[i].real;
        if (strcmp(allowed[i].given, name) == 0 || (r && real && strcmp(r, real) == 0)) {
            /* the allowed file itself, by a path with a '/' (no library search) */
            if (r) snprintf(out, outsize, "%s", r);
            else snprintf(out, outsize, "%s%s", strchr(allowed[i].given, '/') ? "" : "./",
                          allowed[i].given);
            found = true;
        }
    }
    pthread_mutex_unlock(&allowed_lock);
    return found;
}

const weft_cell_type *weft_cell_lookup_from_file(const char *name, const char *file,
                                                 void **handle, char *err, size_t errsize)
{
    *handle = NULL;
    if (!weft_cell_name_is_plugin(name)) {
        char why[1024];
        const weft_cell_type *t = weft_cell_lookup(name, handle, why, sizeof why);
        if (!t) snprintf(err, errsize, "%s: %s", file, why);
        return t;
    }
    char path[PATH_MAX + 2];
    if (!allowed_path(name, path, sizeof path)) {
        snprintf(err, errsize, "%s: the model's cell is the plugin '%s', and weft loads no code "
                 "because a model file names it; if you trust that plugin, allow it: "
                 "--allow-plugin %s (or --cell %s; weft_cell_plugin_allow in C)", file, name,
                 name, name);
        return NULL;
    }
    return weft_cell_plugin_open(path, handle, err, errsize);
}
