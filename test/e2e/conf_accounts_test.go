package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// TestConfTwoAccounts: rooms are per account. Callers of accounts A (gateway 127.0.0.1) and B
// (gateway 127.0.0.2) enter rooms named "Same": each account sees only its own member, the two
// rooms do not hear each other, and B cannot see or address A's rooms and members.
func TestConfTwoAccounts(t *testing.T) {
	w := kit.NewApp(t)
	room := func(name string) string {
		return `<Response><Conference beep="false" stayAlone="true">` + name + `</Conference></Response>`
	}
	w.DocsByFrom("/answer", map[string]string{"": room("Same"), "14155550109": room("OnlyA")})
	w.XML("/answerB", room("Same"))
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{Env: twoAccounts(t, w)})

	a := &caller{name: "a", from: "+14155550101", tone: 400}
	a2 := &caller{name: "a2", from: "+14155550109"}
	b := &caller{name: "b", from: "+14155550201", tone: 700}
	a.join(t, p)
	a2.join(t, p)
	b.call = kit.NewPhone(t, "127.0.0.2").CallAnswered(t, p, "14155550199", siptest.DialOptions{From: b.from, Send: kit.ToneSource(b.tone)})

	idsA := membersAs(t, p, kit.AuthID, kit.AuthToken, "Same", 1)
	idsB := membersAs(t, p, authIDB, authTokenB, "Same", 1)
	if idsA[a.number()] == "" {
		t.Errorf("account A's room Same lists %v, want only %s", idsA, a.number())
	}
	if idsB[b.number()] == "" {
		t.Errorf("account B's room Same lists %v, want only %s", idsB, b.number())
	}
	a.id, b.id = idsA[a.number()], idsB[b.number()]

	if a.id == b.id {
		t.Errorf("both accounts' members have id %s", a.id)
	}

	// B's application answered B's call, for account B.
	ans := w.WaitFor(t, "/answerB", 1, 5*time.Second)[0]
	kit.AssertParams(t, "B's StartApp", ans.Form, map[string]string{"ParentAuthID": authIDB, "From": b.number()})

	// The two rooms named Same are separate: neither caller hears the other.
	la := hear(a, 700)[700]
	lb := kit.ToneLevels(b.call, measureWindow, 400)[400]
	if la > heardDBFS-dropDB || lb > heardDBFS-dropDB {
		t.Errorf("the accounts' rooms leak: a hears b at %.1f dBFS, b hears a at %.1f", la, lb)
	}

	// Lists, lookups and member commands stay inside the account.
	st, body := p.REST(t, "GET", kit.AccountPath("/Conference/"), nil)
	if st != 200 || fmt.Sprint(body["conferences"]) != "[Same OnlyA]" {
		t.Errorf("A's conferences: %d %v, want [Same OnlyA]", st, body)
	}
	st, body = p.RESTAs(t, authIDB, authTokenB, "GET", "/api/v1/Account/"+authIDB+"/Conference/", nil)
	if st != 200 || fmt.Sprint(body["conferences"]) != "[Same]" {
		t.Errorf("B's conferences: %d %v, want [Same]", st, body)
	}
	if st, body := confGet(t, p, kit.AuthID, kit.AuthToken, "OnlyA"); st != 200 {
		t.Errorf("A's GET OnlyA: %d %v", st, body)
	}
	st, body = confGet(t, p, authIDB, authTokenB, "OnlyA")
	assertError(t, "B's GET of A's room", st, body, 404, "conference not found")
	st, body = p.RESTAs(t, authIDB, authTokenB, "POST", "/api/v1/Account/"+authIDB+"/Conference/Same/Member/"+a.id+"/Kick/", nil)
	assertError(t, "B kicks A's member", st, body, 404, "member not found: "+a.id)
	st, body = p.RESTAs(t, authIDB, authTokenB, "GET", kit.AccountPath("/Conference/Same/"), nil)
	assertError(t, "B's credentials on A's path", st, body, 401, "auth_id does not match credentials")
	membersAs(t, p, kit.AuthID, kit.AuthToken, "Same", 1)
	stillUp(t, a)
}
