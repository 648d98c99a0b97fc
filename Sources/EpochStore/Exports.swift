// The vocabulary and the system-call funnel are EpochCore's; every user of the store speaks
// them, so importing EpochStore brings them along (as swift-nio's umbrella modules do).
@_exported import EpochCore
