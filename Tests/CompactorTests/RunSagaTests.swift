import Testing
import Catalog
@testable import Compactor

/// The saga's table itself, without Redis or files: every kind forward, and recovery from
/// every step a crash can leave.
@Suite struct RunSagaTests {
    @Test func eachKindGoesThroughItsStepsInOrder() {
        #expect(RunSaga.forwardActions(of: .migrate) == [.select, .write, .register, .deleteMoved, .finish])
        #expect(RunSaga.forwardActions(of: .rollup) == [.select, .write, .register, .deleteMoved, .finish])
        #expect(RunSaga.forwardActions(of: .merge) == [.select, .write, .register, .finish])
        for kind in RunKind.allCases {
            var saga = RunSaga(kind: kind)
            var reached = [saga.step]
            while let a = saga.nextAction {
                saga.completed(a)
                if !saga.isDone { reached.append(saga.step) }
            }
            #expect(reached == RunSaga.steps(of: kind), "\(kind)")
        }
    }

    @Test(arguments: RunKind.allCases)
    func recoveryUndoesBeforeRegisteringAndFinishesAfter(_ kind: RunKind) throws {
        for step in RunSaga.steps(of: kind) {
            var saga = try RunSaga(resuming: Catalog.Run(id: 7, kind: kind.rawValue, state: "running", step: step.rawValue))
            var actions = [RunAction]()
            while let a = saga.nextAction { actions.append(a); saga.completed(a) }
            switch step {
            case .started, .selected, .written: #expect(actions == [.undo], "\(kind) at \(step)")
            case .registered: #expect(actions == (kind == .merge ? [.finish] : [.deleteMoved, .finish]), "\(kind) at \(step)")
            case .deleted: #expect(actions == [.finish], "\(kind) at \(step)")
            }
        }
    }

    @Test func unknownKindsAndStepsAreRefused() {
        for (kind, step) in [("vacuum", "started"), ("migrate", "halfway"), ("merge", "deleted")] {
            #expect(throws: CompactionError.self, "\(kind) at \(step)") {
                _ = try RunSaga(resuming: Catalog.Run(id: 1, kind: kind, state: "running", step: step))
            }
        }
    }
}
