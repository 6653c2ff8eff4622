// board.c - board support for the NG-PAD-1 firmware on QEMU's mps2-an386 (Cortex-M4, 25 MHz).
// See board.h for the interface and README.md for the hardware map.
#include "board.h"
#include "clock.h"
#include <stddef.h>

// ---- registers ----------------------------------------------------------------------------
#define REG(addr) (*(volatile uint32_t *)(addr))

// CMSDK APB UART: DATA +0, STATE +4 (bit0 TX full, bit1 RX full), CTRL +8 (bit0 TX enable,
// bit1 RX enable, bit3 RX interrupt enable), INTSTATUS/INTCLEAR +0xC (bit1 RX), BAUDDIV +0x10.
#define UART_DATA(b) REG((b) + 0x00)
#define UART_STATE(b) REG((b) + 0x04)
#define UART_CTRL(b) REG((b) + 0x08)
#define UART_INTCLEAR(b) REG((b) + 0x0C)
#define UART_BAUDDIV(b) REG((b) + 0x10)
#define UART_TX_FULL 1u
#define UART_RX_FULL 2u

static const uint32_t uart_base[2] = {0x40004000u, 0x40005000u};
// mps2-an385/an386: UART n receive interrupt = IRQ 2n (transmit = 2n + 1).
static const uint32_t uart_rx_irq[2] = {0, 2};

// NVIC and SysTick (ARMv7-M System Control Space).
#define NVIC_ISER0 REG(0xE000E100u)
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define CORE_CLOCK_HZ 25000000u

static inline void irq_disable(void) { __asm__ volatile("cpsid i" ::: "memory"); }
static inline void irq_enable(void) { __asm__ volatile("cpsie i" ::: "memory"); }
static inline void wfi(void) { __asm__ volatile("wfi" ::: "memory"); }

// ---- receive ring buffers (filled by the RX interrupts) -----------------------------------
// 256 bytes each: a whole stuffed frame (at most 258 bytes with its delimiters) rarely arrives
// before the main loop drains it, and QEMU holds further bytes back while the 1-byte UART
// register is full, so nothing is lost when a ring fills: the interrupt leaves the byte in the
// UART and masks itself until the main loop makes room.
#define RING_SIZE 256u
struct ring {
    volatile uint32_t head; // written by the interrupt
    volatile uint32_t tail; // written by the main loop
    uint8_t data[RING_SIZE];
};
static struct ring rings[2];

static void uart_rx_isr(uint32_t line) {
    uint32_t base = uart_base[line];
    struct ring *r = &rings[line];
    UART_INTCLEAR(base) = UART_RX_FULL;
    while (UART_STATE(base) & UART_RX_FULL) {
        uint32_t h = r->head;
        if (h - r->tail >= RING_SIZE) {
            // Full: stop taking interrupts until board_read() frees a slot.
            UART_CTRL(base) &= ~8u;
            return;
        }
        r->data[h % RING_SIZE] = (uint8_t)UART_DATA(base);
        r->head = h + 1;
    }
}

void UART0RX_Handler(void) { uart_rx_isr(0); }
void UART1RX_Handler(void) { uart_rx_isr(1); }

int32_t board_read(uint32_t line) {
    if (line > 1) return -1;
    struct ring *r = &rings[line];
    uint32_t t = r->tail;
    if (t == r->head) {
        // Re-arm a receiver that was masked while the ring was full.
        uint32_t base = uart_base[line];
        if (!(UART_CTRL(base) & 8u)) {
            UART_CTRL(base) |= 8u;
            if (UART_STATE(base) & UART_RX_FULL) return (int32_t)(uint8_t)UART_DATA(base);
        }
        return -1;
    }
    uint8_t b = r->data[t % RING_SIZE];
    r->tail = t + 1;
    return b;
}

static bool bytes_waiting(void) {
    return rings[0].head != rings[0].tail || rings[1].head != rings[1].tail
        || !(UART_CTRL(uart_base[0]) & 8u) || !(UART_CTRL(uart_base[1]) & 8u);
}

void board_write(uint32_t line, const uint8_t *bytes, uint32_t count) {
    if (line > 1) return;
    uint32_t base = uart_base[line];
    for (uint32_t i = 0; i < count; i++) {
        while (UART_STATE(base) & UART_TX_FULL) { }
        UART_DATA(base) = bytes[i];
    }
}

// ---- time -----------------------------------------------------------------------------------
// A tickless millisecond clock on SysTick. SysTick counts core cycles down from its reload value;
// the interrupt fires only at the end of a period and adds that period to `cycles`. Awake, the
// period is the longest SysTick allows (2^24 cycles, 671 ms); before sleeping, board_sleep_until
// shortens the period so that it ends at the next deadline. So an idle pad takes a couple of
// interrupts per second instead of a thousand, and QEMU's host thread stays asleep.
#define CYCLES_PER_MS (CORE_CLOCK_HZ / 1000u)
#define MAX_PERIOD (1u << 24)
#define SCB_ICSR REG(0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define ICSR_PENDSTCLR (1u << 25)

static volatile uint64_t cycles;       // core cycles before the current SysTick period
static volatile uint32_t period = MAX_PERIOD; // length of the current period, in cycles

void SysTick_Handler(void) {
    cycles = cycles + period;
    if (period != MAX_PERIOD) {
        period = MAX_PERIOD;
        SYST_RVR = MAX_PERIOD - 1u;
        SYST_CVR = 0; // restart from the new reload value
    }
}

// Cycles since reset. Call with interrupts masked. A period that ended but whose interrupt has
// not run yet is counted here; clock.h says how a counter that reads 0 is taken.
static uint64_t now_cycles(void) {
    uint32_t value = SYST_CVR;
    int pending = (SCB_ICSR & ICSR_PENDSTSET) != 0;
    uint32_t reread = pending ? SYST_CVR : value;
    return pad_clock_cycles(cycles, period, value, pending, reread);
}

uint64_t board_millis(void) {
    irq_disable();
    uint64_t c = now_cycles();
    irq_enable();
    return c / CYCLES_PER_MS;
}

void board_sleep_until(uint64_t deadline) {
    for (;;) {
        irq_disable();
        uint64_t now = now_cycles();
        uint64_t now_ms = now / CYCLES_PER_MS;
        if (bytes_waiting() || now_ms >= deadline) { irq_enable(); return; }
        if (!(SCB_ICSR & ICSR_PENDSTSET)) {
            // End the current period now and start one that ends at the deadline (or as close
            // as SysTick reaches). A period boundary crossed inside these few instructions costs
            // at most one period's fraction of a millisecond.
            uint64_t wait = (deadline - now_ms) * CYCLES_PER_MS - now % CYCLES_PER_MS;
            uint32_t next = wait < MAX_PERIOD ? (uint32_t)wait : MAX_PERIOD;
            if (next < 2u) next = 2u;
            cycles = now;
            period = next;
            SYST_RVR = next - 1u;
            SYST_CVR = 0;
            SCB_ICSR = ICSR_PENDSTCLR;
        }
        // With PRIMASK set, a pending interrupt still ends WFI; it is taken at irq_enable().
        wfi();
        irq_enable();
    }
}

// ---- start-up -------------------------------------------------------------------------------
void board_init(void) {
    irq_disable();
    for (uint32_t line = 0; line < 2; line++) {
        uint32_t base = uart_base[line];
        UART_BAUDDIV(base) = CORE_CLOCK_HZ / 115200u; // nominal: QEMU applies no baud timing
        UART_CTRL(base) = 1u | 2u | 8u;                 // TX, RX, RX interrupt
        NVIC_ISER0 = 1u << uart_rx_irq[line];
    }
    SYST_RVR = MAX_PERIOD - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u; // enable, interrupt, core clock
    irq_enable();
}
