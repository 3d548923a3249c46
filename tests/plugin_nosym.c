/* tests/plugin_nosym.c — a shared object that is not a cell plugin (it lacks
 * weft_cell_plugin), for the error test_compare expects. */
int weft_test_not_a_plugin(void);

int weft_test_not_a_plugin(void)
{
    return 42;
}
