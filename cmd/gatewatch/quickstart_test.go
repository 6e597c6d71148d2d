package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/pipeline/generate"
)

// The README's quickstart, as written: the bundled hour of shop traffic
// through parsing, route naming and every detector. Every labelled attack
// is found with its kind and one of its entities, no trap is named.
func TestQuickstartSample(t *testing.T) {
	if testing.Short() {
		t.Skip("full sample replay skipped in -short mode")
	}
	const dir = "../../deployments/sample/"
	code, out, errOut := runCLI(t, "", "replay", "--json", "--dead-letters", "", "--openapi", dir+"shop-openapi.yaml", dir+"shop-access.log.gz")
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(dir + "shop-truth.json")
	if err != nil {
		t.Fatal(err)
	}
	var truth generate.Truth
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	type key struct{ kind, typ, val string }
	seen := map[key]bool{}
	named := map[[2]string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var d detectors.Detection
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("bad record %q: %v", line, err)
		}
		seen[key{d.Kind, d.Entity.Type, d.Entity.Value}] = true
		named[[2]string{d.Entity.Type, d.Entity.Value}] = d.Kind
	}
	for _, a := range truth.Attacks {
		found := false
		for _, e := range a.Entities {
			if seen[key{a.Kind, e.Type, e.Value}] {
				found = true
			}
			if e.Type == "campaign" {
				for k := range seen {
					found = found || (k.kind == a.Kind && k.typ == "campaign")
				}
			}
		}
		if !found {
			t.Errorf("attack %s (%s, %s) not detected", a.ID, a.Kind, a.Description)
		}
	}
	for _, tr := range truth.Traps {
		for _, e := range tr.Entities {
			if k, ok := named[[2]string{e.Type, e.Value}]; ok {
				t.Errorf("trap %s: %s %s flagged by %s", tr.Name, e.Type, e.Value, k)
			}
		}
	}
	if !strings.Contains(errOut, "events parsed:   270428") || !strings.Contains(errOut, "unparseable:     0") {
		t.Errorf("summary:\n%s", errOut)
	}
}
