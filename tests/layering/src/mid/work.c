/* A downward call (low_put), an event through the table (allowed) and, on
 * the tagged lines, a call and an include that reach up to top/. */
#include "mid/work.h"
#include "low/store.h"
#include "top/api.h" // layering-fixture: bad

int mid_work(const struct mid_events *ev, int v) {
  int r = low_put(v);
  top_notify(r); // layering-fixture: bad
  ev->done(r);
  return r;
}
