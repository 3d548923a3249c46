/* src/wait_policy.c — how idle OpenMP threads wait, chosen before OpenMP starts.
 *
 * libgomp by default spins a waiting thread for about 300,000 iterations
 * before it sleeps. weft runs a few short parallel regions per time step, and
 * on a machine whose cores are busy with other work a spinning thread takes
 * the core from the very thread it waits for: 2 threads then ran an LM
 * training window 17x slower than 1 thread. With OMP_WAIT_POLICY=passive a
 * waiting thread sleeps at once and the cost is a wake-up per region (a few
 * microseconds against a step's milliseconds).
 *
 * libgomp reads the variable once, in its own constructor, before any
 * constructor of the program runs, so setting it from weft_runtime_init()
 * would be too late. A function in .preinit_array runs before every shared
 * library's constructor. Such a section is not allowed in a shared library,
 * so this file is not part of libweft: meson compiles it into each program
 * that uses weft_dep (the CLI, tests, benchmarks). A program linked against
 * libweft some other way gets libgomp's default unless it sets the variable.
 *
 * A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT always wins. */
#include <stdlib.h>

static void weft_default_wait_policy(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    (void)envp;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT"))
        setenv("OMP_WAIT_POLICY", "passive", 0);
}

__attribute__((section(".preinit_array"), used))
static void (*const weft_preinit_wait_policy)(int, char **, char **) = weft_default_wait_policy;
