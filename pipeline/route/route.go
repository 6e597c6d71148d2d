// Package route turns raw request paths into route templates, so that
// /api/v1/orders/123 and /api/v1/orders/456 are counted as one route,
// /api/v1/orders/{id}.
//
// With an OpenAPI 3 spec, paths are matched against the spec first and
// take its templates and parameter names. Everything else is learned: ids,
// UUIDs, hashes, tokens, dates and e-mail addresses become typed
// placeholders, and a position that keeps seeing new literal values (slugs,
// user names, a scanner's random words) collapses to {var}. Memory stays
// bounded whatever clients send: past MaxTemplates, new shapes map to a
// coarse template and are counted.
package route

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gatewatch/gatewatch/detectors"
)

// Options configure a Normalizer. The zero value works (no spec).
type Options struct {
	// SpecFile is an OpenAPI 3 document (YAML or JSON). Optional.
	SpecFile string
	// MaxTemplates bounds the learned templates. Past it, paths of new
	// shapes map to a coarse template ("/api/{*}" when the first segment
	// is a known route prefix, else "/{*}") and are counted in
	// Stats.Overflowed. Default 10000.
	MaxTemplates int
	// MaxChildren is how many distinct literal values one path position
	// may have before it collapses to {var}. Default 50.
	MaxChildren int
}

// Match is the outcome of normalising one request.
type Match struct {
	Template string
	Params   []detectors.Param
	// InSpec: the path and method match an operation of the spec.
	InSpec bool
	// SpecKnown: a spec is configured, so InSpec=false means "not in the
	// API's contract" rather than "unknown".
	SpecKnown bool
	// Deprecated: the matched operation is marked deprecated.
	Deprecated  bool
	OperationID string
}

// Stats describe the learned state, for metrics.
type Stats struct {
	Templates     int   // learned templates held now
	Nodes         int   // learned trie nodes held now (the memory that grows)
	Collapsed     int64 // path positions collapsed to {var}
	Overflowed    int64 // requests mapped to a coarse template because a bound was reached
	SpecTemplates int   // paths in the spec, times server base paths
}

const (
	maxSegments   = 32 // deeper paths are attacks or bugs; they get a coarse template
	maxLiteralLen = 64 // longer literal segments are not route names
)

// Normalizer maps paths to templates. It is safe for concurrent use.
type Normalizer struct {
	maxTemplates int
	maxChildren  int
	maxNodes     int
	spec         *specTrie

	mu        sync.RWMutex
	root      *node
	templates int
	nodes     int

	collapsed  atomic.Int64
	overflowed atomic.Int64
}

// node is a learned-trie node. Maps are written under Normalizer.mu's
// write lock only; hits is atomic because readers bump it under the read
// lock.
type node struct {
	lits      map[string]*node
	typed     map[tkey]*node
	collapsed bool
	terminal  bool
	path      string // the template up to and including this node
	coarse    string // for root children: "/<seg>/{*}"
	hits      atomic.Int64
}

type tkey struct {
	k   kind
	ext string
}

// New builds a Normalizer, loading and validating the spec if one is set.
func New(opts Options) (*Normalizer, error) {
	n := &Normalizer{
		maxTemplates: opts.MaxTemplates,
		maxChildren:  opts.MaxChildren,
		root:         &node{path: "/"},
		nodes:        1,
	}
	if n.maxTemplates <= 0 {
		n.maxTemplates = 10000
	}
	if n.maxChildren <= 0 {
		n.maxChildren = 50
	}
	// Intermediate nodes are shared by templates; four per template
	// leaves room for realistic trees while bounding a crafted one.
	n.maxNodes = 4*n.maxTemplates + maxSegments
	if opts.SpecFile != "" {
		t, err := loadSpec(opts.SpecFile)
		if err != nil {
			return nil, err
		}
		n.spec = t
	}
	return n, nil
}

// Stats returns counters for metrics.
func (n *Normalizer) Stats() Stats {
	n.mu.RLock()
	s := Stats{Templates: n.templates, Nodes: n.nodes}
	n.mu.RUnlock()
	s.Collapsed = n.collapsed.Load()
	s.Overflowed = n.overflowed.Load()
	if n.spec != nil {
		s.SpecTemplates = n.spec.paths
	}
	return s
}

// Normalize returns the template for a request. Path parameters are
// appended to params (pass e.Params[:0] to reuse its array) and returned
// in Match.Params; their values are sub-strings of path unless it had to
// be cleaned. Safe for concurrent use; for paths of shapes already seen
// it takes a read lock and allocates nothing.
//
// A path that matches a spec path under a method the spec does not list
// gets the spec's template with InSpec=false. HEAD is matched as GET when
// the spec has no HEAD operation, as HTTP servers answer it.
func (n *Normalizer) Normalize(method, path string, params []detectors.Param) Match {
	p := cleanPath(path)
	var segBuf [maxSegments]string
	segs, deep := splitSegments(p, &segBuf)
	m := Match{SpecKnown: n.spec != nil, Params: params}
	if p == "*" { // "OPTIONS *"
		m.Template = "*"
		return m
	}
	if n.spec != nil && !deep {
		if sn, ps := n.spec.match(segs, params); sn != nil {
			m.Template, m.Params = sn.template, ps
			op, ok := sn.ops[method]
			if !ok && method == "HEAD" {
				op, ok = sn.ops["GET"]
			}
			if !ok && !isUpper(method) {
				op, ok = sn.ops[strings.ToUpper(method)]
			}
			if ok {
				m.InSpec, m.Deprecated, m.OperationID = true, op.deprecated, op.id
			}
			return m
		}
	}
	if deep {
		m.Template = n.coarse(segs)
		return m
	}
	n.mu.RLock()
	tmpl, ps, ok := n.lookup(segs, params)
	if !ok && n.full(len(segs)) {
		// Past the bounds nothing is learned any more: answer under the
		// read lock, so a scanner's flood does not serialise the workers
		// on the write lock.
		n.overflowed.Add(1)
		tmpl, ps, ok = n.coarseLocked(segs), params, true
	}
	n.mu.RUnlock()
	if !ok {
		n.mu.Lock()
		tmpl, ps = n.learn(segs, params)
		n.mu.Unlock()
	}
	m.Template, m.Params = tmpl, ps
	return m
}

func isUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			return false
		}
	}
	return true
}

// splitSegments splits a cleaned path into segBuf; deep reports a path
// with more than maxSegments segments (segs then holds the first ones).
func splitSegments(p string, segBuf *[maxSegments]string) (segs []string, deep bool) {
	segs = segBuf[:0]
	for rest := strings.TrimPrefix(p, "/"); rest != ""; {
		if len(segs) == maxSegments {
			return segs, true
		}
		var s string
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			s, rest = rest[:i], rest[i+1:]
		} else {
			s, rest = rest, ""
		}
		segs = append(segs, s)
	}
	return segs, false
}

// step resolves one segment to its child of nd, without creating it. The
// key says which child it would be.
func (n *Normalizer) step(nd *node, seg string) (child *node, isLit bool, key tkey) {
	k, ext := classify(seg)
	if k == kLiteral {
		if len(seg) > maxLiteralLen {
			k, ext = kVar, extension(seg)
		} else if c := nd.lits[seg]; c != nil {
			return c, true, tkey{}
		} else if nd.collapsed {
			k, ext = kVar, extension(seg)
		} else {
			return nil, true, tkey{}
		}
	}
	key = tkey{k, ext}
	return nd.typed[key], false, key
}

// lookup walks the learned trie under the read lock.
func (n *Normalizer) lookup(segs []string, params []detectors.Param) (string, []detectors.Param, bool) {
	nd := n.root
	for _, seg := range segs {
		c, isLit, key := n.step(nd, seg)
		if c == nil {
			return "", params, false
		}
		if !isLit {
			params = append(params, detectors.Param{Name: kindNames[key.k], Value: seg[:len(seg)-len(key.ext)]})
		}
		c.hits.Add(1)
		nd = c
	}
	if !nd.terminal {
		return "", params, false
	}
	return nd.path, params, true
}

// learn walks the trie under the write lock, creating what is missing.
func (n *Normalizer) learn(segs []string, params []detectors.Param) (string, []detectors.Param) {
	base := len(params)
	// Another worker may have learned it meanwhile.
	if tmpl, ps, ok := n.lookup(segs, params); ok {
		return tmpl, ps
	}
	params = params[:base]
	// Worst case every segment is a new node: check the bounds first, so
	// a flood never grows the trie past them.
	if n.full(len(segs)) {
		n.overflowed.Add(1)
		return n.coarseLocked(segs), params
	}
	nd := n.root
	for _, seg := range segs {
		c, isLit, key := n.step(nd, seg)
		if c == nil && isLit && len(nd.lits) >= n.maxChildren {
			n.collapse(nd)
			c, isLit, key = n.step(nd, seg)
		}
		if !isLit {
			params = append(params, detectors.Param{Name: kindNames[key.k], Value: seg[:len(seg)-len(key.ext)]})
		}
		if c == nil {
			c = n.newChild(nd, seg, isLit, key)
		}
		c.hits.Add(1)
		nd = c
	}
	if !nd.terminal {
		nd.terminal = true
		n.templates++
	}
	return nd.path, params
}

// full reports whether learning a path of depth segments could exceed the
// bounds (worst case, every segment is a new node). Call with mu held.
func (n *Normalizer) full(depth int) bool {
	return n.templates >= n.maxTemplates || n.nodes+depth > n.maxNodes
}

func (n *Normalizer) newChild(nd *node, seg string, isLit bool, key tkey) *node {
	var piece string
	if isLit {
		piece = strings.Clone(seg) // seg may alias a caller's buffer
	} else {
		if len(nd.typed) >= n.maxChildren && key.ext != "" {
			// Extensions are free text too; do not let them multiply.
			key.ext = ""
			if c := nd.typed[key]; c != nil {
				return c
			}
		}
		piece = "{" + kindNames[key.k] + "}" + key.ext
	}
	c := &node{path: joinPath(nd.path, piece)}
	if nd == n.root && isLit {
		c.coarse = "/" + piece + "/{*}"
	}
	if isLit {
		if nd.lits == nil {
			nd.lits = map[string]*node{}
		}
		nd.lits[piece] = c
	} else {
		if nd.typed == nil {
			nd.typed = map[tkey]*node{}
		}
		key.ext = strings.Clone(key.ext)
		nd.typed[key] = c
	}
	n.nodes++
	return c
}

func joinPath(prefix, piece string) string {
	if prefix == "/" {
		return "/" + piece
	}
	return prefix + "/" + piece
}

// collapse turns nd's literal position into {var}. Children that carry a
// real share of the traffic stay literal (so a scanner's random words at
// the root cannot turn /api into {var}); the rest are dropped with their
// subtrees, and their paths are learned again under {var} when seen.
func (n *Normalizer) collapse(nd *node) {
	var total int64
	for _, c := range nd.lits {
		total += c.hits.Load()
	}
	for _, c := range nd.typed {
		total += c.hits.Load()
	}
	for seg, c := range nd.lits {
		h := c.hits.Load()
		if h > 1 && h*int64(n.maxChildren) > total {
			continue
		}
		delete(nd.lits, seg)
		t, ns := c.count()
		n.templates -= t
		n.nodes -= ns
	}
	nd.collapsed = true
	n.collapsed.Add(1)
}

// count returns the templates and nodes in the subtree at nd.
func (nd *node) count() (templates, nodes int) {
	nodes = 1
	if nd.terminal {
		templates = 1
	}
	for _, c := range nd.lits {
		t, ns := c.count()
		templates, nodes = templates+t, nodes+ns
	}
	for _, c := range nd.typed {
		t, ns := c.count()
		templates, nodes = templates+t, nodes+ns
	}
	return templates, nodes
}

func (n *Normalizer) coarse(segs []string) string {
	n.overflowed.Add(1)
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.coarseLocked(segs)
}

// coarseLocked keeps a known first segment, so overflowed traffic still
// says which part of the API it hit, without adding cardinality.
func (n *Normalizer) coarseLocked(segs []string) string {
	if len(segs) > 0 {
		if c := n.root.lits[segs[0]]; c != nil {
			return c.coarse
		}
	}
	return "/{*}"
}

// extension returns ".ext" for a segment ending in a short alphanumeric
// extension, so /blog/a-post.html collapses to /blog/{var}.html.
func extension(seg string) string {
	if i := strings.LastIndexByte(seg, '.'); i > 0 && len(seg)-i >= 2 && len(seg)-i <= 6 && isAlnum(seg[i+1:]) {
		return seg[i:]
	}
	return ""
}
