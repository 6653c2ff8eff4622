#if canImport(PinpadProtocol)
import PinpadProtocol
#endif

/// The pad's own texts (Icelandic, charset 1). They are part of the firmware, not of the
/// protocol: the host can only choose among them by prompt id and notice code.
public enum PadTexts {
    public static let brand: StaticString = "Netgíró"
    public static let idleGreeting: StaticString = "Góðan daginn"
    public static let notConnected: StaticString = "Ekki tengt"
    public static let waitingForTill: StaticString = "Bíð eftir kassa"

    public static let customerIDQuestion: StaticString = "App-kóði, sími eða kt."
    public static let customerIDQuestionShort: StaticString = "Kóði, sími eða kt."
    public static let smsCodeQuestion: StaticString = "Kóði úr SMS"
    public static let confirmAmountQuestion: StaticString = "Staðfestu upphæð"
    public static let confirmKeys: StaticString = "OK = já, Hætta = nei"
    public static let confirmKeysShort: StaticString = "OK / Hætta"

    public static let wrongCode: StaticString = "Rangur kóði, reyndu aftur"
    public static let wrongCodeShort: StaticString = "Rangur kóði"
    public static let invalidEntry: StaticString = "Ógilt númer"
    public static let tooShort: StaticString = "Of stutt"
}

/// What a prompt screen shows besides its question: the entry so far and a message line.
struct PromptView {
    var spec: PromptSpec
    var amount: UInt32
    var entry: [UInt8]
    /// The notice the host asked for, until the customer's first key.
    var notice: PromptNotice
    /// "Too short": shown after OK with too few digits, until the next key.
    var tooShort: Bool
}

/// Lays out the pad's own screens on a display of any size: rows are built with priorities and
/// the least important are shortened, then dropped, until the screen fits.
enum PadScreens {
    private struct Row {
        var chars: [UInt8]
        var alignment: TextAlignment
        /// Higher is kept longer.
        var priority: Int
        var isEntry = false
    }

    static func idle(_ display: inout DisplayBuffer) {
        let rows = [
            Row(chars: PadText.chars(PadTexts.brand), alignment: .center, priority: 2),
            Row(chars: PadText.chars(PadTexts.idleGreeting), alignment: .center, priority: 1),
        ]
        place(fit(rows, display.rows), on: &display, centred: true)
    }

    static func notConnected(_ display: inout DisplayBuffer) {
        let rows = [
            Row(chars: PadText.chars(PadTexts.brand), alignment: .center, priority: 2),
            Row(chars: PadText.chars(PadTexts.notConnected), alignment: .center, priority: 3),
            Row(chars: PadText.chars(PadTexts.waitingForTill), alignment: .center, priority: 1),
        ]
        place(fit(rows, display.rows), on: &display, centred: true)
    }

    static func prompt(_ view: PromptView, on display: inout DisplayBuffer) {
        let width = display.columns
        let capacity = display.rows
        // Try the long texts first, then shorter ones, then drop rows by priority.
        var best: [Row] = []
        for stage in 0..<3 {
            let rows = promptRows(view, width: width, shortMessage: stage >= 1, shortQuestion: stage >= 2)
            best = rows
            if rows.count <= capacity { break }
        }
        place(fit(best, capacity), on: &display, centred: false)
    }

    private static func promptRows(_ view: PromptView, width: Int, shortMessage: Bool, shortQuestion: Bool) -> [Row] {
        var rows: [Row] = []
        let brand = PadText.chars(PadTexts.brand)
        let amount: [UInt8]? = view.amount > 0 ? PadText.amount(view.amount) : nil
        let confirming = view.spec.id == .confirmAmount

        // Title, with the amount at the right when both fit on one row.
        var amountRow: Row?
        if let amount, !confirming, brand.count + 1 + amount.count <= width {
            var header = brand
            for _ in 0..<(width - brand.count - amount.count) { header.append(0x20) }
            header.append(contentsOf: amount)
            add(&rows, chars: header, alignment: .left, priority: 1)
        } else {
            add(&rows, chars: brand, alignment: confirming ? .center : .left, priority: 1)
            if let amount {
                amountRow = Row(chars: amount, alignment: confirming ? .center : .right, priority: confirming ? 5 : 2)
            }
        }

        // The question, wrapped over as many rows as it needs, or its short form on one row.
        let question: [UInt8]
        switch view.spec.id {
        case .customerID:
            question = PadText.chars(shortQuestion ? PadTexts.customerIDQuestionShort : PadTexts.customerIDQuestion)
        case .smsCode:
            question = PadText.chars(PadTexts.smsCodeQuestion)
        default:
            question = PadText.chars(PadTexts.confirmAmountQuestion)
        }
        let questionRows = shortQuestion ? [question] : PadText.wrap(question, width: width)
        for q in questionRows { add(&rows, chars: q, alignment: confirming ? .center : .left, priority: 3) }

        if let amountRow { rows.append(amountRow) }

        // The message: the device's own hint first, else the host's notice.
        var message: [UInt8]?
        if view.tooShort {
            message = PadText.chars(PadTexts.tooShort)
        } else {
            switch view.notice {
            case .none: message = nil
            case .wrongCode: message = PadText.chars(shortMessage ? PadTexts.wrongCodeShort : PadTexts.wrongCode)
            case .invalidEntry: message = PadText.chars(PadTexts.invalidEntry)
            }
        }

        // The entry (or, for a prompt without digits, which keys answer it).
        if confirming || view.spec.maxDigits == 0 {
            if let message { add(&rows, chars: message, alignment: .center, priority: 4) }
            let keys = PadText.chars(PadTexts.confirmKeys)
            add(&rows, chars: keys.count <= width ? keys : PadText.chars(PadTexts.confirmKeysShort), alignment: .center, priority: 6)
        } else {
            var entry: [UInt8] = [0x3E, 0x20]  // "> "
            switch view.spec.echo {
            case .clear: entry.append(contentsOf: view.entry)
            case .masked: for _ in view.entry { entry.append(0x2A) }  // "*"
            case .hidden: break
            }
            if view.entry.count < Int(view.spec.maxDigits) { entry.append(0x5F) }  // "_" cursor
            add(&rows, chars: entry, alignment: .left, priority: 6, isEntry: true)
            if let message {
                let lines = shortMessage ? [message] : PadText.wrap(message, width: width)
                for m in lines { add(&rows, chars: m, alignment: .left, priority: 4) }
            }
        }
        return rows
    }

    /// Appends a row (one out-of-line copy of the append, not one per row kind).
    @inline(never)
    private static func add(_ rows: inout [Row], chars: [UInt8], alignment: TextAlignment, priority: Int, isEntry: Bool = false) {
        rows.append(Row(chars: chars, alignment: alignment, priority: priority, isEntry: isEntry))
    }

    /// Drops the least important rows (the later one first among equals) until `capacity` remain.
    private static func fit(_ rows: [Row], _ capacity: Int) -> [Row] {
        var rows = rows
        while rows.count > capacity {
            var victim = 0
            for i in rows.indices where rows[i].priority <= rows[victim].priority { victim = i }
            rows.remove(at: victim)
        }
        return rows
    }

    private static func place(_ rows: [Row], on display: inout DisplayBuffer, centred: Bool) {
        display.clear()
        let top = centred ? (display.rows - rows.count) / 2 : 0
        for (i, row) in rows.enumerated() {
            display.setRow(top + i, latin1: row.chars, alignment: row.alignment)
            if row.isEntry { display.entryRow = top + i }
        }
    }
}
