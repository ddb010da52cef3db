package cli

import (
	"net/http"

	"github.com/spf13/cobra"
)

var appParams = []param{
	{flag: "name", name: "app_name", usage: "application name (required on create)"},
	{flag: "answer-url", name: "answer_url", usage: "URL of the answer document (required on create)"},
	{flag: "answer-method", name: "answer_method", usage: "GET or POST"},
	{flag: "hangup-url", name: "hangup_url", usage: "notified when a call ends"},
	{flag: "hangup-method", name: "hangup_method", usage: "GET or POST"},
	{flag: "fallback-answer-url", name: "fallback_answer_url", usage: "fetched when answer-url fails (\"\" clears)"},
	{flag: "fallback-method", name: "fallback_method", usage: "GET or POST"},
	{flag: "default-number-app", name: "default_number_app", kind: kindBool, usage: "take inbound numbers without a route"},
	{flag: "default-endpoint-app", name: "default_endpoint_app", kind: kindBool, usage: "given to endpoints created without an application"},
	{flag: "public-uri", name: "public_uri", kind: kindBool, usage: "accept calls to the app's sip_uri from anyone"},
	{flag: "enabled", name: "enabled", kind: kindBool, usage: "take calls (--enabled=false refuses them)"},
}

var appListParams = append([]param{{flag: "name", name: "app_name", usage: "exact app_name"}}, pageParams...)

var appDeleteParams = []param{
	{flag: "cascade", name: "cascade", kind: kindBool, usage: "delete the app's endpoints too"},
	{flag: "new-endpoint-app", name: "new_endpoint_application", usage: "move the app's endpoints to this app_id"},
}

func appCommand(st *state) *cobra.Command {
	app := &cobra.Command{Use: "app", Short: "Applications: list, show, create, update, delete"}
	list := &cobra.Command{
		Use: "list", Short: "List applications", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return st.request(cmd, http.MethodGet, "/Application/", queryParams(cmd, appListParams), nil,
				renderList([]string{"APP ID", "NAME", "ANSWER URL", "ENABLED", "DEFAULT", "SIP URI"},
					[]string{"app_id", "app_name", "answer_url", "enabled", "default_app", "sip_uri"}))
		},
	}
	addParams(list, appListParams)
	create := &cobra.Command{
		Use: "create --name NAME --answer-url URL", Short: "Create an application", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return st.request(cmd, http.MethodPost, "/Application/", nil, bodyParams(cmd, appParams), renderMessage("app_id"))
		},
	}
	addParams(create, appParams)
	_ = create.MarkFlagRequired("name")
	_ = create.MarkFlagRequired("answer-url")
	update := &cobra.Command{
		Use: "update APP_ID [flags]", Short: "Change the given fields of an application", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return st.request(cmd, http.MethodPost, resource("Application", args[0]), nil, bodyParams(cmd, appParams), renderMessage())
		},
	}
	addParams(update, appParams)
	del := &cobra.Command{
		Use: "delete APP_ID", Short: "Delete an application", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return st.request(cmd, http.MethodDelete, resource("Application", args[0]), nil, bodyParams(cmd, appDeleteParams), renderText("deleted application "+args[0]))
		},
	}
	addParams(del, appDeleteParams)
	app.AddCommand(list,
		&cobra.Command{
			Use: "get APP_ID", Short: "Show an application", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return st.request(cmd, http.MethodGet, resource("Application", args[0]), nil, nil, renderFields)
			},
		},
		create, update, del)
	return app
}
