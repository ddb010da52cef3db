package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

func confCommand(st *state) *cobra.Command {
	conf := &cobra.Command{
		Use:   "conf",
		Short: "Conferences: list, inspect and control rooms and their members",
		Long: `Conferences: list, inspect and control rooms and their members.

MEMBER_IDS is one member id, a comma list ("10,15") or "all".`,
	}
	conf.AddCommand(
		&cobra.Command{
			Use: "list", Short: "List the rooms that have members", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return st.request(cmd, http.MethodGet, "/Conference/", nil, nil, renderStrings("conferences", "CONFERENCE"))
			},
		},
		&cobra.Command{
			Use: "get ROOM", Short: "Show a room and its members", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return st.request(cmd, http.MethodGet, resource("Conference", args[0]), nil, nil, renderConference)
			},
		},
		memberAction(st, "kick", "Remove members from the room (their calls go on)", "Kick"),
		memberAction(st, "mute", "Mute members", "Mute"),
		memberCommand(st, "unmute", "Unmute members", "Mute", "unmuted"),
		memberAction(st, "deaf", "Make members deaf", "Deaf"),
		memberCommand(st, "undeaf", "Let members hear again", "Deaf", "undeafened"),
		confHangup(st), confPlay(st), confSpeak(st), confRecord(st),
	)
	return conf
}

// memberAction is a POST member action without parameters.
func memberAction(st *state, name, short, action string) *cobra.Command {
	return &cobra.Command{
		Use: name + " ROOM MEMBER_IDS", Short: short, Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return st.request(cmd, http.MethodPost, resource("Conference", args[0], "Member", args[1], action), nil, map[string]any{}, renderMemberAction)
		},
	}
}

// memberCommand is a DELETE member command (204).
func memberCommand(st *state, name, short, action, done string) *cobra.Command {
	return &cobra.Command{
		Use: name + " ROOM MEMBER_IDS", Short: short, Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return st.request(cmd, http.MethodDelete, resource("Conference", args[0], "Member", args[1], action), nil, nil,
				renderText(done+": "+args[1]))
		},
	}
}

func confHangup(st *state) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "hangup (ROOM [MEMBER_IDS] | --all)",
		Short: "Hang up members, a whole room, or (--all) every room",
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) == 0:
				return st.request(cmd, http.MethodDelete, "/Conference/", nil, nil, renderText("hung up every conference"))
			case !all && len(args) == 1:
				return st.request(cmd, http.MethodDelete, resource("Conference", args[0]), nil, nil, renderText("hung up conference "+args[0]))
			case !all && len(args) == 2:
				return st.request(cmd, http.MethodDelete, resource("Conference", args[0], "Member", args[1]), nil, nil, renderText("hung up: "+args[1]))
			}
			return fmt.Errorf("conf hangup takes ROOM [MEMBER_IDS], or --all alone")
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "hang up every member of every room")
	return cmd
}

func confPlay(st *state) *cobra.Command {
	var stop bool
	cmd := &cobra.Command{
		Use:   "play ROOM MEMBER_IDS URL | play --stop ROOM MEMBER_IDS",
		Short: "Queue an audio file on members' private audio, or stop it",
		RunE: func(cmd *cobra.Command, args []string) error {
			path := func() string { return resource("Conference", args[0], "Member", args[1], "Play") }
			switch {
			case stop && len(args) == 2:
				return st.request(cmd, http.MethodDelete, path(), nil, nil, renderText("play stopped: "+args[1]))
			case !stop && len(args) == 3:
				return st.request(cmd, http.MethodPost, path(), nil, map[string]any{"url": args[2]}, renderMemberAction)
			}
			return fmt.Errorf("conf play takes ROOM MEMBER_IDS URL, or --stop ROOM MEMBER_IDS")
		},
	}
	cmd.Flags().BoolVar(&stop, "stop", false, "remove current and queued Play items")
	return cmd
}

var speakParams = []param{
	{flag: "voice", name: "voice", usage: "WOMAN or MAN"},
	{flag: "language", name: "language", usage: "e.g. en-GB"},
}

func confSpeak(st *state) *cobra.Command {
	var stop bool
	cmd := &cobra.Command{
		Use:   "speak ROOM MEMBER_IDS TEXT | speak --stop ROOM MEMBER_IDS",
		Short: "Speak text to members' private audio, or stop it",
		RunE: func(cmd *cobra.Command, args []string) error {
			path := func() string { return resource("Conference", args[0], "Member", args[1], "Speak") }
			switch {
			case stop && len(args) == 2:
				return st.request(cmd, http.MethodDelete, path(), nil, nil, renderText("speak stopped: "+args[1]))
			case !stop && len(args) == 3:
				p := bodyParams(cmd, speakParams)
				p["text"] = args[2]
				return st.request(cmd, http.MethodPost, path(), nil, p, renderMemberAction)
			}
			return fmt.Errorf("conf speak takes ROOM MEMBER_IDS TEXT, or --stop ROOM MEMBER_IDS")
		},
	}
	cmd.Flags().BoolVar(&stop, "stop", false, "remove current and queued Speak items")
	addParams(cmd, speakParams)
	return cmd
}

var recordParams = []param{
	{flag: "format", name: "file_format", usage: "mp3 (server default) or wav"},
	{flag: "callback-url", name: "callback_url", usage: "notified when the file is final"},
	{flag: "callback-method", name: "callback_method", usage: "GET or POST"},
	{flag: "time-limit", name: "time_limit", kind: kindInt, usage: "stop after this many seconds"},
}

func confRecord(st *state) *cobra.Command {
	var stop bool
	cmd := &cobra.Command{
		Use:   "record ROOM | record --stop ROOM",
		Short: "Start or stop recording a room",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := resource("Conference", args[0], "Record")
			if stop {
				return st.request(cmd, http.MethodDelete, path, nil, nil, renderText("recording stopped: "+args[0]))
			}
			return st.request(cmd, http.MethodPost, path, nil, bodyParams(cmd, recordParams), renderMessage("recording_id", "url"))
		},
	}
	cmd.Flags().BoolVar(&stop, "stop", false, "stop and finalise the room's recording")
	addParams(cmd, recordParams)
	return cmd
}

// renderMemberAction prints a member action's answer in either api_profile: member_id is the
// path segment (classic) or an array (current).
func renderMemberAction(w io.Writer, body []byte) error {
	var a struct {
		Message  string          `json:"message"`
		MemberID json.RawMessage `json:"member_id"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return err
	}
	var ids string
	var list []string
	if err := json.Unmarshal(a.MemberID, &ids); err != nil {
		if err := json.Unmarshal(a.MemberID, &list); err != nil {
			return fmt.Errorf("member_id: %w", err)
		}
		ids = strings.Join(list, ",")
	}
	_, err := fmt.Fprintf(w, "%s: %s\n", a.Message, ids)
	return err
}

// renderConference prints a room's summary and its members.
func renderConference(w io.Writer, body []byte) error {
	var c struct {
		Name    string `json:"conference_name"`
		RunTime string `json:"conference_run_time"`
		Count   string `json:"conference_member_count"`
		Members []struct {
			Muted     bool   `json:"muted"`
			MemberID  string `json:"member_id"`
			Deaf      bool   `json:"deaf"`
			From      string `json:"from"`
			To        string `json:"to"`
			Direction string `json:"direction"`
			CallUUID  string `json:"call_uuid"`
			JoinTime  string `json:"join_time"`
		} `json:"members"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return err
	}
	fmt.Fprintf(w, "conference %s: %s members, running %ss\n", c.Name, c.Count, c.RunTime)
	rows := make([][]string, len(c.Members))
	for i, m := range c.Members {
		rows[i] = []string{m.MemberID, cell(m.From), cell(m.To), m.Direction, yesNo(m.Muted), yesNo(m.Deaf), m.JoinTime + "s", m.CallUUID}
	}
	return table(w, []string{"MEMBER", "FROM", "TO", "DIRECTION", "MUTED", "DEAF", "JOINED", "CALL UUID"}, rows)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
