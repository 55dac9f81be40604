import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import StrataCore

/// Answers what the request head alone decides, before any body is read (issue 13, B9): a
/// `Content-Length` over the route's limit gets 413 at once (and the connection closes, so
/// the body is never taken in); `Expect: 100-continue` gets its `100 Continue`, so that curl
/// and other clients send their body without waiting a second for it.
final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The most body bytes a path takes.
    let limit: @Sendable (String) -> Int
    /// Dropping the rest of a refused request.
    private var refusing = false

    init(limit: @escaping @Sendable (String) -> Int) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if refusing {
            if case .end = part { refusing = false }
            return
        }
        if case .head(let head) = part {
            let path = String((head.path ?? "").prefix { $0 != "?" })
            let max = limit(path)
            if let length = head.headerFields[.contentLength].flatMap({ Int($0) }), length > max {
                refusing = true
                let body = #"{"error":{"code":"too_large","message":"a body of \#(length) bytes is over the limit of \#(max) for \#(jsonString(path).dropFirst().dropLast())"}}"#
                var fields = HTTPFields()
                fields[.contentType] = "application/json"
                fields[.contentLength] = String(body.utf8.count)
                fields[.connection] = "close"
                context.write(wrapOutboundOut(.head(HTTPResponse(status: .contentTooLarge, headerFields: fields))), promise: nil)
                context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(string: body))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
                return
            }
            if head.headerFields[.expect]?.lowercased() == "100-continue" {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            }
        }
        context.fireChannelRead(data)
    }
}
