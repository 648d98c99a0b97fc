/// Stops the fuzz target, saying why, when a property of the code under test does not hold:
/// libFuzzer keeps the input. (`precondition` says nothing in an optimised build.)
public func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
