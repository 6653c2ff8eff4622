// PadMain.swift - the NG-PAD-1 firmware's main loop: PadFirmware (Sources/PinpadFirmware, the
// pad's logic as a pure state machine) driven by the board's host line, clock, keypad and display.
// The loop sleeps in WFI whenever no byte, key or deadline is due.

/// Carries events from the board into the firmware and its actions back out.
struct PadLoop<Peripherals: Keypad & CustomerDisplay> {
    var firmware: PadFirmware
    var peripherals: Peripherals
    let host = SerialLine.host
    private var received: [UInt8] = []

    init(firmware: PadFirmware, peripherals: Peripherals) {
        self.firmware = firmware
        self.peripherals = peripherals
        received.reserveCapacity(64)
    }

    mutating func start(now: UInt64) {
        // Power-on is the line opening: the pad starts announcing itself (PROTOCOL.md §6.2).
        apply(firmware.handle(.lineOpened, now: now))
    }

    /// Handles every waiting byte and key, then any deadline that has passed.
    mutating func step(now: UInt64) {
        while true {
            host.read(into: &received, limit: 64)
            if received.isEmpty { break }
            apply(firmware.handle(.received(received), now: now))
        }
        while let key = peripherals.nextKey() {
            apply(firmware.handle(.key(key), now: now))
        }
        if let deadline = firmware.nextDeadline, deadline <= now {
            apply(firmware.handle(.tick, now: now))
        }
    }

    /// When the loop must run again if no byte arrives.
    var wakeDeadline: UInt64 { firmware.nextDeadline ?? UInt64.max }

    private mutating func apply(_ actions: [FirmwareAction]) {
        for action in actions {
            switch action {
            case .write(let bytes): host.write(bytes)
            case .display(let display): peripherals.show(display)
            case .indicate(let indication): peripherals.indicate(indication)
            case .linkUp, .linkDown, .promptOpened, .promptEnded: break
            }
        }
    }
}

@main
struct PadMain {
    /// The identity this image announces in HELLO_REPLY.
    static let profile = DeviceProfile(
        model: [0x4E, 0x47, 0x2D, 0x50, 0x41, 0x44, 0x2D, 0x31],  // "NG-PAD-1"
        serialNumber: [0x45, 0x4D, 0x55, 0x30, 0x30, 0x30, 0x30, 0x31],  // "EMU00001"
        rows: 4, columns: 20)

    static func main() {
        board_init()
        var loop = PadLoop(firmware: PadFirmware(profile: profile), peripherals: DebugChannel())
        loop.peripherals.announceReady(profile)
        loop.start(now: Clock.now)
        while true {
            let now = Clock.now
            loop.peripherals.poll(loop.firmware, now: now)
            loop.step(now: now)
            Clock.sleep(until: loop.wakeDeadline)
        }
    }
}
