/* src/cli/cmd_info.c — `weft info`: what this weft is and what it runs on. */
#include "src/cli/cli.h"

#include "weft/ops.h"
#include "weft/runtime.h"

#include <stdio.h>

int weft_cmd_info(int argc, char **argv)
{
    weft_args_spec spec = {
        .prog = "weft info",
        .summary = "Show the version, the threads, the BLIS library and how weft was built.",
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);

    int n_ops;
    weft_op_table(&n_ops);
    printf("version      %s\n", weft_version());
    printf("threads      %d (OpenMP and BLIS; %d cores)\n", weft_num_threads(), weft_num_cores());
    printf("blis         %s, %s kernels\n", weft_blis_version(), weft_blis_arch());
    printf("packed       %s (the per-step products' micro-kernel; WEFT_PACKED_KERNEL)\n",
           weft_packed_kernel());
#ifdef WEFT_HAVE_GVC
    printf("graphviz     yes (renders SVG, PNG, PDF)\n");
#else
    printf("graphviz     no (DOT text only)\n");
#endif
#ifdef NDEBUG
    printf("build        release\n");
#else
    printf("build        debug (assertions on)\n");
#endif
    printf("compiler     %s\n", __VERSION__);
    /* what -march the build had (-Dnative); the hot kernels pick theirs at run time */
#if defined(__AVX512F__)
    printf("target       AVX-512 (-Dnative=true on an AVX-512 CPU)\n");
#elif defined(__AVX2__)
    printf("target       AVX2 (-Dnative=true on an AVX2 CPU)\n");
#else
    printf("target       any x86-64 (-Dnative=false: the hot kernels choose AVX2/AVX-512 at run time)\n");
#endif
    printf("ops          %d\n", n_ops);
    return WEFT_EXIT_OK;
}
