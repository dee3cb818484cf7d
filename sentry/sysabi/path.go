package sysabi

import "strings"

// ParentPath returns the path of the directory path's last component is
// in ("a/b/" → "a"; "/x" → "/"; "x" → "."; ".", ".." → none). The
// server keys the answer about a creation's directory by it, and the
// client looks the answer up by it, so both derive it here.
func ParentPath(path string) (string, bool) {
	p := strings.TrimRight(path, "/")
	i := strings.LastIndexByte(p, '/')
	switch {
	case p == "" || p == "." || p == "..":
		return "", false
	case i < 0:
		return ".", true
	case i == 0:
		return "/", true
	}
	return p[:i], true
}
