package detectors

import (
	"context"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/detectors/window"
)

// BuildBatch fills b with the window operations Process would apply for
// events, without evaluating anything: the store-only baseline of the
// engine benchmark.
func (e *Engine) BuildBatch(b *window.Batch, events []Event, info []RouteInfo) {
	b.Reset()
	for i := range events {
		var ri RouteInfo
		if info != nil {
			ri = info[i]
		}
		e.add(b, &events[i], ri)
	}
}

// Apply is store.Apply for a prepared batch.
func (e *Engine) Apply(ctx context.Context, b *window.Batch) error {
	_, err := e.store.Apply(ctx, b)
	return err
}

// TestLoginCandidateFilter: the last-segment pre-filter never changes a
// classification: every path, including trailing and doubled slashes and
// wildcard routes, classifies as it does with the filter off.
func TestLoginCandidateFilter(t *testing.T) {
	def := DefaultConfig().Login
	wildLast := def
	wildLast.Routes = append(append([]string(nil), def.Routes...), "/api/*/customers/*")
	long := def
	long.Routes = append(append([]string(nil), def.Routes...), "/auth/"+strings.Repeat("x", 70))
	paths := []string{
		"/login", "/login/", "/login//", "/LOGIN", "/api/v2/auth/login", "/api/v2/auth/login/",
		"/api/v2/auth/login//", "/api/v1/x/auth/login", "/wp-login.php", "/oauth/token", "/token",
		"/api/v1/orders", "/api/v1/orders/42", "/", "", "//", "login", "/api/v1/customers/7",
		"/auth/" + strings.Repeat("x", 70), "/users/sign_in", "/api/v3/users/login", "/api/sessions/",
	}
	for name, cfg := range map[string]LoginConfig{"default": def, "wildcard last segment": wildLast, "long segment": long} {
		on := newLoginClassifier(cfg)
		off := newLoginClassifier(cfg)
		off.all = true
		for _, p := range paths {
			for _, st := range []int{200, 302, 401, 500} {
				ev := Event{Method: "POST", Path: p, Status: st}
				if got, want := on.classify(&ev), off.classify(&ev); got != want {
					t.Errorf("%s: POST %q %d classified %d with the filter, %d without", name, p, st, got, want)
				}
			}
		}
		if name == "default" && on.all {
			t.Errorf("default routes leave the filter off")
		}
	}
}
