package sysabi

import "strings"

// ParentPath returns path without its last component, when it has a
// directory part ("a/b/" → "a"; "/x" → "/"; "x" → none). The server
// keys the answer about a creation's directory by it, and the client
// looks the answer up by it, so both derive it here.
func ParentPath(path string) (string, bool) {
	p := strings.TrimRight(path, "/")
	i := strings.LastIndexByte(p, '/')
	switch {
	case p == "" || i < 0:
		return "", false
	case i == 0:
		return "/", true
	}
	return p[:i], true
}
