// umockdev (Debian: libumockdev-dev): fake sysfs/udev devices and uevents for DeviceWatchTests.
// Only works inside `umockdev-wrapper` (LD_PRELOAD=libumockdev-preload.so).
#include <umockdev.h>
