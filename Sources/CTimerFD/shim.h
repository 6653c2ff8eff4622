// timerfd_create(2) and timerfd_settime(2) (glibc; not in Swift's Glibc module), for SerialLine's
// line thread: a deadline moved earlier arms the kernel's timer instead of waking the thread.
#include <sys/timerfd.h>
