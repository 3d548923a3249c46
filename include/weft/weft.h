/* weft/weft.h — everything weft offers, in one include. */
#ifndef WEFT_H
#define WEFT_H

#include "weft/tensor.h"
#include "weft/graph.h"
#include "weft/params.h"
#include "weft/ops.h"
#include "weft/rng.h"
#include "weft/runtime.h"
#include "weft/gradcheck.h"
#include "weft/io.h"
#include "weft/optim.h"
#include "weft/cell.h"
#include "weft/rnn.h"
#include "weft/layers.h"
#include "weft/dropout.h"
#include "weft/data.h"
#include "weft/lm.h"
#include "weft/window_lm.h"
#include "weft/mixture.h"
#include "weft/dot.h"
#include "weft/tasks.h"
#include "weft/compare.h"
#include "weft/train.h"
#include "weft/labeled.h"
#include "weft/buckets.h"
#include "weft/metrics.h"
#include "weft/classify.h"
#include "weft/distributed.h"
#include "weft/attention.h"
#include "weft/seq2seq.h"

#endif
