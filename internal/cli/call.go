package cli

import (
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

var callListParams = []param{
	{flag: "direction", name: "call_direction", usage: "inbound or outbound"},
	{flag: "from", name: "from_number", usage: "caller number or SIP URI"},
	{flag: "to", name: "to_number", usage: "called number or SIP URI"},
}

var makeCallParams = []param{
	{flag: "from", name: "from", usage: "caller id: a number, SIP URI or SIP user (required)"},
	{flag: "to", name: "to", usage: "a SIP URI, or a number for the outbound gateway (required)"},
	{flag: "answer-url", name: "answer_url", usage: "URL of the answer document (required)"},
	{flag: "answer-method", name: "answer_method", usage: "GET or POST"},
	{flag: "ring-url", name: "ring_url", usage: "notified when the call rings"},
	{flag: "hangup-url", name: "hangup_url", usage: "notified when the call ends"},
	{flag: "fallback-url", name: "fallback_url", usage: "fetched when answer-url fails"},
	{flag: "caller-name", name: "caller_name", usage: "From display name"},
	{flag: "send-digits", name: "send_digits", usage: "DTMF digits to send on answer"},
	{flag: "time-limit", name: "time_limit", kind: kindInt, usage: "maximum answered seconds"},
	{flag: "ring-timeout", name: "ring_timeout", kind: kindInt, usage: "cancel when unanswered after this many seconds"},
	{flag: "sip-headers", name: "sip_headers", usage: "name=value,... sent as X-PH- headers"},
}

var transferParams = []param{
	{flag: "legs", name: "legs", usage: "aleg (server default), bleg or both"},
	{flag: "aleg-url", name: "aleg_url", usage: "new document of the A leg"},
	{flag: "aleg-method", name: "aleg_method", usage: "GET or POST"},
	{flag: "bleg-url", name: "bleg_url", usage: "new document of the B leg"},
	{flag: "bleg-method", name: "bleg_method", usage: "GET or POST"},
}

func callCommand(st *state) *cobra.Command {
	call := &cobra.Command{Use: "call", Short: "Live calls: list, inspect, make, hang up, transfer"}
	list := &cobra.Command{
		Use: "list", Short: "List live calls", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := queryParams(cmd, callListParams)
			q.Set("status", "live") // without status the server lists call detail records (calls-more.md §E.1)
			return st.request(cmd, http.MethodGet, "/Call/", q, nil, renderStrings("calls", "CALL UUID"))
		},
	}
	addParams(list, callListParams)
	mk := &cobra.Command{
		Use: "make --from FROM --to TO --answer-url URL", Short: "Make an outbound call", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return st.request(cmd, http.MethodPost, "/Call/", nil, bodyParams(cmd, makeCallParams), renderMessage("request_uuid"))
		},
	}
	addParams(mk, makeCallParams)
	for _, f := range []string{"from", "to", "answer-url"} {
		_ = mk.MarkFlagRequired(f)
	}
	transfer := &cobra.Command{
		Use: "transfer CALL_UUID --aleg-url URL", Short: "Send a live call to new documents", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return st.request(cmd, http.MethodPost, resource("Call", args[0]), nil, bodyParams(cmd, transferParams), renderMessage("call_uuid"))
		},
	}
	addParams(transfer, transferParams)
	call.AddCommand(list,
		&cobra.Command{
			Use: "get CALL_UUID", Short: "Show a live call", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return st.request(cmd, http.MethodGet, resource("Call", args[0]), url.Values{"status": {"live"}}, nil, renderFields) // without status: the call detail record
			},
		},
		mk,
		&cobra.Command{
			Use: "hangup CALL_UUID", Short: "Hang up a live call (or cancel a ringing one)", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return st.request(cmd, http.MethodDelete, resource("Call", args[0]), nil, nil, renderText("hung up "+args[0]))
			},
		},
		transfer,
	)
	return call
}
