package cli

import (
	"net/url"

	"github.com/spf13/cobra"
)

// paramKind is the JSON type a flag's value is sent as.
type paramKind int

const (
	kindString paramKind = iota
	kindInt
	kindBool
)

// param maps a command flag to an API parameter. Only flags given on the command line are
// sent, so the server's defaults apply to the rest and an update changes only what is named.
type param struct {
	flag  string
	name  string // API parameter
	kind  paramKind
	usage string
}

func addParams(cmd *cobra.Command, ps []param) {
	for _, p := range ps {
		switch p.kind {
		case kindInt:
			cmd.Flags().Int(p.flag, 0, p.usage)
		case kindBool:
			cmd.Flags().Bool(p.flag, false, p.usage)
		default:
			cmd.Flags().String(p.flag, "", p.usage)
		}
	}
}

// bodyParams collects the given flags as a JSON body object (empty when none is given).
func bodyParams(cmd *cobra.Command, ps []param) map[string]any {
	out := map[string]any{}
	for _, p := range ps {
		f := cmd.Flags().Lookup(p.flag)
		if f == nil || !f.Changed {
			continue
		}
		switch p.kind {
		case kindInt:
			v, _ := cmd.Flags().GetInt(p.flag)
			out[p.name] = v
		case kindBool:
			v, _ := cmd.Flags().GetBool(p.flag)
			out[p.name] = v
		default:
			out[p.name] = f.Value.String()
		}
	}
	return out
}

// queryParams collects the given flags as query parameters.
func queryParams(cmd *cobra.Command, ps []param) url.Values {
	q := url.Values{}
	for _, p := range ps {
		if f := cmd.Flags().Lookup(p.flag); f != nil && f.Changed {
			q.Set(p.name, f.Value.String())
		}
	}
	return q
}

var pageParams = []param{
	{flag: "limit", name: "limit", kind: kindInt, usage: "page size, 1-100 (server default 20)"},
	{flag: "offset", name: "offset", kind: kindInt, usage: "index of the first object"},
}

// resource is the account-relative path of a resource, each variable segment escaped (a '/'
// in a conference name becomes %2F), with the API's trailing slash.
func resource(parts ...string) string {
	s := ""
	for i, p := range parts {
		if i%2 == 1 { // Resource/{id}/Sub/{id}: odd positions are variable
			p = url.PathEscape(p)
		}
		s += "/" + p
	}
	return s + "/"
}
