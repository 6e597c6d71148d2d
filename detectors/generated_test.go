package detectors_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/detectors/incident"
	"github.com/gatewatch/gatewatch/detectors/window"
	"github.com/gatewatch/gatewatch/internal/testenv"
	"github.com/gatewatch/gatewatch/pipeline/generate"
	"github.com/gatewatch/gatewatch/pipeline/route"
)

type generated struct {
	evs   []detectors.Event
	info  []detectors.RouteInfo
	truth *generate.Truth
}

// generateTraffic runs the documented scenario (generate.DefaultConfig: 1 h,
// every attack, every trap) through the real route normaliser with the
// generator's OpenAPI spec.
func generateTraffic(tb testing.TB) *generated {
	tb.Helper()
	spec := filepath.Join(tb.TempDir(), "openapi.yaml")
	if err := os.WriteFile(spec, generate.OpenAPISpec(), 0o600); err != nil {
		tb.Fatal(err)
	}
	norm, err := route.New(route.Options{SpecFile: spec})
	if err != nil {
		tb.Fatal(err)
	}
	g := &generated{}
	g.truth, err = generate.Generate(generate.DefaultConfig(), func(ev *detectors.Event) error {
		e := *ev
		m := norm.Normalize(e.Method, e.Path, nil)
		e.Route = m.Template
		e.Params = append([]detectors.Param(nil), m.Params...)
		g.evs = append(g.evs, e)
		g.info = append(g.info, detectors.RouteInfo{InSpec: m.InSpec, SpecKnown: m.SpecKnown, Deprecated: m.Deprecated})
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

func runEngine(tb testing.TB, g *generated, store window.Store, inc detectors.IncidentStore, batch int) []detectors.Detection {
	tb.Helper()
	eng, err := detectors.NewEngine(detectors.Config{}, store, inc, detectors.EngineOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	var out []detectors.Detection
	for i := 0; i < len(g.evs); i += batch {
		j := min(i+batch, len(g.evs))
		ds, err := eng.Process(ctx, g.evs[i:j], g.info[i:j], []detectors.StreamOffset{{Stream: "gen", Offset: int64(j - 1)}})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, ds...)
	}
	fl, err := eng.Flush(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return append(out, fl...)
}

func matches(d detectors.Detection, e generate.Entity) bool {
	return d.Entity.Type == e.Type && (d.Entity.Value == e.Value || (e.Type == detectors.EntityCampaign && e.Value == "*"))
}

func checkTruth(t *testing.T, g *generated, ds []detectors.Detection) {
	t.Helper()
	for _, a := range g.truth.Attacks {
		found := false
		for _, d := range ds {
			if d.Kind != a.Kind || d.FirstSeen.After(a.End) || d.Time.Before(a.Start) {
				continue
			}
			for _, e := range a.Entities {
				if matches(d, e) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("attack %s (%s) not detected: %s; entities %v", a.ID, a.Kind, a.Description, a.Entities[:min(3, len(a.Entities))])
		}
	}
	for _, tr := range g.truth.Traps {
		for _, d := range ds {
			for _, e := range tr.Entities {
				if matches(d, e) {
					t.Errorf("trap %s (%s) flagged by %s at %s: %s %v", tr.ID, tr.Name, d.Kind, d.Time.Format("15:04:05"), d.Summary, d.Metrics)
				}
			}
		}
	}
	counts := map[string]int{}
	for _, d := range ds {
		counts[d.Kind]++
	}
	t.Logf("%d events, %d detections by kind: %v", len(g.evs), len(ds), counts)
}

func TestGeneratedTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 1 h of traffic")
	}
	g := generateTraffic(t)
	if len(g.evs) < 250000 || g.truth.End.Sub(g.truth.Start) < time.Hour {
		t.Fatalf("scenario too small: %d events over %v", len(g.evs), g.truth.End.Sub(g.truth.Start))
	}
	schema := detectors.Schema(detectors.Config{})
	t.Run("memory", func(t *testing.T) {
		st, err := window.NewMemory(schema)
		if err != nil {
			t.Fatal(err)
		}
		checkTruth(t, g, runEngine(t, g, st, incident.NewMemory(), 2000))
	})
	t.Run("redis", func(t *testing.T) {
		srv := testenv.Redis(t)
		// No client retries: a retried MULTI whose reply was lost would
		// count a batch twice (window.NewRedis refuses such clients).
		c := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: srv.DB, MaxRetries: -1})
		defer c.Close()
		st, err := window.NewRedis(c, schema, window.RedisOptions{Prefix: "gwtest"})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		checkTruth(t, g, runEngine(t, g, st, incident.NewRedis(c, incident.RedisOptions{Prefix: "gwtest"}), 2000))
	})
}
