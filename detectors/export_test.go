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

// Apply is store.Apply for a prepared batch, releasing the Result as
// Process does.
func (e *Engine) Apply(ctx context.Context, b *window.Batch) error {
	res, err := e.store.Apply(ctx, b)
	res.Release()
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

// TestSensitiveSuffixIndex: indexing suffixes by their last byte finds
// exactly what comparing every suffix finds, case folding included.
func TestSensitiveSuffixIndex(t *testing.T) {
	list := append(append([]string(nil), DefaultConfig().Scanning.Sensitive...), "*.ks", "*.tar.gz", "*.JSP")
	m := newSensitiveMatcher(list)
	brute := func(p string) bool {
		for _, s := range list {
			if strings.HasPrefix(s, "*") {
				if len(p) > len(s)-1 && strings.EqualFold(p[len(p)-(len(s)-1):], s[1:]) {
					return true
				}
			} else if len(s) >= 2 && len(p) >= len(s) && strings.EqualFold(p[:len(s)], s) {
				return true
			}
		}
		return false
	}
	for _, p := range []string{
		"/db/backup.sql", "/db/BACKUP.SQL", "/x.bak", "/x.ba\u212a", "/x.bA\u212a", "/x.old", "/a.swp", "/a~",
		"/index.jsp", "/a.k\u017f", "/a.tar.gz", "/a.TAR.GZ", "/api/v1/orders", "/.env", "/", "/q",
	} {
		if len(p) < 2 {
			continue
		}
		if got, want := m.match(p), brute(p); got != want {
			t.Errorf("sensitive(%q) = %v, comparing every pattern gives %v", p, got, want)
		}
	}
}
