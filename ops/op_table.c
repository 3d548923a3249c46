/* ops/op_table.c — descriptors for every row of WEFT_OP_LIST, and the table. */
#include "ops/op_table.h"

#include <string.h>

#define WEFT_OP_DEFINE(name, label) \
    const weft_op_desc weft_op_##name = { #name, label, weft_op_##name##_forward, \
                                          weft_op_##name##_backward };
WEFT_OP_LIST(WEFT_OP_DEFINE)
#undef WEFT_OP_DEFINE

#define WEFT_OP_ENTRY(name, label) &weft_op_##name,
static const weft_op_desc *const table[] = { WEFT_OP_LIST(WEFT_OP_ENTRY) };
#undef WEFT_OP_ENTRY

const weft_op_desc *const *weft_op_table(int *n)
{
    *n = (int)(sizeof table / sizeof table[0]);
    return table;
}

const weft_op_desc *weft_op_find(const char *name)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i]->name, name) == 0) return table[i];
    return NULL;
}
