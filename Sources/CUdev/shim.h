// libudev (Debian: libudev-dev), imported into Swift as the CUdev module.
#include <libudev.h>
