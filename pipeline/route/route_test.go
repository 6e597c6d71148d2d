package route

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gatewatch/gatewatch/detectors"
)

func mustNew(tb testing.TB, opts Options) *Normalizer {
	tb.Helper()
	n, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// ps builds params from name, value pairs.
func ps(kv ...string) []detectors.Param {
	var out []detectors.Param
	for i := 0; i < len(kv); i += 2 {
		out = append(out, detectors.Param{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func TestCleanPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"", "/"},
		{"/api/v1/orders", "/api/v1/orders"},
		{"/api//v1///orders", "/api/v1/orders"},
		{"/api/./v1/.", "/api/v1"},
		{"/api/v1/orders/", "/api/v1/orders"},
		{"/api/v1/../v2/orders", "/api/v2/orders"},
		{"/../../etc/passwd", "/etc/passwd"},
		{"/a/b/../../..", "/"},
		{"/static/%61pp.js", "/static/app.js"},                     // unreserved escapes decode
		{"/api/%2e%2e/admin", "/admin"},                            // encoded dot-segment resolves like nginx does
		{"/admin%2f..%2f..%2fsecret", "/admin%2F..%2F..%2Fsecret"}, // %2F never splits a segment
		{"/public/..%2fadmin", "/public/..%2Fadmin"},               // so it cannot climb out of /public
		{"/a%2F..", "/a%2F.."},
		{"/search/caf%c3%a9", "/search/caf%C3%A9"}, // other escapes kept, hex upper-cased
		{"/bad%zzescape%", "/bad%25zzescape%25"},
		{"/.env", "/.env"},
		{"/.well-known/acme-challenge/x", "/.well-known/acme-challenge/x"},
		{"/orders?id=1", "/orders"},
		{"http://www.example.com:80/", "/"},
		{"https://api.example.com/api/v1/pets?x", "/api/v1/pets"},
		{"*", "*"},
	}
	for _, tt := range tests {
		if got := cleanPath(tt.in); got != tt.want {
			t.Errorf("cleanPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		seg  string
		want kind
		ext  string
	}{
		{"123", kID, ""},
		{"0", kID, ""},
		{"123.png", kID, ".png"},
		{"v1", kLiteral, ""},
		{"orders", kLiteral, ""},
		{"app.js", kLiteral, ""},
		{"3bbc0252-2d5c-49fe-bd89-104e9b61770b", kUUID, ""},
		{"3BBC0252-2D5C-49FE-BD89-104E9B61770B", kUUID, ""},
		{"3bbc0252-2d5c-49fe-bd89-104e9b61770", kToken, ""}, // one short: still opaque
		{"2f6946328ffc4946b8c9120704a4a155", kHash, ""},     // Kong request id
		{"d41d8cd98f00b204e9800998ecf8427e.jpg", kHash, ".jpg"},
		{"deadbeefcafebabe", kLiteral, ""}, // 16 hex letters, no digit: a word is likelier
		{"2f6946328ffc494", kLiteral, ""},  // 15 hex chars: too short for a hash
		{"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", kToken, ""},
		{"FMuukC2JOJ5HKmLBujjE_BkDo", kToken, ""}, // ACME challenge token from crowdsec nginx_http-logs
		{"375WZmnR4hhhnlZKNn0D_LvkWhAqvWvBsUqySq8f_GOoAPP3k8R8fw==", kToken, ""},
		{"how-to-install-python-on-ubuntu", kLiteral, ""},
		{"how-to-install-python-3-on-ubuntu", kLiteral, ""},
		{"GetUserProfileHandler", kLiteral, ""},
		{"k3j4h5g6f7d8s9a0q1w2e3r4", kToken, ""}, // lower-case alnum session id
		{"2024-01-31", kDate, ""},
		{"2024-01-31.json", kDate, ".json"},
		{"2024-1-31", kLiteral, ""},
		{"alice@example.com", kEmail, ""},
		{"alice%40example.com", kEmail, ""},
		{"@scope", kLiteral, ""},
		{"wp-login.php", kLiteral, ""},
	}
	for _, tt := range tests {
		k, ext := classify(tt.seg)
		if k != tt.want || ext != tt.ext {
			t.Errorf("classify(%q) = %s %q, want %s %q", tt.seg, kindNames[k], ext, kindNames[tt.want], tt.ext)
		}
	}
}

func TestNormalizeLearned(t *testing.T) {
	n := mustNew(t, Options{})
	tests := []struct {
		path   string
		want   string
		params []detectors.Param
	}{
		{"/api/v1/orders/123", "/api/v1/orders/{id}", ps("id", "123")},
		{"/api/v1/orders/456/", "/api/v1/orders/{id}", ps("id", "456")},
		{"/api//v1/./orders/789", "/api/v1/orders/{id}", ps("id", "789")},
		{"/api/v1/users/3bbc0252-2d5c-49fe-bd89-104e9b61770b/orders/12", "/api/v1/users/{uuid}/orders/{id}",
			ps("uuid", "3bbc0252-2d5c-49fe-bd89-104e9b61770b", "id", "12")},
		{"/files/d41d8cd98f00b204e9800998ecf8427e.pdf", "/files/{hash}.pdf", ps("hash", "d41d8cd98f00b204e9800998ecf8427e")},
		{"/reset/eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "/reset/{token}", ps("token", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9")},
		{"/reports/2024-01-31", "/reports/{date}", ps("date", "2024-01-31")},
		{"/users/alice@example.com/profile", "/users/{email}/profile", ps("email", "alice@example.com")},
		{"/static/app.js", "/static/app.js", nil},
		{"/", "/", nil},
		{"/wp-login.php", "/wp-login.php", nil},
	}
	for _, tt := range tests {
		m := n.Normalize("GET", tt.path, nil)
		if m.Template != tt.want || fmt.Sprint(m.Params) != fmt.Sprint(tt.params) {
			t.Errorf("Normalize(%q) = %q %v, want %q %v", tt.path, m.Template, m.Params, tt.want, tt.params)
		}
		if m.InSpec || m.SpecKnown {
			t.Errorf("Normalize(%q): InSpec/SpecKnown set without a spec", tt.path)
		}
	}
}

// TestNormalizeCollapse: slugs and user names are literals one by one,
// but a position with more than MaxChildren of them becomes {var}, while
// a busy sibling route stays literal.
func TestNormalizeCollapse(t *testing.T) {
	n := mustNew(t, Options{MaxChildren: 5})
	for range 100 {
		n.Normalize("GET", "/users/settings", nil)
	}
	for i := range 4 { // with "settings", 5 literal children: at the bound
		if m := n.Normalize("GET", fmt.Sprintf("/users/user-%c/repos", 'a'+i), nil); m.Template != fmt.Sprintf("/users/user-%c/repos", 'a'+i) {
			t.Fatalf("below the bound: %q", m.Template)
		}
	}
	m := n.Normalize("GET", "/users/zed/repos", nil)
	if m.Template != "/users/{var}/repos" || len(m.Params) != 1 || m.Params[0] != (detectors.Param{Name: "var", Value: "zed"}) {
		t.Fatalf("past the bound: %q %v", m.Template, m.Params)
	}
	if m := n.Normalize("GET", "/users/user-a/repos", nil); m.Template != "/users/{var}/repos" {
		t.Fatalf("earlier literal after collapse: %q, want /users/{var}/repos", m.Template)
	}
	if m := n.Normalize("GET", "/users/settings", nil); m.Template != "/users/settings" {
		t.Fatalf("busy literal lost in the collapse: %q", m.Template)
	}
	if m := n.Normalize("GET", "/users/my-post.html", nil); m.Template != "/users/{var}.html" {
		t.Fatalf("extension after collapse: %q", m.Template)
	}
	if s := n.Stats(); s.Collapsed != 1 {
		t.Fatalf("Stats.Collapsed = %d, want 1", s.Collapsed)
	}
}

// TestNormalizeBoundedFlood: a scanner sending a million random paths
// must not grow the learned state past its bounds.
func TestNormalizeBoundedFlood(t *testing.T) {
	const maxTemplates = 1000
	n := mustNew(t, Options{MaxTemplates: maxTemplates})
	for range 200 {
		n.Normalize("GET", "/api/v1/orders/1", nil)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyz-_."
	word := func() string {
		b := make([]byte, 3+rng.IntN(10))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	flood := 1_000_000
	if testing.Short() || raceEnabled {
		flood = 100_000 // the race detector makes the full flood take most of a minute
	}
	for i := range flood {
		var sb strings.Builder
		for range 1 + rng.IntN(6) {
			sb.WriteByte('/')
			sb.WriteString(word())
		}
		n.Normalize("GET", sb.String(), nil)
		if i%100_000 == 0 {
			if s := n.Stats(); s.Templates > maxTemplates || s.Nodes > 4*maxTemplates+maxSegments {
				t.Fatalf("after %d paths: %+v exceeds the bounds", i, s)
			}
		}
	}
	s := n.Stats()
	if s.Templates > maxTemplates || s.Nodes > 4*maxTemplates+maxSegments {
		t.Fatalf("after the flood: %+v exceeds the bounds", s)
	}
	if s.Collapsed == 0 {
		t.Fatalf("no position collapsed under a random flood: %+v", s)
	}
	if m := n.Normalize("GET", "/api/v1/orders/2", nil); m.Template != "/api/v1/orders/{id}" {
		t.Fatalf("known route after the flood: %q", m.Template)
	}
	t.Logf("after %d random paths: %+v", flood, s)
}

func TestNormalizeOverflow(t *testing.T) {
	n := mustNew(t, Options{MaxTemplates: 3})
	for _, p := range []string{"/api/a", "/api/b", "/health"} {
		n.Normalize("GET", p, nil)
	}
	tests := []struct{ path, want string }{
		{"/api/c", "/api/{*}"},
		{"/other/x", "/{*}"},
		{"/api/a", "/api/a"}, // learned before the bound: still exact
		{"/api/" + strings.Repeat("a/", maxSegments), "/api/{*}"},
		{"/" + strings.Repeat("a/", maxSegments+1), "/{*}"},
	}
	for _, tt := range tests {
		if m := n.Normalize("GET", tt.path, nil); m.Template != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.path, m.Template, tt.want)
		}
	}
	if s := n.Stats(); s.Templates != 3 || s.Overflowed != 4 {
		t.Fatalf("Stats = %+v, want 3 templates and 4 overflowed", s)
	}
}

func TestNormalizeSpec(t *testing.T) {
	n := mustNew(t, Options{SpecFile: "testdata/petstore.yaml"})
	tests := []struct {
		method, path string
		want         Match
	}{
		{"GET", "/api/v1/pets", Match{Template: "/api/v1/pets", InSpec: true, OperationID: "listPets"}},
		{"POST", "/api/v1/pets/", Match{Template: "/api/v1/pets", InSpec: true, OperationID: "createPets"}},
		{"GET", "/api/v1/pets/42", Match{Template: "/api/v1/pets/{petId}", Params: ps("petId", "42"), InSpec: true, OperationID: "showPetById"}},
		{"HEAD", "/api/v1/pets/42", Match{Template: "/api/v1/pets/{petId}", Params: ps("petId", "42"), InSpec: true, OperationID: "showPetById"}},
		{"DELETE", "/api/v1/pets/42", Match{Template: "/api/v1/pets/{petId}", Params: ps("petId", "42"), InSpec: true, Deprecated: true, OperationID: "deletePet"}},
		{"PUT", "/api/v1/pets/42", Match{Template: "/api/v1/pets/{petId}", Params: ps("petId", "42")}}, // method not in spec
		{"GET", "/api/v1/users/me", Match{Template: "/api/v1/users/me", InSpec: true, OperationID: "getCurrentUser"}},
		{"GET", "/api/v1/users/17", Match{Template: "/api/v1/users/{userId}", Params: ps("userId", "17"), InSpec: true, OperationID: "getUser"}},
		{"DELETE", "/api/v1/users/me", Match{Template: "/api/v1/users/me"}}, // literal wins even without the method
		// The literal "me" branch dead-ends; backtracking finds the template.
		{"GET", "/api/v1/users/me/orders/A-1", Match{Template: "/api/v1/users/{userId}/orders/{orderId}", Params: ps("userId", "me", "orderId", "A-1"), InSpec: true, OperationID: "getUserOrder"}},
		{"GET", "/api/v1/reports/q3-2024.pdf", Match{Template: "/api/v1/reports/{reportId}.pdf", Params: ps("reportId", "q3-2024"), InSpec: true, OperationID: "getReportPdf"}},
		{"POST", "/api//v1/./login", Match{Template: "/api/v1/login", InSpec: true, OperationID: "login"}},
		// Not under the base path: learned, not in spec.
		{"GET", "/pets/42", Match{Template: "/pets/{id}", Params: ps("id", "42")}},
		{"GET", "/api/v1/unknown/42", Match{Template: "/api/v1/unknown/{id}", Params: ps("id", "42")}},
		{"GET", "/api/v1/reports/q3.csv", Match{Template: "/api/v1/reports/q3.csv"}},
		// Traversal cannot reach a spec path through an encoded slash.
		{"GET", "/api/v1/pets/..%2f..%2flogin", Match{Template: "/api/v1/pets/{petId}", Params: ps("petId", "..%2F..%2Flogin"), InSpec: true, OperationID: "showPetById"}},
	}
	for _, tt := range tests {
		tt.want.SpecKnown = true
		got := n.Normalize(tt.method, tt.path, nil)
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
			t.Errorf("Normalize(%s %s)\n got  %+v\n want %+v", tt.method, tt.path, got, tt.want)
		}
	}
	if s := n.Stats(); s.SpecTemplates != 7 {
		t.Errorf("SpecTemplates = %d, want 7 (7 paths, both servers share /api/v1)", s.SpecTemplates)
	}
}

func TestNewSpecErrors(t *testing.T) {
	tests := []struct{ file, want string }{
		{"testdata/missing.yaml", "no such file"},
		{"testdata/broken-ref.yaml", "components"},
		{"testdata/swagger2.json", "only OpenAPI 3.x"},
	}
	for _, tt := range tests {
		_, err := New(Options{SpecFile: tt.file})
		if err == nil || !strings.Contains(err.Error(), tt.file) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s) error %v, want one naming the file and %q", tt.file, err, tt.want)
		}
	}
}

// TestNormalizeParamsReuse: params are appended to the caller's slice.
func TestNormalizeParamsReuse(t *testing.T) {
	n := mustNew(t, Options{})
	buf := make([]detectors.Param, 0, 4)
	m := n.Normalize("GET", "/orders/1/items/2", buf)
	if len(m.Params) != 2 || &m.Params[0] != &buf[:1][0] {
		t.Fatalf("params %v not appended into the given slice", m.Params)
	}
}

// TestNormalizeConcurrent runs many workers over shared and distinct
// shapes; run with -race. Every worker must see the same template for the
// same path, whoever learned it.
func TestNormalizeConcurrent(t *testing.T) {
	n := mustNew(t, Options{SpecFile: "testdata/petstore.yaml", MaxChildren: 20, MaxTemplates: 500})
	paths := loadPaths(t)
	var wg sync.WaitGroup
	results := make([]map[string]string, 4)
	for w := range results {
		results[w] = map[string]string{}
		wg.Go(func() {
			var params []detectors.Param
			for i := range 3000 {
				p := paths[(i*(w+1))%len(paths)].path
				if i%3 == 0 {
					p = fmt.Sprintf("/api/v1/pets/%d", i)
				}
				if i%7 == 0 {
					p = fmt.Sprintf("/w%d/slug-%d", w, i)
				}
				m := n.Normalize("GET", p, params[:0])
				params = m.Params
				if i%3 == 0 && i%7 != 0 && (m.Template != "/api/v1/pets/{petId}" || !m.InSpec || len(m.Params) != 1 || m.Params[0].Value != p[len("/api/v1/pets/"):]) {
					t.Errorf("worker %d: %s -> %+v", w, p, m)
				}
				if i%7 != 0 {
					results[w][p] = m.Template
				}
			}
		})
	}
	wg.Wait()
	_ = n.Stats()
	for w := 1; w < len(results); w++ {
		for p, tmpl := range results[w] {
			if other, ok := results[0][p]; ok && other != tmpl && !strings.Contains(other+tmpl, "{") {
				t.Errorf("%s: worker 0 saw %q, worker %d saw %q", p, other, w, tmpl)
			}
		}
	}
}

type reqPath struct{ method, path string }

func loadPaths(tb testing.TB) []reqPath {
	tb.Helper()
	f, err := os.Open("testdata/paths.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []reqPath
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m, p, ok := strings.Cut(sc.Text(), " ")
		if ok {
			out = append(out, reqPath{m, p})
		}
	}
	if len(out) == 0 {
		tb.Fatal("no paths in testdata/paths.txt")
	}
	return out
}

// TestNormalizeNoAllocsWhenSeen pins the hot-path promise.
func TestNormalizeNoAllocsWhenSeen(t *testing.T) {
	n := mustNew(t, Options{SpecFile: "testdata/petstore.yaml"})
	params := make([]detectors.Param, 0, 8)
	for _, p := range []string{"/api/v1/pets/42", "/api/v1/orders/123/items/9", "/static/app.js", "/api/v1/users/me/orders/A-1"} {
		n.Normalize("GET", p, params[:0])
		if a := testing.AllocsPerRun(100, func() { n.Normalize("GET", p, params[:0]) }); a != 0 {
			t.Errorf("%s: %.1f allocations per Normalize, want 0", p, a)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	fixture := loadPaths(b)
	// A realistic mix: mostly API traffic with ids, some static assets,
	// and the scanner-heavy fixture paths.
	rng := rand.New(rand.NewPCG(3, 4))
	var mix []reqPath
	for i := range 4096 {
		switch i % 8 {
		case 0, 1:
			mix = append(mix, reqPath{"GET", fmt.Sprintf("/api/v1/pets/%d", rng.IntN(100000))})
		case 2:
			mix = append(mix, reqPath{"GET", fmt.Sprintf("/api/v1/users/%d/orders/%d", rng.IntN(1000), rng.IntN(1e6))})
		case 3:
			mix = append(mix, reqPath{"POST", "/api/v1/login"})
		case 4:
			mix = append(mix, reqPath{"GET", fmt.Sprintf("/api/v2/accounts/%08x-%04x-4%03x-a%03x-%012x/balance", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Int64N(1<<48))})
		case 5:
			mix = append(mix, reqPath{"GET", "/static/js/app.js"})
		default:
			mix = append(mix, fixture[rng.IntN(len(fixture))])
		}
	}
	for _, spec := range []string{"", "testdata/petstore.yaml"} {
		name := "learned"
		if spec != "" {
			name = "spec"
		}
		b.Run(name, func(b *testing.B) {
			n := mustNew(b, Options{SpecFile: spec})
			for _, r := range mix {
				n.Normalize(r.method, r.path, nil)
			}
			params := make([]detectors.Param, 0, 8)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := mix[i%len(mix)]
				i++
				params = n.Normalize(r.method, r.path, params[:0]).Params
			}
		})
	}
}

// FuzzNormalize checks the invariants that keep templates safe to use as
// metric labels and Redis keys: cleaning is idempotent, never leaves
// dot-segments or empty segments, and the template of a path equals the
// template of its cleaned form.
func FuzzNormalize(f *testing.F) {
	for _, r := range loadPaths(f) {
		f.Add(r.path)
	}
	for _, p := range []string{"/admin%2f..", "/a/./b/../../..", "//x//", "/%2e%2e/%2E", "http://h/p?q", "/users/alice%40example.com", "*"} {
		f.Add(p)
	}
	n := mustNew(f, Options{SpecFile: "testdata/petstore.yaml", MaxTemplates: 200, MaxChildren: 10})
	f.Fuzz(func(t *testing.T, path string) {
		c := cleanPath(path)
		if c2 := cleanPath(c); c2 != c {
			t.Fatalf("cleanPath not idempotent: %q -> %q -> %q", path, c, c2)
		}
		if c != "*" {
			if c[0] != '/' || (len(c) > 1 && c[len(c)-1] == '/') || strings.Contains(c, "//") {
				t.Fatalf("cleanPath(%q) = %q: not canonical", path, c)
			}
			for _, seg := range strings.Split(c[1:], "/") {
				if seg == "." || seg == ".." {
					t.Fatalf("cleanPath(%q) = %q keeps a dot-segment", path, c)
				}
			}
		}
		m1 := n.Normalize("GET", path, nil)
		m2 := n.Normalize("GET", c, nil)
		if m1.Template != m2.Template && !strings.Contains(m1.Template+m2.Template, "{*}") {
			t.Fatalf("template of %q is %q, of its cleaned form %q is %q", path, m1.Template, c, m2.Template)
		}
		if m1.Template == "" {
			t.Fatalf("empty template for %q", path)
		}
	})
}
