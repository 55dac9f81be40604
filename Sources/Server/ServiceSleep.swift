import ServiceLifecycle

/// Sleeps for `duration` between a background service's rounds, ended early by a graceful
/// shutdown (or cancellation): a stop does not wait out the interval (the compaction
/// scheduler's is a minute). The caller checks `Task.isShuttingDownGracefully` after it.
func sleepUnlessStopping(for duration: Duration) async {
    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
}
