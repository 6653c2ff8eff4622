// Counts heap allocations per thread by defining malloc & co. in the benchmark executable: the
// dynamic linker binds every library's malloc (libswiftCore, Foundation, libc itself) to the
// executable's definition first. Each forwards to glibc's allocator through its __libc_* entry
// points, so the allocator is unchanged; the cost is one thread-local increment per call.
#include "AllocationCounter.h"
#include <errno.h>
#include <stddef.h>

#if defined(__linux__) && defined(__GLIBC__)
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread __attribute__((tls_model("initial-exec"))) uint64_t allocations;
static __thread __attribute__((tls_model("initial-exec"))) uint64_t bytes;
static __thread __attribute__((tls_model("initial-exec"))) uint64_t frees;

#define EXPORT __attribute__((visibility("default"), used))

EXPORT void *malloc(size_t n) {
    allocations++;
    bytes += n;
    return __libc_malloc(n);
}

EXPORT void *calloc(size_t count, size_t size) {
    allocations++;
    bytes += count * size;
    return __libc_calloc(count, size);
}

EXPORT void *realloc(void *p, size_t n) {
    allocations++;
    bytes += n;
    return __libc_realloc(p, n);
}

EXPORT void free(void *p) {
    if (p) frees++;
    __libc_free(p);
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t n) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(alignment, n);
    if (!p) return ENOMEM;
    allocations++;
    bytes += n;
    *out = p;
    return 0;
}

EXPORT void *aligned_alloc(size_t alignment, size_t n) {
    allocations++;
    bytes += n;
    return __libc_memalign(alignment, n);
}

EXPORT void *memalign(size_t alignment, size_t n) {
    allocations++;
    bytes += n;
    return __libc_memalign(alignment, n);
}

uint64_t ngb_thread_allocations(void) { return allocations; }
uint64_t ngb_thread_allocated_bytes(void) { return bytes; }
uint64_t ngb_thread_frees(void) { return frees; }

int ngb_allocation_counter_active(void) {
    uint64_t before = allocations;
    void *volatile p = malloc(24);
    free(p);
    // Through a pointer the compiler cannot see through: the call other libraries make.
    void *(*volatile via)(size_t) = malloc;
    void *q = via(24);
    free(q);
    return allocations - before == 2;
}
#else
uint64_t ngb_thread_allocations(void) { return 0; }
uint64_t ngb_thread_allocated_bytes(void) { return 0; }
uint64_t ngb_thread_frees(void) { return 0; }
int ngb_allocation_counter_active(void) { return 0; }
#endif
