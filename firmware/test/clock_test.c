// clock_test.c - checks clock.h's SysTick arithmetic on the build machine, against a model of the
// counter as QEMU (and the ARMv7-M manual) have it: a write to SYST_CVR, and the end of a period,
// leave the counter at 0 until the next clock reloads it from SYST_RVR. Run by firmware/test-clock.sh.
#include <stdio.h>
#include <stdlib.h>
#include "../clock.h"

#define MAX_PERIOD (1u << 24)
#define CYCLES_PER_MS 25000u

static int failures = 0;
static uint64_t last = 0;

static void check(const char *what, uint64_t got, uint64_t want) {
    uint64_t ms = got / CYCLES_PER_MS;
    if (got != want) {
        printf("FAIL %s: %llu cycles, expected %llu\n", what, (unsigned long long)got, (unsigned long long)want);
        failures++;
    }
    if (ms < last) {
        printf("FAIL %s: the clock went back from %llu ms to %llu ms\n", what, (unsigned long long)last, (unsigned long long)ms);
        failures++;
    }
    last = ms;
}

int main(void) {
    // Awake in the first period: the counter counts down from MAX_PERIOD - 1.
    check("start", pad_clock_cycles(0, MAX_PERIOD, MAX_PERIOD - 1u, 0, 0), 0);
    check("100 cycles in", pad_clock_cycles(0, MAX_PERIOD, MAX_PERIOD - 101u, 0, 0), 100);

    // board_sleep_until: cycles = now (1000 ms), a 1000 ms period, SYST_CVR = 0: until the counter
    // reloads, it reads 0, and no time of the new period has passed.
    uint64_t base = 1000ull * CYCLES_PER_MS;
    uint32_t period = 1000u * CYCLES_PER_MS;
    check("sleep: counter restarted, not yet reloaded", pad_clock_cycles(base, period, 0, 0, 0), base);
    check("sleep: reloaded", pad_clock_cycles(base, period, period - 1u, 0, 0), base);
    check("sleep: 999 ms in", pad_clock_cycles(base, period, period - 1u - 999u * CYCLES_PER_MS, 0, 0), base + 999ull * CYCLES_PER_MS);

    // The period ends (the deadline): the interrupt is pending, the counter not yet reloaded.
    check("deadline: pending, not reloaded", pad_clock_cycles(base, period, 0, 1, 0), base + period);
    check("deadline: pending, reloaded", pad_clock_cycles(base, period, 0, 1, period - 1u), base + period);

    // SysTick_Handler counted it and restarted with the longest period (SYST_CVR = 0): the wake
    // that checks T_dead reads the clock before the emulator reloads the counter. This read was
    // 671 ms ahead, so a link was declared dead up to 0.67 s early.
    base += period;
    check("handler: longest period restarted, not yet reloaded", pad_clock_cycles(base, MAX_PERIOD, 0, 0, 0), base);
    check("handler: reloaded", pad_clock_cycles(base, MAX_PERIOD, MAX_PERIOD - 1u, 0, 0), base);
    check("handler: 1 ms in", pad_clock_cycles(base, MAX_PERIOD, MAX_PERIOD - 1u - CYCLES_PER_MS, 0, 0), base + CYCLES_PER_MS);

    // The last cycle of a period, with its interrupt pending: counted once, never twice.
    check("wrap: pending, reread after the reload", pad_clock_cycles(base, MAX_PERIOD, 0, 1, MAX_PERIOD - 3u), base + MAX_PERIOD + 2u);

    if (failures) {
        printf("clock_test: %d failures\n", failures);
        return 1;
    }
    printf("clock_test: SysTick clock arithmetic ok (monotonic, no jump while the counter reloads)\n");
    return 0;
}
