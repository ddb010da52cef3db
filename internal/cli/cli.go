// Package cli is the operator command line of Parley: `parley conf|call|app|endpoint|recording
// …` talk to a running server's REST API over HTTP and print tables for people or, with
// --json, the API's JSON bodies as received.
//
// It must NOT import Parley's domain packages, the API implementation or the server: it is an
// HTTP client of the documented API (docs/openapi.json) and nothing else, so it works against
// any Parley it can reach.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// DefaultURL is the server the commands talk to without --url or PARLEY_URL (the default
// http_addr of `parley serve`, on loopback).
const DefaultURL = "http://127.0.0.1:8080"

// IsCommand reports whether name is a top-level command of this package.
func IsCommand(name string) bool {
	switch name {
	case "conf", "call", "app", "endpoint", "recording":
		return true
	}
	return false
}

// Usage is the summary of the commands for `parley help`.
const Usage = `       parley conf|call|app|endpoint|recording ...   operate a running server (parley conf --help)`

// Exit codes of Run.
const (
	ExitOK     = 0
	ExitFailed = 1 // the request failed: the server's error, or no answer
	ExitUsage  = 2
)

// requestError marks a failure of the request itself, as opposed to a usage error.
type requestError struct{ err error }

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// Run executes one command; args start with the command name ("conf", "list", …). getenv
// supplies PARLEY_URL, PARLEY_AUTH_ID and PARLEY_AUTH_TOKEN. It returns the exit code.
func Run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	st := &state{out: stdout, getenv: getenv}
	root := newRoot(st)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "parley: %v\n", err)
	var re *requestError
	if errors.As(err, &re) {
		return ExitFailed
	}
	return ExitUsage
}

// state is what the commands of one Run share: the global flags and the output.
type state struct {
	out    io.Writer
	getenv func(string) string

	url, authID, authToken string
	json                   bool
	timeout                time.Duration
}

func newRoot(st *state) *cobra.Command {
	root := &cobra.Command{
		Use:           "parley",
		Short:         "Operate a running Parley server through its REST API",
		SilenceErrors: true,
		SilenceUsage:  true,
		Long: `Commands that talk to a running Parley's REST API.

The server is --url, else PARLEY_URL, else ` + DefaultURL + `. The credentials are
--auth-id/--auth-token, else PARLEY_AUTH_ID/PARLEY_AUTH_TOKEN. Output is a table, or with
--json the API's JSON body as received. A failed request prints the server's error and exits 1;
a usage error exits 2.`,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&st.url, "url", "", "server base URL (default $PARLEY_URL or "+DefaultURL+")")
	pf.StringVar(&st.authID, "auth-id", "", "account auth_id (default $PARLEY_AUTH_ID)")
	pf.StringVar(&st.authToken, "auth-token", "", "account auth_token (default $PARLEY_AUTH_TOKEN)")
	pf.BoolVar(&st.json, "json", false, "print the API's JSON body as received")
	pf.DurationVar(&st.timeout, "timeout", 30*time.Second, "time limit of the request")
	root.AddCommand(confCommand(st), callCommand(st), appCommand(st), endpointCommand(st), recordingCommand(st))
	return root
}

// client resolves the flags and the environment into a Client.
func (st *state) client() (*Client, error) {
	c := &Client{BaseURL: st.url, AuthID: st.authID, AuthToken: st.authToken,
		HTTP: &http.Client{Timeout: st.timeout}}
	if c.BaseURL == "" {
		c.BaseURL = st.getenv("PARLEY_URL")
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultURL
	}
	if c.AuthID == "" {
		c.AuthID = st.getenv("PARLEY_AUTH_ID")
	}
	if c.AuthToken == "" {
		c.AuthToken = st.getenv("PARLEY_AUTH_TOKEN")
	}
	if c.AuthID == "" || c.AuthToken == "" {
		return nil, errors.New("no credentials: set --auth-id and --auth-token, or PARLEY_AUTH_ID and PARLEY_AUTH_TOKEN")
	}
	return c, nil
}

// renderFunc prints a 2xx answer's body for people.
type renderFunc func(w io.Writer, body []byte) error

// request sends one request and prints the answer: the body as received with --json (nothing
// for an empty body), otherwise what render makes of it.
func (st *state) request(cmd *cobra.Command, method, path string, q map[string][]string, params map[string]any, render renderFunc) error {
	c, err := st.client()
	if err != nil {
		return err
	}
	body, err := c.Do(cmd.Context(), method, path, q, params)
	if err != nil {
		return &requestError{err: err}
	}
	if st.json {
		if len(body) == 0 {
			return nil
		}
		if _, err := st.out.Write(body); err != nil {
			return err
		}
		_, err = io.WriteString(st.out, "\n")
		return err
	}
	if err := render(st.out, body); err != nil {
		return &requestError{err: fmt.Errorf("unexpected answer: %w", err)}
	}
	return nil
}
