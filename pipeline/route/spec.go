package route

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/getkin/kin-openapi/openapi3"
)

// specTrie matches cleaned paths against an OpenAPI document's paths,
// each prefixed with every server's base path. It is built once and only
// read afterwards, so it needs no locking.
type specTrie struct {
	root  specNode
	paths int
}

type specNode struct {
	lits     map[string]*specNode
	pats     []specChild // segments with {params}, most specific first
	ops      map[string]opInfo
	template string // base path + spec path; set where a spec path ends
}

type specChild struct {
	pat  []piece
	node *specNode
}

// piece is a literal run or a parameter within a path segment, so
// "/files/{name}.{ext}" and "/report-{id}.pdf" match too.
type piece struct {
	lit   string
	param string
}

type opInfo struct {
	id         string
	deprecated bool
}

func loadSpec(file string) (*specTrie, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("route: OpenAPI spec %s: %w", file, err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(file)
	if err != nil {
		return nil, fmt.Errorf("route: OpenAPI spec %s does not load (YAML/JSON syntax or a broken $ref): %w", file, err)
	}
	if doc.OpenAPI == "" || !strings.HasPrefix(doc.OpenAPI, "3.") {
		return nil, fmt.Errorf("route: OpenAPI spec %s: \"openapi\" is %q; only OpenAPI 3.x is supported (convert Swagger 2.0 specs first)", file, doc.OpenAPI)
	}
	// Examples and schema defaults do not affect routing; rejecting a spec
	// for them would only stop people from using it.
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation(), openapi3.DisableSchemaDefaultsValidation()); err != nil {
		return nil, fmt.Errorf("route: OpenAPI spec %s is invalid: %w", file, err)
	}
	if doc.Paths == nil || doc.Paths.Len() == 0 {
		return nil, fmt.Errorf("route: OpenAPI spec %s has no paths to match requests against", file)
	}
	bases, err := basePaths(doc.Servers)
	if err != nil {
		return nil, fmt.Errorf("route: OpenAPI spec %s: %w", file, err)
	}
	t := &specTrie{}
	for _, base := range bases {
		for p, item := range doc.Paths.Map() {
			if err := t.add(base, p, item); err != nil {
				return nil, fmt.Errorf("route: OpenAPI spec %s: path %q: %w", file, p, err)
			}
		}
	}
	t.root.sortPats()
	return t, nil
}

// basePaths returns the distinct path prefixes of the servers ("/api/v1"
// from "https://api.example.com/api/v1" or "/api/v1"), "" for the root.
func basePaths(servers openapi3.Servers) ([]string, error) {
	if len(servers) == 0 {
		return []string{""}, nil
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range servers {
		bp, err := s.BasePath()
		if err != nil {
			// Relative URLs without a leading slash ("v1") are relative
			// to the document; treat them as paths.
			u, perr := url.Parse(s.URL)
			if perr != nil {
				return nil, fmt.Errorf("server url %q: %w", s.URL, err)
			}
			bp = u.Path
		}
		bp = strings.TrimRight(cleanPath("/"+strings.TrimLeft(bp, "/")), "/")
		if !seen[bp] {
			seen[bp] = true
			out = append(out, bp)
		}
	}
	return out, nil
}

func (t *specTrie) add(base, p string, item *openapi3.PathItem) error {
	full := base + "/" + strings.TrimLeft(p, "/")
	nd := &t.root
	for _, seg := range strings.Split(strings.Trim(full, "/"), "/") {
		if seg == "" {
			continue
		}
		if !strings.Contains(seg, "{") {
			if nd.lits == nil {
				nd.lits = map[string]*specNode{}
			}
			c := nd.lits[seg]
			if c == nil {
				c = &specNode{}
				nd.lits[seg] = c
			}
			nd = c
			continue
		}
		pat, err := parsePattern(seg)
		if err != nil {
			return err
		}
		var c *specNode
		for _, pc := range nd.pats {
			if samePattern(pc.pat, pat) {
				c = pc.node
				break
			}
		}
		if c == nil {
			c = &specNode{}
			nd.pats = append(nd.pats, specChild{pat: pat, node: c})
		}
		nd = c
	}
	if nd.ops == nil {
		nd.ops = map[string]opInfo{}
		t.paths++
	}
	nd.template = "/" + strings.Trim(full, "/")
	for method, op := range item.Operations() {
		nd.ops[strings.ToUpper(method)] = opInfo{id: op.OperationID, deprecated: op.Deprecated}
	}
	return nil
}

func parsePattern(seg string) ([]piece, error) {
	var out []piece
	for seg != "" {
		i := strings.IndexByte(seg, '{')
		if i < 0 {
			out = append(out, piece{lit: seg})
			break
		}
		if i > 0 {
			out = append(out, piece{lit: seg[:i]})
		}
		j := strings.IndexByte(seg[i:], '}')
		if j < 0 {
			return nil, errors.New("unclosed '{' in path template")
		}
		name := seg[i+1 : i+j]
		if name == "" {
			return nil, errors.New("empty parameter name '{}' in path template")
		}
		if len(out) > 0 && out[len(out)-1].param != "" {
			return nil, fmt.Errorf("parameters {%s} and {%s} are adjacent, so where one ends is ambiguous", out[len(out)-1].param, name)
		}
		out = append(out, piece{param: name})
		seg = seg[i+j+1:]
	}
	return out, nil
}

func samePattern(a, b []piece) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sortPats orders pattern children so more literal text wins:
// "{id}.json" is tried before "{id}".
func (nd *specNode) sortPats() {
	sort.SliceStable(nd.pats, func(i, j int) bool { return litLen(nd.pats[i].pat) > litLen(nd.pats[j].pat) })
	for _, c := range nd.lits {
		c.sortPats()
	}
	for _, c := range nd.pats {
		c.node.sortPats()
	}
}

func litLen(p []piece) int {
	n := 0
	for _, pc := range p {
		n += len(pc.lit)
	}
	return n
}

// match finds the spec path for segs: literal segments beat parameters at
// every position, with backtracking when the literal branch dead-ends
// (/users/me/orders still reaches /users/{id}/orders).
func (t *specTrie) match(segs []string, params []detectors.Param) (*specNode, []detectors.Param) {
	return t.root.match(segs, params)
}

func (nd *specNode) match(segs []string, params []detectors.Param) (*specNode, []detectors.Param) {
	if len(segs) == 0 {
		if nd.ops != nil {
			return nd, params
		}
		return nil, params
	}
	seg := segs[0]
	if c := nd.lits[seg]; c != nil {
		if m, ps := c.match(segs[1:], params); m != nil {
			return m, ps
		}
	}
	for _, pc := range nd.pats {
		n := len(params)
		ps, ok := matchPattern(pc.pat, seg, params)
		if !ok {
			continue
		}
		if m, ps := pc.node.match(segs[1:], ps); m != nil {
			return m, ps
		}
		params = ps[:n]
	}
	return nil, params
}

// matchPattern matches one segment against its pieces. A parameter takes
// the shortest non-empty text up to the next literal, or the rest.
func matchPattern(pat []piece, seg string, params []detectors.Param) ([]detectors.Param, bool) {
	for i, pc := range pat {
		if pc.param == "" {
			if !strings.HasPrefix(seg, pc.lit) {
				return params, false
			}
			seg = seg[len(pc.lit):]
			continue
		}
		if seg == "" {
			return params, false
		}
		var val string
		if i+1 < len(pat) {
			next := pat[i+1].lit
			k := strings.Index(seg[1:], next)
			if k < 0 {
				return params, false
			}
			val, seg = seg[:k+1], seg[k+1:]
		} else {
			val, seg = seg, ""
		}
		if val == "" {
			return params, false
		}
		params = append(params, detectors.Param{Name: pc.param, Value: val})
	}
	return params, seg == ""
}
