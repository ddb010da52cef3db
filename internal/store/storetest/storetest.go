// Package storetest is the behaviour every store.Store implementation must have, as one
// test-suite that each implementation runs against itself (sqlite and postgres), so their
// semantics cannot drift apart.
//
// It must NOT know about any implementation: it sees only the store interfaces and an Open
// function.
package storetest

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/store"
)

// Open returns a store on the database named db, creating the database empty on first use.
// Two calls with the same name give two stores on one database, as two processes would have;
// each store is closed when t ends, and closing it earlier is allowed.
type Open func(t *testing.T, db string) store.Store

// Run runs the whole suite against the stores that open returns.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		test func(*testing.T, Open)
	}{
		{"Accounts", testAccounts},
		{"ApplicationCRUD", testApplicationCRUD},
		{"ListApplications", testListApplications},
		{"DefaultAppExclusivity", testDefaultAppExclusivity},
		{"UpsertConfiguredApplication", testUpsertConfiguredApplication},
		{"EndpointCRUD", testEndpointCRUD},
		{"ListEndpoints", testListEndpoints},
		{"DeleteApplicationEndpoints", testDeleteApplicationEndpoints},
		{"Calls", testCalls},
		{"ListCallsFilters", testListCallsFilters},
		{"Recordings", testRecordings},
		{"OutboxRoundTrip", testOutboxRoundTrip},
		{"OutboxOrderingAndStates", testOutboxOrderingAndStates},
		{"OutboxSurvivesRestart", testOutboxSurvivesRestart},
		{"OutboxBacklog", testOutboxBacklog},
		{"RecentOutbox", testRecentOutbox},
		{"OutboxClaims", testOutboxClaims},
		{"OutboxClaimsAcrossStores", testOutboxClaimsAcrossStores},
		{"ConcurrentWrites", testConcurrentWrites},
		{"LiveCallNode", testLiveCallNode},
		{"CloseNodeCalls", testCloseNodeCalls},
		{"CloseNodeCallsConcurrently", testCloseNodeCallsConcurrently},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, open) })
	}
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// dbName is a database name of the test, unique in the run, made of [a-z0-9_] only.
func dbName(t *testing.T) string {
	return "t_" + strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
}

func ptr[T any](v T) *T { return &v }

// at is a fixed point in time, so the tests do not depend on the clock.
func at(sec int) time.Time {
	return time.Date(2026, 1, 1, 0, 0, sec, 0, time.UTC)
}
