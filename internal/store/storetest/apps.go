package storetest

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/store"
)

func testAccounts(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	if err := s.UpsertAccount(ctx, "MA_B", "tb"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertAccount(ctx, "MA_A", "ta"); err != nil {
		t.Fatal(err)
	}
	first, err := s.GetAccount(ctx, "MA_A")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertAccount(ctx, "MA_A", "ta2"); err != nil {
		t.Fatal(err)
	}
	a, err := s.GetAccount(ctx, "MA_A")
	if err != nil {
		t.Fatal(err)
	}
	if a.AuthToken != "ta2" || !a.CreatedAt.Equal(first.CreatedAt) || a.CreatedAt.Location() != time.UTC {
		t.Errorf("after token update: %+v (first %+v)", a, first)
	}
	list, err := s.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].AuthID != "MA_A" || list[1].AuthID != "MA_B" || list[1].AuthToken != "tb" {
		t.Errorf("ListAccounts = %+v", list)
	}
	_, err = s.GetAccount(ctx, "MA_NONE")
	wantErr(t, "GetAccount unknown", err, store.ErrNotFound)
	wantErr(t, "UpsertAccount empty", s.UpsertAccount(ctx, "", "x"), store.ErrInvalid)
}

func testApplicationCRUD(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	in := store.Application{AuthID: "MA_A", AppName: "Front desk", AnswerURL: "http://h/answer",
		Enabled: true, LogIncomingMessage: true}
	a, err := s.CreateApplication(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !store.ValidNumericID(a.AppID) {
		t.Errorf("app_id %q is not 15 digits", a.AppID)
	}
	if a.AnswerMethod != "POST" || a.HangupURL != "http://h/answer" || a.HangupMethod != "POST" ||
		a.FallbackMethod != "POST" || a.MessageMethod != "POST" || a.SIPTransferMethod != "POST" {
		t.Errorf("create defaults not applied: %+v", a)
	}
	if a.CreatedAt.IsZero() || a.CreatedAt.Location() != time.UTC || !a.UpdatedAt.Equal(a.CreatedAt) {
		t.Errorf("timestamps: %v %v", a.CreatedAt, a.UpdatedAt)
	}
	got, err := s.GetApplication(ctx, "MA_A", a.AppID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("Get = %+v\nwant  %+v", got, a)
	}
	if got, err := s.LookupApplication(ctx, a.AppID); err != nil || got.AppID != a.AppID {
		t.Errorf("LookupApplication = %+v, %v", got, err)
	}
	_, err = s.GetApplication(ctx, "MA_B", a.AppID)
	wantErr(t, "Get from another account", err, store.ErrNotFound)
	_, err = s.GetApplication(ctx, "MA_A", "100000000000000")
	wantErr(t, "Get unknown", err, store.ErrNotFound)
	_, err = s.CreateApplication(ctx, store.Application{AuthID: "MA_A", AnswerURL: "http://h"})
	wantErr(t, "Create without name", err, store.ErrInvalid)

	// Partial update: only the named fields change.
	upd, err := s.UpdateApplication(ctx, "MA_A", a.AppID, store.AppPatch{
		AppName: ptr("Renamed"), FallbackAnswerURL: ptr("http://h/fb"), MessageURL: ptr("http://h/msg"),
		PublicURI: ptr(true), Enabled: ptr(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := a
	want.AppName = "Renamed"
	want.FallbackAnswerURL = ptr("http://h/fb")
	want.MessageURL = ptr("http://h/msg")
	want.PublicURI = true
	want.Enabled = false
	want.UpdatedAt = upd.UpdatedAt
	got, _ = s.GetApplication(ctx, "MA_A", a.AppID)
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(upd, want) {
		t.Errorf("after update:\n got %+v\n ret %+v\nwant %+v", got, upd, want)
	}

	// Explicit null clears one nullable URL and leaves the other.
	if _, err := s.UpdateApplication(ctx, "MA_A", a.AppID, store.AppPatch{ClearFallbackURL: true}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetApplication(ctx, "MA_A", a.AppID)
	if got.FallbackAnswerURL != nil || got.MessageURL == nil || *got.MessageURL != "http://h/msg" {
		t.Errorf("after clearing fallback: fallback=%v message=%v", got.FallbackAnswerURL, got.MessageURL)
	}
	if _, err := s.UpdateApplication(ctx, "MA_A", a.AppID, store.AppPatch{ClearMessageURL: true}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetApplication(ctx, "MA_A", a.AppID)
	if got.MessageURL != nil || got.AppName != "Renamed" {
		t.Errorf("after clearing message_url: %+v", got)
	}
	_, err = s.UpdateApplication(ctx, "MA_A", a.AppID, store.AppPatch{MessageURL: ptr("x"), ClearMessageURL: true})
	wantErr(t, "set and clear", err, store.ErrInvalid)
	_, err = s.UpdateApplication(ctx, "MA_A", "100000000000000", store.AppPatch{AppName: ptr("x")})
	wantErr(t, "Update unknown", err, store.ErrNotFound)

	if err := s.DeleteApplication(ctx, "MA_A", a.AppID, store.DeleteAppOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetApplication(ctx, "MA_A", a.AppID)
	wantErr(t, "Get deleted", err, store.ErrNotFound)
	wantErr(t, "Delete again", s.DeleteApplication(ctx, "MA_A", a.AppID, store.DeleteAppOptions{}), store.ErrNotFound)
}

func testListApplications(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	var ids []string
	for i, name := range []string{"x", "y", "x", "z", "x"} {
		a, err := s.CreateApplication(ctx, store.NewApplication("MA_A", name, "http://h/"+string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.AppID)
	}
	if _, err := s.CreateApplication(ctx, store.NewApplication("MA_B", "x", "http://h/b")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		f         store.AppFilter
		wantIDs   []string
		wantTotal int
	}{
		{"all", store.AppFilter{}, ids, 5},
		{"page1", store.AppFilter{Limit: 2}, ids[:2], 5},
		{"page2", store.AppFilter{Limit: 2, Offset: 2}, ids[2:4], 5},
		{"page3", store.AppFilter{Limit: 2, Offset: 4}, ids[4:], 5},
		{"past end", store.AppFilter{Limit: 2, Offset: 10}, nil, 5},
		{"name", store.AppFilter{AppName: ptr("x")}, []string{ids[0], ids[2], ids[4]}, 3},
		{"name paged", store.AppFilter{AppName: ptr("x"), Limit: 1, Offset: 1}, []string{ids[2]}, 3},
		{"name none", store.AppFilter{AppName: ptr("nope")}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, total, err := s.ListApplications(ctx, "MA_A", tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range list {
				got = append(got, a.AppID)
			}
			if !reflect.DeepEqual(got, tt.wantIDs) || total != tt.wantTotal {
				t.Errorf("got %v total %d, want %v total %d", got, total, tt.wantIDs, tt.wantTotal)
			}
		})
	}
}

func testDefaultAppExclusivity(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	_, err := s.DefaultNumberApp(ctx, "MA_A")
	wantErr(t, "no default number app", err, store.ErrNotFound)
	_, err = s.DefaultEndpointApp(ctx, "MA_A")
	wantErr(t, "no default endpoint app", err, store.ErrNotFound)

	mk := func(auth string, num, ep bool) store.Application {
		a := store.NewApplication(auth, "app", "http://h/")
		a.DefaultNumberApp, a.DefaultEndpointApp = num, ep
		got, err := s.CreateApplication(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	other := mk("MA_B", true, true)
	a1 := mk("MA_A", true, true)
	a2 := mk("MA_A", true, false) // takes only the number default
	check := func(step, wantNum, wantEp string) {
		t.Helper()
		n, err := s.DefaultNumberApp(ctx, "MA_A")
		if wantNum == "" {
			wantErr(t, step+": DefaultNumberApp", err, store.ErrNotFound)
		} else if err != nil || n.AppID != wantNum {
			t.Errorf("%s: DefaultNumberApp = %s, %v; want %s", step, n.AppID, err, wantNum)
		}
		e, err := s.DefaultEndpointApp(ctx, "MA_A")
		if err != nil || e.AppID != wantEp {
			t.Errorf("%s: DefaultEndpointApp = %s, %v; want %s", step, e.AppID, err, wantEp)
		}
		list, _, _ := s.ListApplications(ctx, "MA_A", store.AppFilter{})
		nums, eps := 0, 0
		for _, a := range list {
			if a.DefaultNumberApp {
				nums++
			}
			if a.DefaultEndpointApp {
				eps++
			}
		}
		if nums > 1 || eps != 1 {
			t.Errorf("%s: %d number defaults, %d endpoint defaults", step, nums, eps)
		}
		// The other account keeps its own defaults.
		if o, err := s.DefaultNumberApp(ctx, "MA_B"); err != nil || o.AppID != other.AppID {
			t.Errorf("%s: other account default = %s, %v", step, o.AppID, err)
		}
	}
	check("create", a2.AppID, a1.AppID)
	if _, err := s.UpdateApplication(ctx, "MA_A", a1.AppID, store.AppPatch{DefaultNumberApp: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	check("update a1", a1.AppID, a1.AppID)
	if _, err := s.UpdateApplication(ctx, "MA_A", a2.AppID, store.AppPatch{DefaultEndpointApp: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	check("update a2 endpoint", a1.AppID, a2.AppID)
	if _, err := s.UpdateApplication(ctx, "MA_A", a1.AppID, store.AppPatch{DefaultNumberApp: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	check("unset", "", a2.AppID)
}

func testUpsertConfiguredApplication(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	cfg := store.NewApplication("", "Configured", "http://h/answer")
	a, err := s.UpsertConfiguredApplication(ctx, "MA_A", "main", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.ConfigKey != "main" || a.AuthID != "MA_A" || !store.ValidNumericID(a.AppID) {
		t.Fatalf("first upsert = %+v", a)
	}
	again, err := s.UpsertConfiguredApplication(ctx, "MA_A", "main", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, a) {
		t.Errorf("unchanged upsert changed the row:\n got %+v\nwant %+v", again, a)
	}
	cfg.AnswerURL = "http://h/v2"
	cfg.HangupURL = "http://h/v2/hangup"
	cfg.DefaultNumberApp = true
	changed, err := s.UpsertConfiguredApplication(ctx, "MA_A", "main", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if changed.AppID != a.AppID || changed.AnswerURL != "http://h/v2" || !changed.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("changed upsert = %+v", changed)
	}
	if got, err := s.GetApplicationByConfigKey(ctx, "MA_A", "main"); err != nil || !reflect.DeepEqual(got, changed) {
		t.Errorf("GetApplicationByConfigKey = %+v, %v", got, err)
	}
	if d, err := s.DefaultNumberApp(ctx, "MA_A"); err != nil || d.AppID != a.AppID {
		t.Errorf("DefaultNumberApp = %s, %v", d.AppID, err)
	}
	if _, total, _ := s.ListApplications(ctx, "MA_A", store.AppFilter{}); total != 1 {
		t.Errorf("%d applications after three upserts, want 1", total)
	}
	// The same key in another account is another application.
	b, err := s.UpsertConfiguredApplication(ctx, "MA_B", "main", cfg)
	if err != nil || b.AppID == a.AppID {
		t.Errorf("other account upsert = %+v, %v", b, err)
	}

	// A fixed app_id: honoured on create, moved (with its endpoints) on change.
	fixed := store.NewApplication("", "Fixed", "http://h/f")
	fixed.AppID = "123456789012345"
	f, err := s.UpsertConfiguredApplication(ctx, "MA_A", "fixed", fixed)
	if err != nil || f.AppID != fixed.AppID {
		t.Fatalf("fixed upsert = %+v, %v", f, err)
	}
	ep, err := s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_A", Username: "u1", Password: "password1", AppID: f.AppID})
	if err != nil {
		t.Fatal(err)
	}
	fixed.AppID = "223456789012345"
	if f, err = s.UpsertConfiguredApplication(ctx, "MA_A", "fixed", fixed); err != nil || f.AppID != fixed.AppID {
		t.Fatalf("moved upsert = %+v, %v", f, err)
	}
	if got, _ := s.GetEndpoint(ctx, "MA_A", ep.EndpointID); got.AppID != fixed.AppID {
		t.Errorf("endpoint app after id change = %s, want %s", got.AppID, fixed.AppID)
	}
	fixed.AppID = a.AppID
	_, err = s.UpsertConfiguredApplication(ctx, "MA_A", "fixed", fixed)
	wantErr(t, "taken app_id", err, store.ErrConflict)
	fixed.AppID = "12"
	_, err = s.UpsertConfiguredApplication(ctx, "MA_A", "fixed", fixed)
	wantErr(t, "malformed app_id", err, store.ErrInvalid)
	_, err = s.UpsertConfiguredApplication(ctx, "MA_A", "", cfg)
	wantErr(t, "empty key", err, store.ErrInvalid)
}

func testEndpointCRUD(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	def := store.NewApplication("MA_A", "def", "http://h/")
	def.DefaultEndpointApp = true
	defApp, _ := s.CreateApplication(ctx, def)
	otherApp, _ := s.CreateApplication(ctx, store.NewApplication("MA_A", "other", "http://h/o"))
	foreignApp, _ := s.CreateApplication(ctx, store.NewApplication("MA_B", "foreign", "http://h/f"))

	e, err := s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_A", Username: "frontdesk", Password: "secret123"})
	if err != nil {
		t.Fatal(err)
	}
	if !store.ValidNumericID(e.EndpointID) || e.Alias != "frontdesk" || e.AppID != defApp.AppID || e.Password != "secret123" {
		t.Errorf("created endpoint = %+v", e)
	}
	got, err := s.GetEndpoint(ctx, "MA_A", e.EndpointID)
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Errorf("GetEndpoint = %+v, %v; want %+v", got, err, e)
	}
	if got, err := s.GetEndpointByUsername(ctx, "frontdesk"); err != nil || got.EndpointID != e.EndpointID {
		t.Errorf("GetEndpointByUsername = %+v, %v", got, err)
	}
	_, err = s.GetEndpointByUsername(ctx, "FrontDesk")
	wantErr(t, "username lookup is case-sensitive", err, store.ErrNotFound)
	_, err = s.GetEndpoint(ctx, "MA_B", e.EndpointID)
	wantErr(t, "Get from another account", err, store.ErrNotFound)

	_, err = s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_B", Username: "frontdesk", Password: "x"})
	wantErr(t, "duplicate username across accounts", err, store.ErrConflict)
	_, err = s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_A", Username: "u2", Password: "x", AppID: foreignApp.AppID})
	wantErr(t, "app of another account", err, store.ErrBadReference)
	_, err = s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_A", Username: "u2", Password: "x", AppID: "999999999999999"})
	wantErr(t, "unknown app", err, store.ErrBadReference)
	_, err = s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_A", Username: "frontdesk", Password: "x", AppID: "999999999999999"})
	wantErr(t, "taken username and unknown app (the 400 before the 409)", err, store.ErrBadReference)
	_, err = s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_A", Password: "x"})
	wantErr(t, "no username", err, store.ErrInvalid)

	e2, err := s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_A", Username: "u2", Password: "x", Alias: "Two", AppID: otherApp.AppID})
	if err != nil || e2.AppID != otherApp.AppID || e2.Alias != "Two" {
		t.Fatalf("create with app = %+v, %v", e2, err)
	}

	upd, err := s.UpdateEndpoint(ctx, "MA_A", e.EndpointID, store.EndpointPatch{Alias: ptr("Desk"), Password: ptr("newpass12")})
	if err != nil || upd.Alias != "Desk" || upd.Password != "newpass12" || upd.AppID != defApp.AppID || upd.Username != "frontdesk" {
		t.Errorf("update alias/password = %+v, %v", upd, err)
	}
	if upd, err = s.UpdateEndpoint(ctx, "MA_A", e.EndpointID, store.EndpointPatch{AppID: ptr(otherApp.AppID)}); err != nil || upd.AppID != otherApp.AppID {
		t.Errorf("update app = %+v, %v", upd, err)
	}
	if upd, err = s.UpdateEndpoint(ctx, "MA_A", e.EndpointID, store.EndpointPatch{AppID: ptr("")}); err != nil || upd.AppID != "" {
		t.Errorf("detach = %+v, %v", upd, err)
	}
	got, _ = s.GetEndpoint(ctx, "MA_A", e.EndpointID)
	if !reflect.DeepEqual(got, upd) {
		t.Errorf("stored after update = %+v, want %+v", got, upd)
	}
	_, err = s.UpdateEndpoint(ctx, "MA_A", e.EndpointID, store.EndpointPatch{AppID: ptr(foreignApp.AppID)})
	wantErr(t, "update to foreign app", err, store.ErrBadReference)
	_, err = s.UpdateEndpoint(ctx, "MA_A", "100000000000000", store.EndpointPatch{Alias: ptr("x")})
	wantErr(t, "update unknown", err, store.ErrNotFound)

	if err := s.DeleteEndpoint(ctx, "MA_A", e.EndpointID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetEndpoint(ctx, "MA_A", e.EndpointID)
	wantErr(t, "get deleted", err, store.ErrNotFound)
	wantErr(t, "delete again", s.DeleteEndpoint(ctx, "MA_A", e.EndpointID), store.ErrNotFound)
	// The username is free again.
	if _, err := s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_B", Username: "frontdesk", Password: "x"}); err != nil {
		t.Errorf("reuse of a deleted username: %v", err)
	}
}

func testListEndpoints(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	app, _ := s.CreateApplication(ctx, store.NewApplication("MA_A", "a", "http://h/"))
	type ep struct{ user, alias, app string }
	var ids []string
	for _, e := range []ep{
		{"alice", "Alice Smith", app.AppID},
		{"Alicia", "alicia", ""},
		{"bob", "Bob", app.AppID},
		{"alfred", "Al", ""},
	} {
		got, err := s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_A", Username: e.user, Password: "pw", Alias: e.alias, AppID: e.app})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got.EndpointID)
	}
	if _, err := s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_B", Username: "alien", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		f         store.EndpointFilter
		want      []int
		wantTotal int
	}{
		{"all", store.EndpointFilter{}, []int{0, 1, 2, 3}, 4},
		{"paged", store.EndpointFilter{Limit: 2, Offset: 1}, []int{1, 2}, 4},
		{"username contains is case-sensitive", store.EndpointFilter{UsernameContains: ptr("li")}, []int{0, 1}, 2},
		{"username contains upper", store.EndpointFilter{UsernameContains: ptr("Ali")}, []int{1}, 1},
		{"username exact", store.EndpointFilter{UsernameExact: ptr("bob")}, []int{2}, 1},
		{"username exact case", store.EndpointFilter{UsernameExact: ptr("Bob")}, nil, 0},
		{"username startswith", store.EndpointFilter{UsernameStartsWith: ptr("al")}, []int{0, 3}, 2},
		{"alias contains", store.EndpointFilter{AliasContains: ptr("li")}, []int{0, 1}, 2},
		{"alias exact", store.EndpointFilter{AliasExact: ptr("Al")}, []int{3}, 1},
		{"app exact", store.EndpointFilter{AppIDExact: ptr(app.AppID)}, []int{0, 2}, 2},
		{"app isnull", store.EndpointFilter{AppIDIsNull: ptr(true)}, []int{1, 3}, 2},
		{"app not null", store.EndpointFilter{AppIDIsNull: ptr(false)}, []int{0, 2}, 2},
		{"combined", store.EndpointFilter{UsernameStartsWith: ptr("al"), AppIDIsNull: ptr(true)}, []int{3}, 1},
		{"combined paged", store.EndpointFilter{UsernameContains: ptr("l"), Limit: 1, Offset: 1}, []int{1}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, total, err := s.ListEndpoints(ctx, "MA_A", tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, e := range list {
				got = append(got, e.EndpointID)
			}
			for _, i := range tt.want {
				want = append(want, ids[i])
			}
			if !reflect.DeepEqual(got, want) || total != tt.wantTotal {
				t.Errorf("got %v total %d, want %v total %d", got, total, want, tt.wantTotal)
			}
		})
	}
}

func testDeleteApplicationEndpoints(t *testing.T, open Open) {
	ctx := context.Background()
	tests := []struct {
		name      string
		opt       func(other string) store.DeleteAppOptions
		wantErr   error
		wantLeft  int    // endpoints left in the account
		wantAppOf string // "none", "other" or "deleted" (when the delete failed)
	}{
		{"detach", func(string) store.DeleteAppOptions { return store.DeleteAppOptions{} }, nil, 2, "none"},
		{"cascade", func(string) store.DeleteAppOptions { return store.DeleteAppOptions{CascadeEndpoints: true} }, nil, 0, ""},
		{"move", func(o string) store.DeleteAppOptions { return store.DeleteAppOptions{NewEndpointAppID: o} }, nil, 2, "other"},
		{"move to unknown", func(string) store.DeleteAppOptions {
			return store.DeleteAppOptions{NewEndpointAppID: "999999999999999"}
		}, store.ErrBadReference, 2, "deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, dbName(t))
			app, _ := s.CreateApplication(ctx, store.NewApplication("MA_A", "a", "http://h/"))
			other, _ := s.CreateApplication(ctx, store.NewApplication("MA_A", "b", "http://h/b"))
			for _, u := range []string{"u1", "u2"} {
				if _, err := s.CreateEndpoint(ctx, store.Endpoint{AuthID: "MA_A", Username: u, Password: "pw", AppID: app.AppID}); err != nil {
					t.Fatal(err)
				}
			}
			err := s.DeleteApplication(ctx, "MA_A", app.AppID, tt.opt(other.AppID))
			if tt.wantErr != nil {
				wantErr(t, "delete", err, tt.wantErr)
				if _, err := s.GetApplication(ctx, "MA_A", app.AppID); err != nil {
					t.Errorf("failed delete removed the application: %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			list, _, _ := s.ListEndpoints(ctx, "MA_A", store.EndpointFilter{})
			if len(list) != tt.wantLeft {
				t.Fatalf("%d endpoints left, want %d", len(list), tt.wantLeft)
			}
			want := map[string]string{"none": "", "other": other.AppID, "deleted": app.AppID}[tt.wantAppOf]
			for _, e := range list {
				if e.AppID != want {
					t.Errorf("endpoint %s app = %q, want %q", e.Username, e.AppID, want)
				}
			}
		})
	}
}

func testCalls(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	start := time.Date(2026, 10, 28, 10, 30, 0, 123456789, time.UTC)
	c := store.CallRecord{
		CallUUID: "c1", AuthID: "MA_A", Direction: "inbound", From: "14155550100", To: "sip:bob@h",
		CallerName: "Alice", StartTime: start, Warnings: []string{"first"}, SIPCallID: "abc@h", SourceIP: "192.0.2.7",
		NodeID: "node-a", BootID: "boot-1", HangupURL: "http://app/hangup", HangupMethod: "GET",
		HangupParams: url.Values{"CallUUID": {"c1"}, "X-PH-Two": {"a&b", "c=d"}},
	}
	if err := s.InsertCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCall(ctx, "c1")
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("GetCall = %+v, %v\nwant %+v", got, err, c)
	}
	wantErr(t, "duplicate", s.InsertCall(ctx, c), store.ErrConflict)
	b := store.CallRecord{CallUUID: "c2", AuthID: "MA_A", ParentCallUUID: "c1", Direction: "outbound", StartTime: start}
	if err := s.InsertCall(ctx, b); err != nil {
		t.Fatal(err)
	}

	answer := start.Add(2 * time.Second)
	if err := s.UpdateCall(ctx, "c1", store.CallPatch{AnswerTime: &answer}); err != nil {
		t.Fatal(err)
	}
	end := answer.Add(10 * time.Second).In(time.FixedZone("X", 3600))
	if err := s.UpdateCall(ctx, "c1", store.CallPatch{EndTime: &end, HangupCauseCode: ptr(4000),
		HangupCause: ptr("NORMAL_CLEARING"), HangupCauseName: ptr("Normal Hangup"), HangupSource: ptr("Caller"),
		ConferenceUUID: ptr("room-1"), CallStatus: ptr("completed")}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"second", "third"} {
		if err := s.AddCallWarning(ctx, "c1", w); err != nil {
			t.Fatal(err)
		}
	}
	got, _ = s.GetCall(ctx, "c1")
	want := c
	want.AnswerTime = &answer
	endUTC := end.UTC()
	want.EndTime = &endUTC
	want.HangupCauseCode, want.HangupCause, want.HangupCauseName, want.HangupSource = 4000, "NORMAL_CLEARING", "Normal Hangup", "Caller"
	want.Warnings = []string{"first", "second", "third"}
	want.ConferenceUUID, want.CallStatus = "room-1", "completed"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after updates:\n got %+v\nwant %+v", got, want)
	}
	if got.EndTime.Location() != time.UTC {
		t.Errorf("EndTime location = %v, want UTC", got.EndTime.Location())
	}
	if got, _ := s.GetCall(ctx, "c2"); got.ParentCallUUID != "c1" || got.AnswerTime != nil || got.Warnings != nil {
		t.Errorf("B leg = %+v", got)
	}

	_, err = s.GetCall(ctx, "nope")
	wantErr(t, "get unknown", err, store.ErrNotFound)
	wantErr(t, "update unknown", s.UpdateCall(ctx, "nope", store.CallPatch{AnswerTime: &answer}), store.ErrNotFound)
	wantErr(t, "empty update unknown", s.UpdateCall(ctx, "nope", store.CallPatch{}), store.ErrNotFound)
	wantErr(t, "warning unknown", s.AddCallWarning(ctx, "nope", "x"), store.ErrNotFound)

	// Only ended calls before the cutoff go.
	n, err := s.PruneCalls(ctx, end.Add(time.Second))
	if err != nil || n != 1 {
		t.Errorf("PruneCalls = %d, %v; want 1", n, err)
	}
	_, err = s.GetCall(ctx, "c1")
	wantErr(t, "pruned", err, store.ErrNotFound)
	if _, err := s.GetCall(ctx, "c2"); err != nil {
		t.Errorf("unended call pruned: %v", err)
	}
}

func testRecordings(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	base := time.Date(2026, 11, 6, 13, 0, 0, 0, time.UTC)
	room := "Room1"
	recs := []store.Recording{
		{AuthID: "MA_A", CallUUID: "call-1", FromNumber: "111", ToNumber: "222", Format: "mp3", Type: "call", AddTime: base, NodeID: "node-a"},
		{AuthID: "MA_A", CallUUID: "conf-1", ConferenceName: &room, Format: "wav", Type: "conference", AddTime: base.Add(time.Hour), NodeID: "node.b"},
		{AuthID: "MA_A", CallUUID: "call-2", FromNumber: "111", ToNumber: "333", Format: "wav", Type: "call", AddTime: base.Add(2 * time.Hour)},
		// Same add_time as the previous one: the later insert counts as newer.
		{AuthID: "MA_A", CallUUID: "call-1", FromNumber: "111", ToNumber: "222", Format: "mp3", Type: "call", AddTime: base.Add(2 * time.Hour)},
	}
	var ids []string
	for i, r := range recs {
		r.StartMs, r.EndMs, r.DurationMs, r.FilePath = 1000, 11080, 10080, "/rec/"+string(rune('a'+i))
		got, err := s.InsertRecording(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.RecordingID) != 36 {
			t.Errorf("generated recording id %q", got.RecordingID)
		}
		stored, err := s.GetRecording(ctx, "MA_A", got.RecordingID)
		if err != nil || !reflect.DeepEqual(stored, got) {
			t.Errorf("GetRecording = %+v, %v\nwant %+v", stored, err, got)
		}
		ids = append(ids, got.RecordingID)
	}
	if _, err := s.InsertRecording(ctx, store.Recording{AuthID: "MA_B", CallUUID: "call-1", Format: "mp3", Type: "call"}); err != nil {
		t.Fatal(err)
	}
	tm := func(d time.Duration) *time.Time { v := base.Add(d); return &v }
	tests := []struct {
		name      string
		f         store.RecordingFilter
		want      []int
		wantTotal int
	}{
		{"all newest first", store.RecordingFilter{}, []int{3, 2, 1, 0}, 4},
		{"paged", store.RecordingFilter{Limit: 2, Offset: 1}, []int{2, 1}, 4},
		{"call_uuid", store.RecordingFilter{CallUUID: "call-1"}, []int{3, 0}, 2},
		{"conference_name", store.RecordingFilter{ConferenceName: "Room1"}, []int{1}, 1},
		{"conference_uuid", store.RecordingFilter{ConferenceUUID: "conf-1"}, []int{1}, 1},
		{"conference_uuid of a call", store.RecordingFilter{ConferenceUUID: "call-1"}, nil, 0},
		{"from", store.RecordingFilter{FromNumber: "111"}, []int{3, 2, 0}, 3},
		{"to", store.RecordingFilter{ToNumber: "333"}, []int{2}, 1},
		{"type", store.RecordingFilter{Type: "conference"}, []int{1}, 1},
		{"gt", store.RecordingFilter{AddTimeGT: tm(time.Hour)}, []int{3, 2}, 2},
		{"gte", store.RecordingFilter{AddTimeGTE: tm(time.Hour)}, []int{3, 2, 1}, 3},
		{"lt", store.RecordingFilter{AddTimeLT: tm(time.Hour)}, []int{0}, 1},
		{"lte", store.RecordingFilter{AddTimeLTE: tm(time.Hour)}, []int{1, 0}, 2},
		{"range and type", store.RecordingFilter{AddTimeGTE: tm(0), AddTimeLT: tm(3 * time.Hour), Type: "call", Limit: 1}, []int{3}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, total, err := s.ListRecordings(ctx, "MA_A", tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, r := range list {
				got = append(got, r.RecordingID)
			}
			for _, i := range tt.want {
				want = append(want, ids[i])
			}
			if !reflect.DeepEqual(got, want) || total != tt.wantTotal {
				t.Errorf("got %v total %d, want %v total %d", got, total, want, tt.wantTotal)
			}
		})
	}

	// The node that holds each file comes back with the row, in lists too.
	all, _, err := s.ListRecordings(ctx, "MA_A", store.RecordingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]string{}
	for _, r := range all {
		nodes[r.RecordingID] = r.NodeID
	}
	if want := map[string]string{ids[0]: "node-a", ids[1]: "node.b", ids[2]: "", ids[3]: ""}; !reflect.DeepEqual(nodes, want) {
		t.Errorf("listed nodes %v, want %v", nodes, want)
	}

	_, err = s.InsertRecording(ctx, store.Recording{AuthID: "MA_A", RecordingID: ids[0], Format: "mp3", Type: "call"})
	wantErr(t, "duplicate id", err, store.ErrConflict)
	_, err = s.InsertRecording(ctx, store.Recording{AuthID: "MA_A", Format: "ogg", Type: "call"})
	wantErr(t, "bad format", err, store.ErrInvalid)
	_, err = s.InsertRecording(ctx, store.Recording{AuthID: "MA_A", Format: "wav", Type: "room"})
	wantErr(t, "bad type", err, store.ErrInvalid)
	_, err = s.GetRecording(ctx, "MA_B", ids[0])
	wantErr(t, "other account", err, store.ErrNotFound)

	del, err := s.DeleteRecording(ctx, "MA_A", ids[1])
	if err != nil || del.RecordingID != ids[1] || del.FilePath != "/rec/b" {
		t.Errorf("DeleteRecording = %+v, %v", del, err)
	}
	_, err = s.GetRecording(ctx, "MA_A", ids[1])
	wantErr(t, "get deleted", err, store.ErrNotFound)
	_, err = s.DeleteRecording(ctx, "MA_A", ids[1])
	wantErr(t, "delete again", err, store.ErrNotFound)
	_, err = s.DeleteRecording(ctx, "MA_B", ids[0])
	wantErr(t, "delete from other account", err, store.ErrNotFound)
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error = %v, want %v", what, err, want)
	}
}
