import ArgumentParser
import DeviceWatch

/// `ngbridge devices`: which USB serial devices could be the PIN pad, and can this user open them.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List USB serial devices that could be the PIN pad.",
        discussion: """
            Shows each USB serial device's path, VID:PID, serial number and product, whether it \
            matches the filter (by default the supported pads' IDs), and whether this user may open it. \
            Works without udevd: IDs are then read from sysfs.
            """)

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(name: .customLong("match"), help: ArgumentHelp("Accept this USB ID (repeatable).", valueName: "VID:PID"))
    var ids: [String] = []

    @Option(name: .customLong("serial"), help: ArgumentHelp("Accept only this USB serial number (repeatable).", valueName: "S"))
    var serials: [String] = []

    func validate() throws {
        _ = try filter()
    }

    func run() throws {
        let filter = try filter()
        let candidates = try DeviceListing.candidates(filter: filter)
        print(json ? DeviceListing.json(candidates) : DeviceListing.table(candidates, filter: filter), terminator: json ? "\n" : "")
    }

    /// The --match/--serial filter; without --match, the supported pads' IDs.
    private func filter() throws -> PadFilter {
        var filter: PadFilter
        do {
            filter = try PadFilter(idStrings: ids, serials: serials)
        } catch {
            throw ValidationError(error.description)
        }
        if filter.ids.isEmpty { filter.ids = PadFilter.supportedPads.ids }
        return filter
    }
}
