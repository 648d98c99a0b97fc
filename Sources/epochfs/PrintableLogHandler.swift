import EpochStore
import Logging

/// The daemon's log lines, with what districts chose (file and epoch names, reasons that quote
/// them) made printable: a newline in a name must not forge a log line in the journal, nor an
/// escape sequence reach the terminal of whoever reads it. Wraps swift-log's stream handler.
struct PrintableLogHandler: LogHandler {
    private var inner: StreamLogHandler

    init(label: String) {
        inner = StreamLogHandler.standardError(label: label)
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue.mapValues(Self.printable) }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue.map(Self.printable) }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: EpochStore.printable(event.message.description))
        event.metadata = event.metadata?.mapValues(Self.printable)
        inner.log(event: event)
    }

    private static func printable(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): .string(EpochStore.printable(text))
        case .stringConvertible(let value): .string(EpochStore.printable(value.description))
        case .array(let values): .array(values.map(printable))
        case .dictionary(let values): .dictionary(values.mapValues(printable))
        }
    }
}
