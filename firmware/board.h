// board.h - the board support of the NG-PAD-1 firmware on QEMU's mps2-an386, as seen from Swift
// (imported with -import-bridging-header). Implemented in board.c; the C runtime pieces Embedded
// Swift needs (allocator, memcpy, putchar) are in runtime.c.
//
// Two serial lines, both CMSDK APB UARTs with interrupt-driven receive into ring buffers:
//   BOARD_LINE_HOST  (UART0, 0x40004000, IRQ 0) - the pad <-> host protocol (PROTOCOL.md)
//   BOARD_LINE_DEBUG (UART1, 0x40005000, IRQ 2) - the debug channel (README.md): keys, screen
// Time: a tickless millisecond clock on SysTick (25 MHz core clock); board_millis() counts from reset.
#pragma once
#include <stdint.h>
#include <stdbool.h>

enum { BOARD_LINE_HOST = 0, BOARD_LINE_DEBUG = 1 };

/// Clocks, UARTs, NVIC, SysTick; enables interrupts.
void board_init(void);

/// Milliseconds since reset (64-bit: never wraps).
uint64_t board_millis(void);

/// The next received byte of a line (0-255), or -1 when none is waiting.
int32_t board_read(uint32_t line);

/// Writes bytes to a line, waiting while the UART's transmit register is full.
void board_write(uint32_t line, const uint8_t *bytes, uint32_t count);

/// Sleeps (WFI) until a byte is waiting on either line or `deadline` (board_millis) has passed.
/// Returns at once when either is already true. Race-free: checks with interrupts masked.
void board_sleep_until(uint64_t deadline);

/// Heap statistics of the allocator in runtime.c, in bytes.
uint32_t board_heap_size(void);
uint32_t board_heap_in_use(void);
uint32_t board_heap_peak(void);
/// Deepest stack use seen so far (the stack is painted at reset), in bytes.
uint32_t board_stack_peak(void);
uint32_t board_stack_size(void);
