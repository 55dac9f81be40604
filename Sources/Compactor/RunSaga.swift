import Catalog
import HotTier

/// The kinds of compaction run the catalog records (`runs.kind`).
public enum RunKind: String, Sendable, CaseIterable {
    /// Aged tickets and their change-log entries from Redis into segments.
    case migrate
    /// Hours of counters from Redis into `ticket_metrics` segments.
    case rollup
    /// Small segments of one table into fewer, superseded rows dropped.
    case merge
}

/// How far a run got, as the catalog records it (`runs.step`), in the saga's order.
public enum RunStep: String, Sendable, CaseIterable, Comparable {
    /// The run exists; nothing of it is recorded yet.
    case started
    /// What it takes is recorded (tickets, log entries, hours, input segments) with the
    /// names of the files it will write; for a rollup the hours are renamed to moving keys.
    case selected
    /// Its files are written and published.
    case written
    /// Its segments are registered (for a merge: and its inputs retired), one transaction.
    case registered
    /// What the segments now hold is deleted from Redis.
    case deleted

    public static func < (a: RunStep, b: RunStep) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One thing for the executor of a run (`RunExecutor`) to do, after which the saga moves on.
public enum RunAction: String, Sendable, CaseIterable {
    /// Choose and record what the run takes (step `selected`).
    case select
    /// Write and publish the segment files (step `written`).
    case write
    /// Register the segments in the catalog (step `registered`).
    case register
    /// Delete from Redis what the registered segments hold (step `deleted`).
    case deleteMoved
    /// Mark the run done.
    case finish
    /// A run that stopped before registering: remove its files, give back what it took
    /// (a rollup's counters), mark it aborted.
    case undo
}

/// The saga of one compaction run as a state machine (as swift-nio writes protocol state
/// machines): it holds the kind and the last step reached, says which action comes next,
/// and moves on when told the action is done. It performs nothing itself; a `RunExecutor`
/// does, so every path (forward, and recovery from each step a crash can leave) is one
/// table here, and the crash tests iterate over it.
///
/// Forward: select → write → register → deleteMoved → finish (a merge has nothing in Redis
/// to delete: register → finish). Recovery, `init(resuming:)`: a run that stopped before
/// `registered` is undone; one that stopped at or after it is finished forward, since its
/// segments are the truth now.
public struct RunSaga: Sendable, Equatable {
    public let kind: RunKind
    public private(set) var step: RunStep
    /// A crashed run taken over by recovery.
    public let resumed: Bool
    public private(set) var isDone = false

    /// A new run, just started.
    public init(kind: RunKind) {
        self.kind = kind
        step = .started
        resumed = false
    }

    /// A run a crash left unfinished, as the catalog recorded it.
    public init(resuming run: Catalog.Run) throws {
        guard let kind = RunKind(rawValue: run.kind) else { throw CompactionError.corrupt("run \(run.id) is of an unknown kind '\(run.kind)'") }
        guard let step = RunStep(rawValue: run.step) else { throw CompactionError.corrupt("run \(run.id) is at an unknown step '\(run.step)'") }
        guard kind != .merge || step != .deleted else { throw CompactionError.corrupt("merge run \(run.id) is at step 'deleted', which merges do not have") }
        self.kind = kind
        self.step = step
        resumed = true
    }

    /// The steps a run of `kind` goes through, in order.
    public static func steps(of kind: RunKind) -> [RunStep] {
        kind == .merge ? [.started, .selected, .written, .registered] : RunStep.allCases
    }

    /// What to do next, or nil when the run is over.
    public var nextAction: RunAction? {
        if isDone { return nil }
        if resumed && step < .registered { return .undo }
        switch step {
        case .started: return .select
        case .selected: return .write
        case .written: return .register
        case .registered: return kind == .merge ? .finish : .deleteMoved
        case .deleted: return .finish
        }
    }

    /// The executor did `action` (which must be `nextAction`).
    public mutating func completed(_ action: RunAction) {
        precondition(action == nextAction, "\(kind) run at \(step): \(action) done where \(String(describing: nextAction)) was due")
        switch action {
        case .select: step = .selected
        case .write: step = .written
        case .register: step = .registered
        case .deleteMoved: step = .deleted
        case .finish, .undo: isDone = true
        }
    }

    /// The actions of a run from a new start to its end, in order.
    public static func forwardActions(of kind: RunKind) -> [RunAction] {
        var saga = RunSaga(kind: kind), out = [RunAction]()
        while let a = saga.nextAction { out.append(a); saga.completed(a) }
        return out
    }
}

/// Performs the actions of one run for its saga. Each action records its step in the
/// catalog (in the transaction that does the work where there is one), so that a crash
/// between two actions leaves a step `RunSaga(resuming:)` knows what to do with.
protocol RunExecutor {
    /// Does `action`; returns false when the run gave up cleanly instead (a merge whose
    /// inputs changed meanwhile removed its files and was marked aborted).
    mutating func perform(_ action: RunAction) throws -> Bool
}

/// Called after each step a run reaches (tests crash there; so does `strata compact --crash-after`).
public typealias AfterStep = (RunKind, RunStep) throws -> Void

extension RunSaga {
    /// The run gave up cleanly in the middle (its executor undid what it had done).
    mutating func abandon() { isDone = true }

    /// Drives the run to its end with `executor`, calling `afterStep` after each step reached.
    mutating func drive<E: RunExecutor>(_ executor: inout E, afterStep: AfterStep?) throws {
        while let action = nextAction {
            guard try executor.perform(action) else { abandon(); return }
            completed(action)
            if !isDone { try afterStep?(kind, step) }
        }
    }
}
