package cli

import (
	"net/http"

	"github.com/spf13/cobra"
)

var recordingListParams = append([]param{
	{flag: "call-uuid", name: "call_uuid", usage: "recordings of this call"},
	{flag: "conference", name: "conference_name", usage: "recordings of this room"},
	{flag: "type", name: "recording_type", usage: "call or conference"},
}, pageParams...)

func recordingCommand(st *state) *cobra.Command {
	rec := &cobra.Command{Use: "recording", Short: "Recordings: list, show, delete"}
	list := &cobra.Command{
		Use: "list", Short: "List final recordings, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return st.request(cmd, http.MethodGet, "/Recording/", queryParams(cmd, recordingListParams), nil,
				renderList([]string{"RECORDING ID", "TYPE", "FORMAT", "DURATION MS", "ADDED", "CONFERENCE", "URL"},
					[]string{"recording_id", "recording_type", "recording_format", "recording_duration_ms", "add_time", "conference_name", "recording_url"}))
		},
	}
	addParams(list, recordingListParams)
	rec.AddCommand(list,
		&cobra.Command{
			Use: "get RECORDING_ID", Short: "Show a recording", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return st.request(cmd, http.MethodGet, resource("Recording", args[0]), nil, nil, renderFields)
			},
		},
		&cobra.Command{
			Use: "delete RECORDING_ID", Short: "Delete a recording and its file", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return st.request(cmd, http.MethodDelete, resource("Recording", args[0]), nil, nil, renderText("deleted recording "+args[0]))
			},
		})
	return rec
}
