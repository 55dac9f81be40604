import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// HTTP/1.0 closes the connection after each response unless the request asked for
/// `Connection: keep-alive` (RFC 9112, section 9.3). The conversion to HTTPTypes drops the
/// request's version, so this handler sits before it, on the HTTP/1 parts, and marks such
/// a request `Connection: close`; the server then closes after its response (issue 13, B17).
final class HTTP10KeepAlive: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), head.version.major == 1, head.version.minor == 0, !head.isKeepAlive else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    /// Put in place from one of the handlers Hummingbird adds after the HTTPTypes codec:
    /// inserts an `HTTP10KeepAlive` just before that codec (and passes everything on).
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny
        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            if let codec = try? pipeline.handler(type: HTTP1ToHTTPServerCodec.self) {
                try? pipeline.addHandler(HTTP10KeepAlive(), position: .before(codec))
            }
        }
    }
}
