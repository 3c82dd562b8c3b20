/* Calls down into mid/ and hands it a table of events: mid/ calls top_done
 * through a pointer and never names it. */
#include "top/api.h"
#include "fix/fix.h"
#include "mid/work.h"

static int last_result;

void top_notify(int r) { last_result = r; }

void top_done(int r) { last_result += r + FIX_VERSION; }

void top_probe(int r) { last_result -= r; }

static const struct mid_events events = {top_done};

int top_run(int v) { return mid_work(&events, v) + last_result; }
