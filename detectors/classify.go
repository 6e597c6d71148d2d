package detectors

import (
	"net/netip"
	"slices"
	"strings"
)

// loginResult is what the classifier says about one request.
type loginResult uint8

const (
	notLogin loginResult = iota
	loginFailure
	loginSuccess
	loginOther // a login request whose status means neither (400, 5xx, ...)
)

// pathPattern is a path template where "*" matches exactly one segment.
type pathPattern struct {
	segs []string
}

func compilePattern(p string) pathPattern {
	p = strings.TrimSuffix(p, "/")
	return pathPattern{segs: strings.Split(strings.TrimPrefix(p, "/"), "/")}
}

func (p pathPattern) match(path string) bool {
	path = strings.TrimPrefix(path, "/")
	for i, s := range p.segs {
		seg, rest, found := strings.Cut(path, "/")
		if s != "*" && s != seg {
			return false
		}
		if i == len(p.segs)-1 {
			return !found || rest == ""
		}
		if !found {
			return false
		}
		path = rest
	}
	return false
}

type loginRule struct {
	pat     pathPattern
	exact   string
	fail    []int
	success []int
}

// loginClassifier decides once per event whether it is a login and how it ended.
type loginClassifier struct {
	methods  []string
	exact    map[string]struct{}
	wild     []pathPattern
	failures []int
	rules    []loginRule
	// lastSeg[c] has bit n set when some login route's last segment starts
	// with byte c (0: empty) and is n bytes long: a path whose last segment
	// is not in it cannot be a login path, so most requests skip the route
	// map and the wildcard patterns. all: a route ends in "*" or a segment
	// too long for the mask, and every path is a candidate.
	lastSeg [256]uint64
	all     bool
}

// lastSegment is the last segment of p, ignoring one trailing slash: the
// segment that a route equal to p, or a pattern matching p, ends with.
func lastSegment(p string) string {
	if len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p[strings.LastIndexByte(p, '/')+1:]
}

func (lc *loginClassifier) addLastSeg(seg string) {
	if seg == "*" || len(seg) >= 64 {
		lc.all = true
		return
	}
	var c byte
	if seg != "" {
		c = seg[0]
	}
	lc.lastSeg[c] |= 1 << len(seg)
}

// candidate reports whether p's last segment is that of some login route.
func (lc *loginClassifier) candidate(p string) bool {
	if lc.all {
		return true
	}
	seg := lastSegment(p)
	if len(seg) >= 64 {
		return false
	}
	var c byte
	if seg != "" {
		c = seg[0]
	}
	return lc.lastSeg[c]&(1<<len(seg)) != 0
}

func newLoginClassifier(c LoginConfig) *loginClassifier {
	lc := &loginClassifier{methods: c.Methods, exact: make(map[string]struct{})}
	for _, r := range c.Routes {
		r = strings.TrimSuffix(r, "/")
		if strings.Contains(r, "*") {
			pat := compilePattern(r)
			lc.wild = append(lc.wild, pat)
			lc.addLastSeg(pat.segs[len(pat.segs)-1])
		} else {
			lc.exact[r] = struct{}{}
			lc.addLastSeg(lastSegment(r))
		}
	}
	lc.failures = append(append([]int(nil), c.FailureStatuses...), c.ExtraFailureStatuses...)
	for _, r := range c.Rules {
		lr := loginRule{fail: r.FailureStatuses, success: r.SuccessStatuses}
		if strings.Contains(r.Route, "*") {
			lr.pat = compilePattern(r.Route)
		} else {
			lr.exact = strings.TrimSuffix(r.Route, "/")
		}
		lc.rules = append(lc.rules, lr)
	}
	return lc
}

func trimSlash(p string) string {
	if len(p) > 1 && p[len(p)-1] == '/' {
		return p[:len(p)-1]
	}
	return p
}

func (lc *loginClassifier) isLoginPath(p string) bool {
	p = trimSlash(p)
	if !lc.candidate(p) {
		return false
	}
	if _, ok := lc.exact[p]; ok {
		return true
	}
	for _, w := range lc.wild {
		if w.match(p) {
			return true
		}
	}
	return false
}

func (lc *loginClassifier) classify(ev *Event) loginResult {
	if !slices.Contains(lc.methods, ev.Method) {
		return notLogin
	}
	path := ev.Path
	if !lc.isLoginPath(path) {
		if ev.Route == "" || ev.Route == path || !lc.isLoginPath(ev.Route) {
			return notLogin
		}
		path = ev.Route
	}
	path = trimSlash(path)
	for i := range lc.rules {
		r := &lc.rules[i]
		if (r.exact != "" && r.exact == path) || (r.exact == "" && r.pat.match(path)) {
			switch {
			case slices.Contains(r.fail, ev.Status):
				return loginFailure
			case len(r.success) > 0 && slices.Contains(r.success, ev.Status):
				return loginSuccess
			case len(r.success) == 0 && ev.Status >= 200 && ev.Status < 400:
				return loginSuccess
			}
			return loginOther
		}
	}
	switch {
	case slices.Contains(lc.failures, ev.Status):
		return loginFailure
	case ev.Status >= 200 && ev.Status < 400:
		return loginSuccess
	}
	return loginOther
}

// sensitiveMatcher matches known-sensitive paths. Prefix patterns are
// indexed by the byte after the leading slash, so a request pays for a
// handful of comparisons, not the whole list. Suffixes are indexed by
// their last byte the same way, except those that a non-ASCII letter could
// end (case folding maps U+212A to "k" and U+017F to "s"), which every path
// is compared with.
type sensitiveMatcher struct {
	byByte   [256][]string
	sufByte  [256][]string
	suffixes []string
}

func newSensitiveMatcher(list []string) *sensitiveMatcher {
	m := &sensitiveMatcher{}
	for _, s := range list {
		if strings.HasPrefix(s, "*") {
			suf := strings.ToLower(s[1:])
			if last := len(suf) - 1; last >= 0 && suf[last] < 0x80 && suf[last] != 'k' && suf[last] != 's' {
				m.sufByte[suf[last]] = append(m.sufByte[suf[last]], suf)
			} else {
				m.suffixes = append(m.suffixes, suf)
			}
			continue
		}
		s = strings.ToLower(s)
		if len(s) < 2 {
			continue
		}
		m.byByte[s[1]] = append(m.byByte[s[1]], s)
	}
	return m
}

func (m *sensitiveMatcher) match(path string) bool {
	if len(path) < 2 {
		return false
	}
	for _, p := range m.byByte[lowerByte(path[1])] {
		if len(path) >= len(p) && strings.EqualFold(path[:len(p)], p) {
			return true
		}
	}
	for _, s := range m.sufByte[lowerByte(path[len(path)-1])] {
		if len(path) > len(s) && strings.EqualFold(path[len(path)-len(s):], s) {
			return true
		}
	}
	for _, s := range m.suffixes {
		if len(path) > len(s) && strings.EqualFold(path[len(path)-len(s):], s) {
			return true
		}
	}
	return false
}

func lowerByte(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// isTraversal spots path traversal in a raw (undecoded) path or query:
// "../", "..\", and their percent-encoded or double-encoded forms.
func isTraversal(s string) bool {
	// Every form below holds ".." or '%': most paths have neither, and the
	// two searches are vectorised where the byte loop is not.
	if strings.IndexByte(s, '%') < 0 && !strings.Contains(s, "..") {
		return false
	}
	for i := 0; i+1 < len(s); i++ {
		switch s[i] {
		case '.':
			if s[i+1] == '.' && (i+2 == len(s) || s[i+2] == '/' || s[i+2] == '\\' || s[i+2] == '%') {
				return true
			}
		case '%':
			rest := s[i:]
			if hasFoldPrefix(rest, "%2e%2e") || hasFoldPrefix(rest, "%252e%252e") || hasFoldPrefix(rest, "%2e.") || hasFoldPrefix(rest, "%c0%ae") {
				return true
			}
		}
	}
	return false
}

func hasFoldPrefix(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

// queryValue returns the value of key in a raw query string without
// allocating.
func queryValue(q, key string) (string, bool) {
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(part, "=")
		if k == key {
			return v, true
		}
	}
	return "", false
}

// allowMatcher is a compiled Allowlist.
type allowMatcher struct {
	prefixes []netip.Prefix
	users    map[string]struct{}
	uas      []string
}

func newAllowMatcher(a Allowlist) *allowMatcher {
	m := &allowMatcher{}
	for _, s := range a.CIDRs {
		if p, err := parsePrefix(s); err == nil {
			m.prefixes = append(m.prefixes, p)
		}
	}
	if len(a.Users) > 0 {
		m.users = make(map[string]struct{}, len(a.Users))
		for _, u := range a.Users {
			m.users[u] = struct{}{}
		}
	}
	m.uas = a.UserAgents
	return m
}

func (m *allowMatcher) empty() bool {
	return len(m.prefixes) == 0 && len(m.users) == 0 && len(m.uas) == 0
}

func (m *allowMatcher) ip(a netip.Addr) bool {
	for _, p := range m.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (m *allowMatcher) user(u string) bool {
	_, ok := m.users[u]
	return ok && u != ""
}

func (m *allowMatcher) ua(s string) bool {
	for _, x := range m.uas {
		if x != "" && strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// event reports whether any of the event's client IP, user or user agent is allowlisted.
func (m *allowMatcher) event(ev *Event) bool {
	return m.ip(ev.ClientIP) || m.user(ev.User) || m.ua(ev.UserAgent)
}

// entity reports whether a detection's entity is allowlisted.
func (m *allowMatcher) entity(e Entity) bool {
	switch e.Type {
	case EntityIP:
		a, err := netip.ParseAddr(e.Value)
		return err == nil && m.ip(a)
	case EntityNetwork:
		p, err := netip.ParsePrefix(e.Value)
		if err != nil {
			return false
		}
		for _, x := range m.prefixes {
			if x.Bits() <= p.Bits() && x.Contains(p.Addr()) {
				return true
			}
		}
	case EntityUser:
		return m.user(e.Value)
	case EntityUserAgent:
		return m.ua(e.Value)
	}
	return false
}
