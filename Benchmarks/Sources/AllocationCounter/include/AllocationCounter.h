#pragma once
#include <stdint.h>

/// Heap allocation calls made by the calling thread since it started: malloc, calloc, realloc,
/// posix_memalign, aligned_alloc and memalign, as interposed in this executable (glibc only).
uint64_t ngb_thread_allocations(void);
/// Bytes asked for by those calls (realloc: the new size).
uint64_t ngb_thread_allocated_bytes(void);
/// free() calls with a non-null pointer made by the calling thread.
uint64_t ngb_thread_frees(void);
/// 1 when the interposed malloc is the one the process uses (checked by allocating).
int ngb_allocation_counter_active(void);
