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
        run(.lineOpened, now: now)
    }

    /// Handles every waiting byte and key, then any deadline that has passed.
    mutating func step(now: UInt64) {
        while true {
            host.read(into: &received, limit: 64)
            if received.isEmpty { break }
            run(.received(received), now: now)
        }
        while let key = peripherals.nextKey() {
            run(.key(key), now: now)
        }
        if let deadline = firmware.nextDeadline, deadline <= now {
            run(.tick, now: now)
        }
    }

    /// When the loop must run again if no byte arrives.
    var wakeDeadline: UInt64 { firmware.nextDeadline ?? UInt64.max }

    /// One event into the firmware and its actions out (one copy of this code, not one per caller).
    @inline(never)
    private mutating func run(_ event: FirmwareEvent, now: UInt64) {
        for action in firmware.handle(event, now: now) {
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
    static func main() {
        board_init()
        // The identity this image announces in HELLO_REPLY.
        let profile = DeviceProfile(
            model: PadText.bytes("NG-PAD-1"), serialNumber: PadText.bytes("EMU00001"), rows: 4, columns: 20)
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
