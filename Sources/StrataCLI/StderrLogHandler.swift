import Logging

/// `StreamLogHandler.standardError`'s lines, with metadata formatted when a line is
/// written instead of each time it is set. The HTTP server sets a request id on a logger
/// for every request, and `StreamLogHandler` formats its whole metadata on every set: at
/// 5,000 single events a second that was a few per cent of the daemon's CPU for lines that
/// a warning level never writes.
struct StderrLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata = Logger.Metadata()
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, metadataProvider: Logger.MetadataProvider?) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
        line.logLevel = logLevel
        line.metadata = metadata
        line.log(event: event)
    }
}
