package webhook

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestMemoryOutbox(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ob := NewMemoryOutbox()
	add := []Notification{
		{ID: "c", CreatedAt: t0.Add(time.Second), NextAttempt: t0},
		{ID: "a", CreatedAt: t0, NextAttempt: t0},
		{ID: "b", CreatedAt: t0, NextAttempt: t0, Params: url.Values{"K": {"v"}}},
		{ID: "later", CreatedAt: t0, NextAttempt: t0.Add(time.Hour)},
	}
	for _, n := range add {
		if err := ob.Enqueue(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.Enqueue(ctx, Notification{ID: "a"}); err == nil {
		t.Error("duplicate ID accepted")
	}
	if err := ob.Enqueue(ctx, Notification{}); err == nil {
		t.Error("empty ID accepted")
	}

	ids := func(ns []Notification) (s []string) {
		for _, n := range ns {
			s = append(s, n.ID)
		}
		return s
	}
	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{"oldest first, then insertion order", t0, 0, []string{"a", "b", "c"}},
		{"limit", t0, 2, []string{"a", "b"}},
		{"not yet due", t0.Add(-time.Nanosecond), 0, nil},
		{"all due later", t0.Add(time.Hour), 10, []string{"a", "b", "later", "c"}},
	}
	for _, tt := range tests {
		got, err := ob.Due(ctx, tt.now, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if g := ids(got); len(g) != len(tt.want) || (len(g) > 0 && !slices.Equal(g, tt.want)) {
			t.Errorf("%s: Due = %v, want %v", tt.name, g, tt.want)
		}
	}

	// Returned values are copies.
	got, _ := ob.Due(ctx, t0, 0)
	got[1].Params.Set("K", "changed")
	if again, _ := ob.Due(ctx, t0, 0); again[1].Params.Get("K") != "v" {
		t.Error("Due returned shared Params")
	}

	if err := ob.Reschedule(ctx, "a", 3, t0.Add(time.Minute), "HTTP status 500"); err != nil {
		t.Fatal(err)
	}
	if err := ob.MarkDelivered(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := ob.Drop(ctx, "c", "test"); err != nil {
		t.Fatal(err)
	}
	p := ob.Pending()
	if g := ids(p); !slices.Equal(g, []string{"a", "later"}) {
		t.Fatalf("Pending = %v", g)
	}
	if p[0].Attempts != 3 || !p[0].NextAttempt.Equal(t0.Add(time.Minute)) || p[0].LastError != "HTTP status 500" {
		t.Errorf("rescheduled item = %+v", p[0])
	}
	for _, err := range []error{ob.MarkDelivered(ctx, "nope"), ob.Drop(ctx, "nope", ""), ob.Reschedule(ctx, "nope", 1, t0, "")} {
		if err != nil {
			t.Errorf("unknown id: %v", err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	for b.Loop() {
		if _, _, err := Sign("3dF8sKq29xLmPz0", "https://app.example.com/hooks/answer?step=2", NewNonce()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMemoryOutboxMatchesModel checks Due and Pending against a plain sorted list through
// random enqueues (some out of CreatedAt order), reschedules and removals, so the read-ahead
// index and its compaction never lose, repeat or misorder an item.
func TestMemoryOutboxMatchesModel(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, seed := range []uint64{1, 2, 3} {
		r := rand.New(rand.NewPCG(seed, seed))
		ob := NewMemoryOutbox()
		type entry struct {
			n   Notification
			seq int
		}
		var model []entry
		seq := 0
		for step := range 3000 {
			switch op := r.IntN(10); {
			case op < 5 || len(model) == 0:
				seq++
				created := t0.Add(time.Duration(seq) * time.Millisecond)
				if r.IntN(8) == 0 {
					created = t0.Add(time.Duration(r.IntN(seq+1)) * time.Millisecond) // late arrival
				}
				n := Notification{ID: fmt.Sprint("n", seq), CreatedAt: created, NextAttempt: created}
				if err := ob.Enqueue(ctx, n); err != nil {
					t.Fatal(err)
				}
				model = append(model, entry{n, seq})
			case op < 8:
				i := r.IntN(len(model))
				if err := ob.MarkDelivered(ctx, model[i].n.ID); err != nil {
					t.Fatal(err)
				}
				model = slices.Delete(model, i, i+1)
			default:
				i := r.IntN(len(model))
				next := t0.Add(time.Duration(r.IntN(seq+1000)) * time.Millisecond)
				if err := ob.Reschedule(ctx, model[i].n.ID, 1, next, "x"); err != nil {
					t.Fatal(err)
				}
				model[i].n.NextAttempt = next
			}
			if step%50 != 0 {
				continue
			}
			slices.SortStableFunc(model, func(a, b entry) int {
				if c := a.n.CreatedAt.Compare(b.n.CreatedAt); c != 0 {
					return c
				}
				return a.seq - b.seq
			})
			now := t0.Add(time.Duration(r.IntN(seq+1)) * time.Millisecond)
			limit := r.IntN(20)
			var want []string
			for _, e := range model {
				if !e.n.NextAttempt.After(now) && (limit == 0 || len(want) < limit) {
					want = append(want, e.n.ID)
				}
			}
			got, err := ob.Due(ctx, now, limit)
			if err != nil {
				t.Fatal(err)
			}
			var g []string
			for _, n := range got {
				g = append(g, n.ID)
			}
			if !slices.Equal(g, want) {
				t.Fatalf("seed %d step %d: Due(%v, %d) = %v, want %v", seed, step, now, limit, g, want)
			}
			if p := ob.Pending(); len(p) != len(model) {
				t.Fatalf("seed %d step %d: Pending has %d, want %d", seed, step, len(p), len(model))
			}
		}
	}
}
