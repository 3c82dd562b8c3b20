/* A tool: the public header is fine, a library header is not. */
#include "fix/fix.h"
#include "mid/work.h" // layering-fixture: bad

int main(void) { return FIX_VERSION - 1; }
