/* A downward call (low_put), an event through the table (allowed) and, on
 * the tagged lines, a call and an include that reach up to top/, and a call
 * up that only the test-hooks compilation makes. */
#include "mid/work.h"
#include "low/store.h"
#include "top/api.h" // layering-fixture: bad

int mid_work(const struct mid_events *ev, int v) {
  int r = low_put(v);
  top_notify(r);      // layering-fixture: bad
#ifdef FIX_TEST_HOOKS // layering-fixture: bad
  top_probe(r);       // layering-fixture: bad
#endif                // layering-fixture: bad
  ev->done(r);
  return r;
}
