package cli

import (
	"net/http"

	"github.com/spf13/cobra"
)

var endpointParams = []param{
	{flag: "username", name: "username", usage: "SIP user name (required on create; fixed afterwards)"},
	{flag: "password", name: "password", usage: "SIP password, 8-128 characters (required on create)"},
	{flag: "alias", name: "alias", usage: "display name (default: the username)"},
	{flag: "app", name: "application", usage: "app_id of the application to attach (\"\" detaches)"},
}

var endpointListParams = append([]param{
	{flag: "username-contains", name: "username__contains", usage: "filter"},
	{flag: "alias-contains", name: "alias__contains", usage: "filter"},
	{flag: "app", name: "application_id__exact", usage: "only endpoints of this app_id"},
}, pageParams...)

func endpointCommand(st *state) *cobra.Command {
	ep := &cobra.Command{Use: "endpoint", Short: "SIP endpoints: list, show, create, update, delete"}
	list := &cobra.Command{
		Use: "list", Short: "List endpoints", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return st.request(cmd, http.MethodGet, "/Endpoint/", queryParams(cmd, endpointListParams), nil,
				renderList([]string{"ENDPOINT ID", "USERNAME", "ALIAS", "REGISTERED", "APPLICATION"},
					[]string{"endpoint_id", "username", "alias", "sip_registered", "application"}))
		},
	}
	addParams(list, endpointListParams)
	create := &cobra.Command{
		Use: "create --username USER --password PASS", Short: "Create an endpoint", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return st.request(cmd, http.MethodPost, "/Endpoint/", nil, bodyParams(cmd, endpointParams), renderFields)
		},
	}
	addParams(create, endpointParams)
	_ = create.MarkFlagRequired("username")
	_ = create.MarkFlagRequired("password")
	// The username cannot change: update takes the other fields.
	update := &cobra.Command{
		Use: "update ENDPOINT_ID [flags]", Short: "Change the alias, password or application of an endpoint", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return st.request(cmd, http.MethodPost, resource("Endpoint", args[0]), nil, bodyParams(cmd, endpointParams[1:]), renderText("changed endpoint "+args[0]))
		},
	}
	addParams(update, endpointParams[1:])
	ep.AddCommand(list,
		&cobra.Command{
			Use: "get ENDPOINT_ID", Short: "Show an endpoint", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return st.request(cmd, http.MethodGet, resource("Endpoint", args[0]), nil, nil, renderFields)
			},
		},
		create, update,
		&cobra.Command{
			Use: "delete ENDPOINT_ID", Short: "Delete an endpoint", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return st.request(cmd, http.MethodDelete, resource("Endpoint", args[0]), nil, nil, renderText("deleted endpoint "+args[0]))
			},
		})
	return ep
}
