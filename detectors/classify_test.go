package detectors

import "testing"

func TestLoginClassification(t *testing.T) {
	def := DefaultConfig().Login
	custom := def
	custom.ExtraFailureStatuses = []int{429}
	custom.Routes = append(custom.Routes, "/api/*/customers/*/session")
	custom.Rules = append([]LoginRule{{Route: "/legacy/login", FailureStatuses: []int{200}, SuccessStatuses: []int{302}}}, def.Rules...)
	custom.Routes = append(custom.Routes, "/legacy/login")
	tests := []struct {
		name   string
		cfg    LoginConfig
		method string
		path   string
		route  string
		status int
		want   loginResult
	}{
		{"POST /login 401", def, "POST", "/login", "", 401, loginFailure},
		{"POST /login 200", def, "POST", "/login", "", 200, loginSuccess},
		{"POST /login/ trailing slash 403", def, "POST", "/login/", "", 403, loginFailure},
		{"GET /login is the form, not a login", def, "GET", "/login", "", 401, notLogin},
		{"wildcard version segment", def, "POST", "/api/v2/auth/login", "", 401, loginFailure},
		{"wildcard matches one segment only", def, "POST", "/api/v1/x/auth/login", "", 401, notLogin},
		{"oauth token 200", def, "POST", "/oauth/token", "", 200, loginSuccess},
		{"wordpress 200 is a failure", def, "POST", "/wp-login.php", "", 200, loginFailure},
		{"wordpress 302 is a success", def, "POST", "/wp-login.php", "", 302, loginSuccess},
		{"429 is neither by default", def, "POST", "/login", "", 429, loginOther},
		{"429 is a failure when configured", custom, "POST", "/login", "", 429, loginFailure},
		{"500 is neither", def, "POST", "/login", "", 500, loginOther},
		{"custom route via template", custom, "POST", "/api/v1/customers/42/session", "/api/v1/customers/{id}/session", 401, loginFailure},
		{"custom 200-on-failure rule", custom, "POST", "/legacy/login", "", 200, loginFailure},
		{"custom rule success", custom, "POST", "/legacy/login", "", 302, loginSuccess},
		{"not a login path", def, "POST", "/api/v1/orders", "", 401, notLogin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lc := newLoginClassifier(tc.cfg)
			ev := Event{Method: tc.method, Path: tc.path, Route: tc.route, Status: tc.status}
			if got := lc.classify(&ev); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSensitiveAndTraversal(t *testing.T) {
	m := newSensitiveMatcher(DefaultConfig().Scanning.Sensitive)
	for p, want := range map[string]bool{
		"/.env": true, "/.env.local": true, "/.git/HEAD": true, "/wp-config.php": true, "/PHPMyAdmin/index.php": true,
		"/actuator/env": true, "/server-status": true, "/db/backup.sql": true, "/api/v1/orders": false, "/": false, "/environment": false,
	} {
		if got := m.match(p); got != want {
			t.Errorf("sensitive(%q) = %v, want %v", p, got, want)
		}
	}
	for p, want := range map[string]bool{
		"/../../etc/passwd": true, "/static/..%2f..%2fetc": true, "/a/%2E%2E/b": true, "/x/%252e%252e/": true,
		"/file..txt": false, "/v1.2/items": false, "/..": true,
	} {
		if got := isTraversal(p); got != want {
			t.Errorf("traversal(%q) = %v, want %v", p, got, want)
		}
	}
}
