// runtime.c - reset, vector table, fault reporting, and the few C library pieces Embedded Swift
// needs (memory functions, a freeing heap allocator, putchar), so the image links without any
// libc. Target: QEMU mps2-an386 (Cortex-M4).
#include <stddef.h>
#include <stdint.h>
#include "board.h"

void *memset(void *, int, size_t);
void *memcpy(void *, const void *, size_t);

extern uint32_t __stack_top, __stack_bottom;
extern uint32_t __data_load, __data_start, __data_end;
extern uint32_t __bss_start, __bss_end;
extern uint8_t __heap_start, __heap_end;

extern int main(int argc, char **argv); // emitted by Swift's @main

void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);
void UART0RX_Handler(void);
void UART1RX_Handler(void);

#define STACK_PAINT 0x5AFEC0DEu

__attribute__((section(".vectors"), used))
const void *const vector_table[16 + 32] = {
    &__stack_top,              // initial SP
    (void *)Reset_Handler,     // reset
    (void *)Fault_Handler,     // NMI
    (void *)Fault_Handler,     // HardFault (Swift traps end here: udf)
    (void *)Fault_Handler,     // MemManage
    (void *)Fault_Handler,     // BusFault
    (void *)Fault_Handler,     // UsageFault
    0, 0, 0, 0,                // reserved
    (void *)Default_Handler,   // SVCall
    (void *)Default_Handler,   // DebugMon
    0,                         // reserved
    (void *)Default_Handler,   // PendSV
    (void *)SysTick_Handler,   // SysTick
    [16 + 0] = (void *)UART0RX_Handler,
    [16 + 1] = (void *)Default_Handler, // UART0 TX (not enabled)
    [16 + 2] = (void *)UART1RX_Handler,
    [16 + 3 ... 16 + 31] = (void *)Default_Handler,
};

__attribute__((naked, noreturn)) void Reset_Handler(void) {
    __asm__ volatile("ldr r0, =__stack_top\n mov sp, r0\n b reset_c" ::: "memory");
}

__attribute__((noreturn, used)) void reset_c(void) {
    uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end) *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
    // Paint the stack below the current frame so board_stack_peak() can measure its use.
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (dst = &__stack_bottom; dst < sp - 16;) *dst++ = STACK_PAINT;
    main(0, 0);
    for (;;) { }
}

static void debug_puts(const char *s) {
    while (*s) { board_write(BOARD_LINE_DEBUG, (const uint8_t *)s, 1); s++; }
}

static void debug_hex(uint32_t v) {
    char out[9];
    for (int i = 7; i >= 0; i--) { out[i] = "0123456789abcdef"[v & 15]; v >>= 4; }
    out[8] = 0;
    debug_puts(out);
}

// A fault (including a Swift runtime trap, which is an undefined instruction) is reported once
// on the debug channel as "!fault <ipsr> <pc>" and the core then sleeps with interrupts masked:
// the pad goes silent on the host line, the way a hung pad would.
__attribute__((used)) void fault_report(uint32_t *frame) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    debug_puts("\n!fault ");
    debug_hex(ipsr);
    debug_puts(" ");
    debug_hex(frame ? frame[6] : 0);
    debug_puts("\n");
    __asm__ volatile("cpsid i" ::: "memory");
    for (;;) __asm__ volatile("wfi");
}

__attribute__((naked)) void Fault_Handler(void) {
    __asm__ volatile(
        "tst lr, #4\n ite eq\n mrseq r0, msp\n mrsne r0, psp\n b fault_report");
}

void Default_Handler(void) { fault_report(0); }

// ---- memory functions ---------------------------------------------------------------------
void *memset(void *d, int c, size_t n) {
    uint8_t *p = d;
    while (n--) *p++ = (uint8_t)c;
    return d;
}
void *memcpy(void *d, const void *s, size_t n) {
    uint8_t *p = d;
    const uint8_t *q = s;
    while (n--) *p++ = *q++;
    return d;
}
void *memmove(void *d, const void *s, size_t n) {
    uint8_t *p = d;
    const uint8_t *q = s;
    if (p < q) {
        while (n--) *p++ = *q++;
    } else {
        p += n;
        q += n;
        while (n--) *--p = *--q;
    }
    return d;
}
int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q) return *p - *q;
    return 0;
}
size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}
// ARM EABI helpers LLVM emits for ARM targets.
void __aeabi_memclr(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr4(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr8(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memcpy(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy4(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy8(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memmove(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memmove4(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memmove8(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memset(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memset4(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memset8(void *d, size_t n, int c) { memset(d, c, n); }

// ---- heap -----------------------------------------------------------------------------------
// First-fit allocator over one free list kept in address order, coalescing on free. Every block
// has an 8-byte header and a size that is a multiple of 16; headers sit at 8 mod 16, so every
// payload is 16-byte aligned (Swift's largest usual alignment). Larger alignments are served by
// over-allocating and leaving a back-pointer header in front of the aligned payload.
// Only the main loop allocates (interrupt handlers never do), so no locking is needed.
struct block {
    uint32_t size;       // whole block in bytes, header included; bit 0 set: an alignment tag
    struct block *next;  // next free block (free blocks only)
};
#define HDR 8u
#define TAG 1u
static struct block *free_list;
static uint32_t heap_used, heap_peak;
static uint8_t heap_ready;

static void heap_init(void) {
    uintptr_t start = ((uintptr_t)&__heap_start + 15u) & ~(uintptr_t)15u;
    start += 8; // header at 8 mod 16, payload at 0 mod 16
    uintptr_t end = (uintptr_t)&__heap_end;
    uint32_t size = (uint32_t)((end - start) & ~(uintptr_t)15u);
    free_list = (struct block *)start;
    free_list->size = size;
    free_list->next = 0;
    heap_ready = 1;
}

static void *heap_alloc(size_t n) {
    if (!heap_ready) heap_init();
    if (n > 0x00FFFFFFu) return 0;
    uint32_t need = ((uint32_t)n + HDR + 15u) & ~15u;
    struct block **link = &free_list;
    for (struct block *b = free_list; b; link = &b->next, b = b->next) {
        if (b->size < need) continue;
        if (b->size - need >= 32u) { // split: the tail stays free
            struct block *rest = (struct block *)((uint8_t *)b + need);
            rest->size = b->size - need;
            rest->next = b->next;
            *link = rest;
            b->size = need;
        } else {
            *link = b->next;
        }
        heap_used += b->size;
        if (heap_used > heap_peak) heap_peak = heap_used;
        return (uint8_t *)b + HDR;
    }
    return 0;
}

void free(void *p) {
    if (!p) return;
    struct block *b = (struct block *)((uint8_t *)p - HDR);
    if (b->size & TAG) b = (struct block *)((uint8_t *)b - (b->size & ~TAG));
    heap_used -= b->size;
    struct block *prev = 0, *cur = free_list;
    while (cur && cur < b) { prev = cur; cur = cur->next; }
    b->next = cur;
    if (cur && (uint8_t *)b + b->size == (uint8_t *)cur) { b->size += cur->size; b->next = cur->next; }
    if (prev) {
        prev->next = b;
        if ((uint8_t *)prev + prev->size == (uint8_t *)b) { prev->size += b->size; prev->next = b->next; }
    } else {
        free_list = b;
    }
}

int posix_memalign(void **out, size_t align, size_t size) {
    if (align <= 16) {
        void *p = heap_alloc(size);
        if (!p) return 12; // ENOMEM
        *out = p;
        return 0;
    }
    uint8_t *raw = heap_alloc(size + align);
    if (!raw) return 12;
    uintptr_t aligned = ((uintptr_t)raw + HDR + align - 1) & ~(uintptr_t)(align - 1);
    struct block *tag = (struct block *)(aligned - HDR);
    tag->size = (uint32_t)((uint8_t *)tag - (raw - HDR)) | TAG;
    *out = (void *)aligned;
    return 0;
}

void *malloc(size_t n) { return heap_alloc(n); }

uint32_t board_heap_size(void) { return (uint32_t)(&__heap_end - &__heap_start); }
uint32_t board_heap_in_use(void) { return heap_used; }
uint32_t board_heap_peak(void) { return heap_peak; }
uint32_t board_stack_size(void) { return (uint32_t)((uint8_t *)&__stack_top - (uint8_t *)&__stack_bottom); }
uint32_t board_stack_peak(void) {
    uint32_t *p = &__stack_bottom;
    while (p < &__stack_top && *p == STACK_PAINT) p++;
    return (uint32_t)((uint8_t *)&__stack_top - (uint8_t *)p);
}

// ---- what else Embedded Swift may reference ---------------------------------------------------
// print() and runtime error messages go to the debug channel, never to the host line.
int putchar(int c) {
    uint8_t b = (uint8_t)c;
    board_write(BOARD_LINE_DEBUG, &b, 1);
    return c;
}
// Only used to seed hashing; the firmware keeps no hashed collections of outside data.
void arc4random_buf(void *buf, size_t n) { memset(buf, 0x5a, n); }
void abort(void) { fault_report(0); for (;;) { } }

// ---- 64-bit division -------------------------------------------------------------------------
// LLVM lowers UInt64 `/` and `%` to the EABI helper __aeabi_uldivmod (compiler-rt is not part of
// the Swift toolchain for this target). Quotient in r0:r1, remainder in r2:r3.
__attribute__((used)) uint64_t fw_udivmod64(uint64_t n, uint64_t d, uint64_t *rem) {
    if (d == 0) { *rem = n; return ~(uint64_t)0; } // Swift traps before dividing by zero
    if ((d >> 32) == 0 && (n >> 32) == 0) {
        uint32_t q = (uint32_t)n / (uint32_t)d;
        *rem = (uint32_t)n - q * (uint32_t)d;
        return q;
    }
    uint64_t q = 0, r = 0;
    for (int i = 63; i >= 0; i--) {
        r = (r << 1) | ((n >> i) & 1u);
        if (r >= d) { r -= d; q |= (uint64_t)1 << i; }
    }
    *rem = r;
    return q;
}

__attribute__((naked)) void __aeabi_uldivmod(void) {
    __asm__ volatile(
        "push {r4, lr}\n"
        "sub sp, sp, #16\n"
        "add r4, sp, #8\n"
        "str r4, [sp]\n"
        "bl fw_udivmod64\n"
        "ldrd r2, r3, [sp, #8]\n"
        "add sp, sp, #16\n"
        "pop {r4, pc}\n");
}
