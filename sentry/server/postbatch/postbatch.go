package postbatch

import "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"

// MaxHeld bounds the replies held at once: the next one goes out with
// them.
const MaxHeld = 64

// Replies are the replies to posted calls held back for the next message.
// The zero value is empty. Not safe for concurrent use: its owner's send
// lock protects it.
type Replies struct {
	held []*sentrypb.Reply
}

// Hold keeps r for the next message and reports true, unless MaxHeld are
// held already: then it reports false and the caller sends r now (with
// the held ones, Attach).
func (b *Replies) Hold(r *sentrypb.Reply) bool {
	if len(b.held) >= MaxHeld {
		return false
	}
	b.held = append(b.held, r)
	return true
}

// Last is the reply held last, nil if none.
func (b *Replies) Last() *sentrypb.Reply {
	if len(b.held) == 0 {
		return nil
	}
	return b.held[len(b.held)-1]
}

// Len is the number of replies held.
func (b *Replies) Len() int { return len(b.held) }

// Attach puts the held replies in front of m's content
// (ServerMessage.posted_replies) and forgets them; it returns m.
func (b *Replies) Attach(m *sentrypb.ServerMessage) *sentrypb.ServerMessage {
	if len(b.held) == 0 {
		return m
	}
	m.PostedReplies = append(b.held, m.PostedReplies...)
	b.held = nil
	return m
}

// Take returns the held replies as a message of their own, nil if none
// are held, and forgets them.
func (b *Replies) Take() *sentrypb.ServerMessage {
	if len(b.held) == 0 {
		return nil
	}
	return b.Attach(&sentrypb.ServerMessage{})
}

// TakeReplies returns the held replies, nil if none, and forgets them
// (a call channel's reply carries them: Reply.posted_replies).
func (b *Replies) TakeReplies() []*sentrypb.Reply {
	r := b.held
	b.held = nil
	return r
}

// Drop forgets the held replies: their stream is gone, and the client
// re-sends the calls on its next one.
func (b *Replies) Drop() { b.held = nil }
