// clock.h - the arithmetic of board.c's tickless SysTick clock, apart from the registers so that
// firmware/test/clock_test.c can check it on the build machine (firmware/test-clock.sh).
#ifndef PAD_CLOCK_H
#define PAD_CLOCK_H
#include <stdint.h>

// Core cycles since reset, from what the SysTick registers say.
//   base     cycles counted before the current period (board.c's `cycles`)
//   period   length of the current period in cycles (SYST_RVR + 1)
//   value    SYST_CVR as read first
//   pending  the period's end interrupt is pending (ICSR.PENDSTSET) and has not run yet
//   reread   SYST_CVR read again after seeing `pending` (the counter may have reloaded since)
// SysTick counts period-1 … 0; the counter reloads on the clock *after* it reaches 0, and a write
// to SYST_CVR sets it to 0 until that next clock. So a counter that reads 0 has not started the
// period yet — right after board.c restarted it, or after a period that has already been counted
// (the interrupt pending, or the handler has run): nothing of the current period has elapsed.
// Reading 0 as "period - 1 cycles elapsed" made the clock jump ahead by up to a whole period
// (671 ms) for as long as an emulator took to reload the counter, which cut the link's T_dead
// short (the link was declared dead 1.83-2.0 s after the last frame instead of 2.5 s).
static inline uint64_t pad_clock_cycles(uint64_t base, uint32_t period, uint32_t value, int pending, uint32_t reread) {
    if (pending) {
        base += period;
        value = reread;
    }
    if (value == 0) return base;
    return base + (period - 1u - value);
}

#endif
