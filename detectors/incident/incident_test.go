package incident

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

func stores(t *testing.T) map[string]func() detectors.IncidentStore {
	return map[string]func() detectors.IncidentStore{
		"memory": func() detectors.IncidentStore { return NewMemory() },
		"redis": func() detectors.IncidentStore {
			srv := testenv.Redis(t)
			c := srv.Client()
			t.Cleanup(func() { c.Close() })
			return NewRedis(c, RedisOptions{Prefix: "test"})
		},
	}
}

func TestLifecycle(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	key := detectors.IncidentKey{Detector: "login_burst", Entity: detectors.Entity{Type: "ip", Value: "203.0.113.7"}}
	other := detectors.IncidentKey{Detector: "scanning", Entity: key.Entity}
	hit := func(k detectors.IncidentKey, d time.Duration, sev detectors.Severity) detectors.IncidentHit {
		return detectors.IncidentHit{Key: k, At: t0.Add(d), Severity: sev, Cooldown: 15 * time.Minute, ReportEvery: 10 * time.Minute}
	}
	type want struct {
		state  detectors.IncidentState
		report bool
		hits   int64
		sev    detectors.Severity
	}
	steps := []struct {
		name string
		hit  detectors.IncidentHit
		want want
	}{
		{"first hit opens", hit(key, 0, detectors.SeverityMedium), want{detectors.IncidentOpened, true, 1, detectors.SeverityMedium}},
		{"same condition a minute later extends quietly", hit(key, time.Minute, detectors.SeverityMedium), want{detectors.IncidentExtended, false, 2, detectors.SeverityMedium}},
		{"other detector on same entity is its own incident", hit(other, time.Minute, detectors.SeverityLow), want{detectors.IncidentOpened, true, 1, detectors.SeverityLow}},
		{"severity rise is reported at once", hit(key, 2*time.Minute, detectors.SeverityHigh), want{detectors.IncidentExtended, true, 3, detectors.SeverityHigh}},
		{"lower severity keeps the incident's highest", hit(key, 3*time.Minute, detectors.SeverityLow), want{detectors.IncidentExtended, false, 4, detectors.SeverityHigh}},
		{"late hit still extends", hit(key, 90*time.Second, detectors.SeverityMedium), want{detectors.IncidentExtended, false, 5, detectors.SeverityHigh}},
		{"report interval elapsed: reported again", hit(key, 12*time.Minute, detectors.SeverityMedium), want{detectors.IncidentExtended, true, 6, detectors.SeverityHigh}},
		{"just inside cooldown still extends", hit(key, 27*time.Minute, detectors.SeverityMedium), want{detectors.IncidentExtended, true, 7, detectors.SeverityHigh}},
		{"after cooldown a new incident opens", hit(key, 42*time.Minute+time.Second, detectors.SeverityLow), want{detectors.IncidentOpened, true, 1, detectors.SeverityLow}},
	}
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := mk()
			ctx := context.Background()
			var firstID string
			for i, st := range steps {
				out, err := s.Hit(ctx, []detectors.IncidentHit{st.hit})
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				u := out[0]
				got := want{u.State, u.Report, u.Hits, u.Severity}
				if got != st.want {
					t.Fatalf("%s: got %+v, want %+v", st.name, got, st.want)
				}
				if i == 0 {
					firstID = u.ID
					if !u.FirstSeen.Equal(t0) {
						t.Fatalf("first_seen %v, want %v", u.FirstSeen, t0)
					}
				}
				if st.hit.Key == key && i > 0 && i < len(steps)-1 && u.ID != firstID {
					t.Fatalf("%s: id changed from %s to %s inside one incident", st.name, firstID, u.ID)
				}
				if i == len(steps)-1 && u.ID == firstID {
					t.Fatalf("reopened incident reused id %s", u.ID)
				}
			}
		})
	}
}

// TestRedisAcrossWorkers: many workers (own clients) hit the same condition
// at once; exactly one of them opens the incident.
func TestRedisAcrossWorkers(t *testing.T) {
	srv := testenv.Redis(t)
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	key := detectors.IncidentKey{Detector: "credential_stuffing", Entity: detectors.Entity{Type: "network", Value: "198.51.100.0/24"}}
	var opened, reported atomic.Int64
	ids := sync.Map{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := srv.Client()
			defer c.Close()
			s := NewRedis(c, RedisOptions{Prefix: "race"})
			for i := 0; i < 20; i++ {
				out, err := s.Hit(context.Background(), []detectors.IncidentHit{{
					Key: key, At: t0.Add(time.Duration(i) * time.Second), Severity: detectors.SeverityMedium,
					Cooldown: 15 * time.Minute, ReportEvery: time.Hour,
				}})
				if err != nil {
					t.Error(err)
					return
				}
				if out[0].State == detectors.IncidentOpened {
					opened.Add(1)
				}
				if out[0].Report {
					reported.Add(1)
				}
				ids.Store(out[0].ID, true)
			}
		}(w)
	}
	wg.Wait()
	n := 0
	ids.Range(func(any, any) bool { n++; return true })
	if opened.Load() != 1 || reported.Load() != 1 || n != 1 {
		t.Fatalf("opened %d, reported %d, distinct ids %d; want 1 each", opened.Load(), reported.Load(), n)
	}
	c := srv.Client()
	defer c.Close()
	ttl, err := c.PTTL(context.Background(), "race:inc:credential_stuffing:network:198.51.100.0/24").Result()
	if err != nil || ttl <= 15*time.Minute {
		t.Fatalf("incident key TTL %v (err %v), want > cooldown", ttl, err)
	}
}

func TestRedisErrorIsWrapped(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := srv.Client()
	defer c.Close()
	s := NewRedis(c, RedisOptions{})
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := s.Hit(ctx, []detectors.IncidentHit{{Key: detectors.IncidentKey{Detector: "x"}, At: time.Now(), Cooldown: time.Minute}})
	if err == nil {
		t.Fatal("Hit succeeded with Redis down")
	}
}

func TestMemoryPrunesClosedIncidents(t *testing.T) {
	s := NewMemory()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	hits := make([]detectors.IncidentHit, 0, 5000)
	for i := 0; i < 5000; i++ {
		hits = append(hits, detectors.IncidentHit{
			Key: detectors.IncidentKey{Detector: "scanning", Entity: detectors.Entity{Type: "ip", Value: string(rune('a'+i%26)) + string(rune(i))}},
			At:  t0.Add(time.Duration(i) * time.Minute), Cooldown: 5 * time.Minute,
		})
	}
	if _, err := s.Hit(context.Background(), hits); err != nil {
		t.Fatal(err)
	}
	if s.Len() > 100 {
		t.Fatalf("memory store keeps %d long-closed incidents", s.Len())
	}
}
