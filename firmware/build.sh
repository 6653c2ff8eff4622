#!/bin/sh
# build.sh - builds the NG-PAD-1 firmware image for QEMU's mps2-an386 (Cortex-M4) with the Swift
# toolchain's own swiftc, clang and ld.lld: no vendor SDK, no libc (runtime.c has what Embedded
# Swift needs). The pad's logic (Sources/PinpadProtocol + Sources/PinpadFirmware) and the board
# support here are compiled as one Embedded Swift module.
#
# Output in firmware/build/: pinpad.elf (for qemu -kernel), pinpad.bin, pinpad.map, and the
# flash/RAM use on the last line. The link fails when the image outgrows link.ld's 32 KB flash /
# 16 KB RAM. README.md ("Size budget") says what keeps it small.
# Env: SWIFTC (default: swiftc on PATH); the other tools are taken from next to it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out="$here/build"
swiftc=${SWIFTC:-$(command -v swiftc)}
bin=$(dirname "$(readlink -f "$swiftc")")
mkdir -p "$out"

# Size: -Osize (which also turns on LLVM's machine outliner for Thumb), whole-module, LTO of the
# Swift module with board.c at link time, identical-code folding, and PINPAD_DEVICE_ONLY (the link
# layer's host-only code is left out). runtime.c stays out of LTO: it defines the __aeabi_* and
# mem* functions that code generation itself calls, which LTO would otherwise drop.
"$swiftc" -target armv7em-none-none-eabi -enable-experimental-feature Embedded \
    -wmo -parse-as-library -Osize -lto=llvm-full -module-name PadImage -D PINPAD_DEVICE_ONLY \
    -Xfrontend -disable-stack-protector -Xfrontend -function-sections \
    -import-bridging-header "$here/board.h" \
    -c "$root"/Sources/PinpadProtocol/*.swift "$root"/Sources/PinpadFirmware/*.swift "$here"/*.swift \
    -o "$out/pad.o"
for c in board runtime; do
    lto=-flto
    [ "$c" = runtime ] && lto=
    "$bin/clang" --target=armv7em-none-eabi -mcpu=cortex-m4 -mthumb -Os -ffreestanding \
        -fno-builtin -ffunction-sections -fdata-sections -Wall -Werror $lto \
        -c "$here/$c.c" -o "$out/$c.o"
done
"$bin/ld.lld" -T "$here/link.ld" --gc-sections --icf=all -Map "$out/pinpad.map" -o "$out/pinpad.elf" \
    "$out/runtime.o" "$out/board.o" "$out/pad.o"
"$bin/llvm-objcopy" -O binary "$out/pinpad.elf" "$out/pinpad.bin"

# Flash: .text + .ARM.exidx + .data's initial values; RAM: .data + .bss (+ heap and stack, which
# the linker script sizes to fill the rest of the 16 KB).
flash=0 ram=0 heap=0 stack=0
while read -r _ name size _; do
    case $name in
    .text | .ARM.exidx) flash=$((flash + 0x$size)) ;;
    .data) flash=$((flash + 0x$size)) ram=$((ram + 0x$size)) ;;
    .bss) ram=$((ram + 0x$size)) ;;
    .heap) heap=$((0x$size)) ;;
    .stack) stack=$((0x$size)) ;;
    esac
done <<SECTIONS
$("$bin/llvm-objdump" -h "$out/pinpad.elf" | grep -E '^ +[0-9]+ ')
SECTIONS
echo "firmware/build/pinpad.elf: flash $flash B (limit 32768); RAM $ram B static + $heap B heap + $stack B stack = $((ram + heap + stack)) B of 16384"
