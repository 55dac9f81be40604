// jemalloc, linked into the `strata` executable only: it replaces malloc and free for the
// whole process (docs/architecture.md, "Memory allocator"). Only its control interface is
// declared here; jemalloc.h would declare malloc and free a second time next to Glibc's.
#include <stddef.h>
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
