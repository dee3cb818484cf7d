package sentrypb

// ProtocolVersion is the version of the Session protocol this code speaks,
// sent in Hello and Welcome. It changes when a change of the protocol would
// make an old peer misbehave rather than fail cleanly.
const ProtocolVersion = 1

// Feature bits of Hello.features and Welcome.features: what a peer
// understands beyond ProtocolVersion. Bits are numbered after the proto
// field range of the change that added them, so that changes made side
// by side do not pick the same bit.
const (
	// FeatureSandboxNetwork: the server understands Hello.network and
	// the Frames messages (--network=sandbox). A client bringing a
	// network to a server without it would lose its addresses for
	// nothing: the transport refuses such a server.
	FeatureSandboxNetwork uint64 = 1 << 27
	// FeatureChannels: the server grants call channels (ChannelOpen) on
	// the framed wire over a Unix socket.
	FeatureChannels uint64 = 1 << 33
	// FeaturePostBatch: the peer understands ClientMessage.posted_calls
	// (in Welcome) or ServerMessage.posted_replies (in Hello): posted
	// calls and their replies travel in batches.
	FeaturePostBatch uint64 = 1 << 41
	// FeatureChannelPosted: the client takes the replies of posted calls
	// inside a call channel's reply (Reply.posted_replies), so that a
	// posted call followed by a channel call costs the server no socket
	// write. Only with FeaturePostBatch.
	FeatureChannelPosted uint64 = 1 << 45
	// FeatureLeasedCopy: the server takes a sendfile's or
	// copy_file_range's bytes from Syscall.leased_data, so the client
	// may post one whose source its read lease holds.
	FeatureLeasedCopy uint64 = 1 << 48
	// FeaturePostedDone: the client takes the replies of posted calls
	// that carry a result alone packed in a batch
	// (ServerMessage.posted_done, Reply.posted_done). Only with
	// FeaturePostBatch.
	FeaturePostedDone uint64 = 1 << 53
	// FeatureChannelBatch: the server takes posted calls inside a call
	// channel's call (Call.posted_calls, ClientMessage.channel_batches),
	// so that a posted call followed by a channel call costs the client
	// no socket write. Only with FeatureChannelPosted.
	FeatureChannelBatch uint64 = 1 << 54
	// FeaturePostedWrites: the client takes the replies of posted writes
	// whose only effects are their retained write and their
	// description's offset packed in a batch (ServerMessage.
	// posted_writes, Reply.posted_writes), and folds the write's record
	// from them. Only with FeaturePostedDone.
	FeaturePostedWrites uint64 = 1 << 56
	// FeatureStateBefore: the client folds ServerMessage.state_before,
	// records sent in a frame before its message, so that a push (or
	// the posted replies held before it) needs no StateUpdate of its
	// own. Only with FeaturePostBatch.
	FeatureStateBefore uint64 = 1 << 50
	// FeatureFatalSignals: the client takes a signal whose default action
	// ends the process (SignalPush with a SIG_DFL sigaction) and keeps it
	// pending while every thread that may take it blocks it, else sends
	// it back as a Fault; SignalPush.process_directed lets it pick the
	// thread. Without it the server ends the process at once, blocked or
	// not (the masks live on the client).
	FeatureFatalSignals uint64 = 1 << 47
	// FeatureDurableHeld: the client keeps the writes a Durable push
	// names in Durable.held, dropping the others at or below its seq, so
	// the server may announce past a write whose Rewrite failed. Without
	// it the server's Durable stays below such a write, and the client
	// keeps every later write of the description until the next
	// recovery.
	FeatureDurableHeld uint64 = 1 << 58
	// FeatureAfterPosted: the server runs a posted call marked
	// Syscall.after_posted only after the posted calls before it, so a
	// process with several threads may post a close or write behind.
	FeatureAfterPosted uint64 = 1 << 60
	// FeatureAfterOthersPosted: a posted call marked
	// Syscall.after_posted waits only for the posted calls before it
	// of the other threads, not for its own thread's (which its worker
	// ran in order already, though a run of attribute calls holds
	// them unfinished until its next call), so a process with several
	// threads may post chown, chmod and utimensat too. Only with
	// FeatureAfterPosted.
	FeatureAfterOthersPosted uint64 = 1 << 61
	// FeatureTruncateBehind: the server takes a posted ftruncate
	// (sentry/client's truncations of an owned file) as a write behind:
	// its failure is kept on the description and its file for the next
	// fsync, fdatasync or close to report, and with
	// Syscall.owned_write it keeps the description's owned claim.
	FeatureTruncateBehind uint64 = 1 << 62
)

// ServerFeatures are the feature bits this server code sets in Welcome.
const ServerFeatures = FeatureSandboxNetwork | FeatureChannels | FeaturePostBatch | FeatureChannelPosted | FeatureLeasedCopy | FeatureChannelBatch | FeatureAfterPosted | FeatureAfterOthersPosted | FeatureTruncateBehind

// BytesList returns ss as the protocol's repeated bytes fields hold them
// (names, paths and arguments: any bytes, which a proto3 string could not
// carry unless UTF-8).
func BytesList(ss []string) [][]byte {
	if ss == nil {
		return nil
	}
	b := make([][]byte, len(ss))
	for i, s := range ss {
		b[i] = []byte(s)
	}
	return b
}

// StringList returns the strings of a repeated bytes field.
func StringList(bs [][]byte) []string {
	if bs == nil {
		return nil
	}
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = string(b)
	}
	return s
}
