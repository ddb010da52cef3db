package api

import (
	"strconv"
	"strings"
)

// MemberSelector is the parsed {member_id} path segment of §2.3.
type MemberSelector struct {
	// All addresses every member in the room when the command is applied.
	All bool
	// IDs are the addressed member ids, each once, in the order the request first names them.
	// Empty when All is set.
	IDs []int64
}

// parseMemberSelector parses a decoded {member_id} segment: "all" (lower case), or a comma
// list of positive decimal ids with spaces around items trimmed. ok is false for anything else
// (empty items, non-digits, leading zeros, zero, "all" in a list, "ALL").
func parseMemberSelector(seg string) (MemberSelector, bool) {
	if seg == "all" {
		return MemberSelector{All: true}, true
	}
	items := strings.Split(seg, ",")
	sel := MemberSelector{IDs: make([]int64, 0, len(items))}
	seen := make(map[int64]bool, len(items))
	for _, item := range items {
		item = strings.Trim(item, " \t")
		if item == "" || item[0] == '0' || strings.TrimLeft(item, "0123456789") != "" {
			return MemberSelector{}, false
		}
		id, err := strconv.ParseInt(item, 10, 64)
		if err != nil {
			return MemberSelector{}, false
		}
		if !seen[id] {
			seen[id] = true
			sel.IDs = append(sel.IDs, id)
		}
	}
	return sel, true
}

// memberEcho is the member_id value of a POST member action body (§1.5): the segment verbatim
// in the classic profile, the segment split at commas and trimmed in the current one.
func memberEcho(p Profile, seg string) any {
	if p != ProfileCurrent {
		return seg
	}
	items := strings.Split(seg, ",")
	for i := range items {
		items[i] = strings.Trim(items[i], " \t")
	}
	return items
}
