import NIOCore

/// Closes a connection whose reader stopped reading (issue 13, B4): once the socket stays
/// unwritable (the kernel's send buffer full, more than NIO's high-water mark waiting) for
/// `seconds`, the connection is closed. The response that was waiting then fails, which
/// cancels its query (`AnswerPipe`), so a reader that never reads holds neither memory nor
/// a query slot for longer than this.
final class WriteStallHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let seconds: Int64
    private var timer: Scheduled<Void>?
    /// Told when a connection is closed for a stall.
    let onStall: @Sendable () -> Void

    init(seconds: Int, onStall: @escaping @Sendable () -> Void = {}) {
        precondition(seconds > 0)
        self.seconds = Int64(seconds)
        self.onStall = onStall
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            timer?.cancel()
            timer = nil
        } else if timer == nil {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let onStall = self.onStall
            timer = context.eventLoop.scheduleTask(in: .seconds(seconds)) {
                let context = loopBound.value
                guard !context.channel.isWritable else { return }
                onStall()
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }
}
