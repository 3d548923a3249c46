/* models/cells/cell_plugin.c — cells from shared objects (weft/cell.h): load a
 * plugin with dlopen and check what its one function returns; resolve a
 * command line's cell name to a built-in or a plugin. */
#include "weft/cell.h"

#include <dlfcn.h>
#include <stdio.h>
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

const weft_cell_type *weft_cell_lookup(const char *name, void **handle, char *err,
                                       size_t errsize)
{
    *handle = NULL;
    size_t len = strlen(name);
    if (strchr(name, '/') || (len > 3 && strcmp(name + len - 3, ".so") == 0))
        return weft_cell_plugin_open(name, handle, err, errsize);
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
