/* The top of the fixture: the entry point and the events it gets back. */
#ifndef FIX_TOP_API_H
#define FIX_TOP_API_H
int top_run(int v);
void top_notify(int r);
void top_done(int r);
void top_probe(int r);
#endif
