package sentrypb

// ProtocolVersion is the version of the Session protocol this code speaks,
// sent in Hello and Welcome. It changes when a change of the protocol would
// make an old peer misbehave rather than fail cleanly.
const ProtocolVersion = 1
