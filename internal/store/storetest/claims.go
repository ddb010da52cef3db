package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/parley-voice/parley/internal/store"
)

func claimIDs(t *testing.T, s store.Store, owner string, now, until int, limit int) []string {
	t.Helper()
	items, err := s.ClaimDue(context.Background(), owner, at(now), at(until), limit)
	if err != nil {
		t.Fatalf("ClaimDue(%s): %v", owner, err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

// testOutboxClaims: an item leased to one owner is not handed to another until its lease
// ends or the item is rescheduled; the owner itself gets it again (renewing the lease).
func testOutboxClaims(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, dbName(t))
	var want []store.OutboxItem
	for i, id := range []string{"a", "b", "c"} {
		it := store.OutboxItem{ID: id, AuthID: "MA_A", URL: "http://h/" + id, Method: "POST",
			OrderKey: "k", CreatedAt: at(i + 1), NextAttempt: at(i + 1), Params: map[string][]string{"n": {id}}}
		if id == "c" {
			it.NextAttempt = at(100)
		}
		if err := s.Enqueue(ctx, it); err != nil {
			t.Fatal(err)
		}
		want = append(want, it)
	}
	items, err := s.ClaimDue(ctx, "A", at(10), at(20), 10)
	if err != nil || !reflect.DeepEqual(items, want[:2]) {
		t.Fatalf("first claim = %+v, %v\nwant %+v", items, err, want[:2])
	}
	steps := []struct {
		name              string
		do                func() error
		owner             string
		now, until, limit int
		want              []string
	}{
		{"held by A", nil, "B", 10, 20, 10, nil},
		{"A again renews, oldest first", nil, "A", 15, 30, 1, []string{"a"}},
		{"b's lease ended", nil, "B", 25, 40, 10, []string{"b"}},
		{"a's lease ends at its end time", nil, "B", 30, 40, 10, []string{"a", "b"}},
		{"A cannot take them back", nil, "A", 35, 50, 10, nil},
		{"reschedule ends the lease", func() error { return s.Reschedule(ctx, "b", 1, at(36), "503") },
			"C", 36, 60, 10, []string{"b"}},
		{"delivered is never claimed", func() error { return s.MarkDelivered(ctx, "a") },
			"D", 1000, 2000, 10, []string{"b", "c"}},
		{"dropped is never claimed", func() error { return s.Drop(ctx, "c", "gone") },
			"E", 3000, 4000, 10, []string{"b"}},
		{"zero limit", nil, "F", 5000, 6000, 0, nil},
	}
	for _, st := range steps {
		if st.do != nil {
			if err := st.do(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		if got := claimIDs(t, s, st.owner, st.now, st.until, st.limit); !reflect.DeepEqual(got, st.want) {
			t.Errorf("%s: ClaimDue(%s) = %v, want %v", st.name, st.owner, got, st.want)
		}
	}
	// Due reads past leases (a single dispatcher needs no claims).
	if got := dueIDs(t, s, at(5000), 10); !reflect.DeepEqual(got, []string{"b"}) {
		t.Errorf("Due = %v, want [b]", got)
	}
	if _, err := s.ClaimDue(ctx, "", at(0), at(1), 1); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ClaimDue without owner: %v, want ErrInvalid", err)
	}
}

// testOutboxClaimsAcrossStores: claimers on two stores of one database (two processes) take
// every item exactly once while leases run, and an item whose claimer died is claimed again,
// with the same ID, when its lease ends.
func testOutboxClaimsAcrossStores(t *testing.T, open Open) {
	ctx := context.Background()
	stores := []store.Store{open(t, dbName(t)), open(t, dbName(t))}
	const items = 120
	for i := range items {
		if err := stores[i%2].Enqueue(ctx, store.OutboxItem{ID: fmt.Sprintf("n%03d", i), URL: "http://h/",
			CreatedAt: at(1), NextAttempt: at(1)}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claimedBy := make(map[string]string)
	var dup []string
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		owner := fmt.Sprintf("node%d", w)
		s := stores[w%2]
		wg.Go(func() {
			for {
				got, err := s.ClaimDue(ctx, owner, at(10), at(1000), 5)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				for _, it := range got {
					mu.Lock()
					if prev, ok := claimedBy[it.ID]; ok {
						dup = append(dup, fmt.Sprintf("%s by %s and %s", it.ID, prev, owner))
					}
					claimedBy[it.ID] = owner
					mu.Unlock()
					if err := s.MarkDelivered(ctx, it.ID); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(dup) > 0 || len(claimedBy) != items {
		t.Fatalf("%d of %d items claimed; claimed twice: %v", len(claimedBy), items, dup)
	}

	// A claimer that dies holding items: nobody else gets them before the lease ends, then
	// exactly one other claimer does.
	var ids []string
	for i := range 10 {
		id := fmt.Sprintf("late%d", i)
		ids = append(ids, id)
		if err := stores[0].Enqueue(ctx, store.OutboxItem{ID: id, URL: "http://h/", CreatedAt: at(20 + i), NextAttempt: at(20)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := claimIDs(t, stores[0], "dead", 30, 60, 100); !reflect.DeepEqual(got, ids) {
		t.Fatalf("dead claimer got %v, want %v", got, ids)
	}
	if got := claimIDs(t, stores[1], "alive", 59, 90, 100); got != nil {
		t.Errorf("claimed during the dead claimer's lease: %v", got)
	}
	var mine [2][]string
	var wg2 sync.WaitGroup
	for i := range 2 {
		wg2.Go(func() { mine[i] = claimIDs(t, stores[i], fmt.Sprintf("survivor%d", i), 60, 90, 100) })
	}
	wg2.Wait()
	all := append(slices.Clone(mine[0]), mine[1]...)
	slices.Sort(all)
	if !reflect.DeepEqual(all, ids) {
		t.Errorf("after the lease: survivors got %v and %v, want each of %v once", mine[0], mine[1], ids)
	}
}
