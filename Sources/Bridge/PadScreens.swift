import Checkout
import PinpadProtocol

/// The customer display's texts (Icelandic) for the checkout's screens, and the mapping of the
/// checkout's prompts onto the pad's prompt table. Texts fit a 4 × 20 display; longer pads
/// centre them, smaller ones cut them (PROTOCOL.md §5.3).
enum PadScreens {
    static func screen(for screen: CustomerScreen) -> Screen {
        switch screen {
        case .idle:
            return lines("Netgíró", "Góðan daginn")
        case .working(let amount):
            return lines("Netgíró", krónur(amount), "Augnablik...")
        case .confirmInApp(let amount):
            return lines("Staðfestu greiðslu", "í Netgíró appinu", krónur(amount))
        case .paid(let amount):
            return lines("Greitt", krónur(amount), "Takk fyrir!")
        case .declined:
            // Netgíró's own message is for staff (the till), not for the customer display.
            return lines("Greiðslu hafnað", "Reyndu aftur eða", "greiddu á annan hátt")
        case .cancelled:
            return lines("Hætt við greiðslu")
        case .outcomeUnknown:
            return lines("Óvíst hvort greitt", "var. Starfsmaður", "athugar málið.")
        case .outOfService:
            return lines("Ekki í notkun")
        }
    }

    static func promptID(_ kind: CustomerPromptKind) -> PromptID {
        switch kind {
        case .customerID: return .customerID
        case .smsCode: return .smsCode
        }
    }

    static func notice(_ hint: CustomerPromptHint) -> PromptNotice {
        switch hint {
        case .none: return .none
        case .wrongCode: return .wrongCode
        case .invalidEntry: return .invalidEntry
        }
    }

    /// "4.990 kr." — whole krónur with a dot between thousands, as Icelandic prices are written.
    static func krónur(_ amount: Int) -> String {
        let digits = String(amount.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(".") }
            out.append(c)
        }
        return (amount < 0 ? "-" : "") + out + " kr."
    }

    private static func lines(_ texts: String...) -> Screen {
        Screen(lines: texts.map { ScreenLine(text: Array($0.utf8), alignment: .center) })
    }
}
