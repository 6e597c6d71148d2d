package detectors

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// JSONLWriter writes detections as JSON lines (the RECORD.md format).
type JSONLWriter struct {
	enc *json.Encoder
}

// NewJSONLWriter returns a writer of one JSON object per line to w.
func NewJSONLWriter(w io.Writer) *JSONLWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSONLWriter{enc: enc}
}

// Write writes each detection as one line.
func (j *JSONLWriter) Write(ds ...Detection) error {
	for i := range ds {
		if ds[i].Metrics == nil {
			ds[i].Metrics = map[string]float64{}
		}
		if err := j.enc.Encode(&ds[i]); err != nil {
			return fmt.Errorf("write detection %s: %w", ds[i].ID, err)
		}
	}
	return nil
}

// TableWriter writes detections as an aligned, human-readable table.
// Call Flush when done.
type TableWriter struct {
	tw     *tabwriter.Writer
	header bool
}

// NewTableWriter returns a table writer to w.
func NewTableWriter(w io.Writer) *TableWriter {
	return &TableWriter{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
}

// Write adds rows for ds.
func (t *TableWriter) Write(ds ...Detection) error {
	if !t.header {
		t.header = true
		if _, err := io.WriteString(t.tw, "TIME\tSEVERITY\tKIND\tENTITY\tINCIDENT\tSCORE\tSUMMARY\n"); err != nil {
			return err
		}
	}
	for i := range ds {
		d := &ds[i]
		ent := d.Entity.Type
		if d.Entity.Value != "" {
			ent += " " + d.Entity.Value
		}
		row := strings.Join([]string{
			d.Time.UTC().Format(time.RFC3339), string(d.Severity), d.Kind, clip(ent, 48),
			string(d.Incident.State) + " x" + itoa(d.Incident.Hits), fmt.Sprintf("%.2f", d.Score), oneLine(d.Summary),
		}, "\t")
		if _, err := io.WriteString(t.tw, row+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes the buffered table.
func (t *TableWriter) Flush() error { return t.tw.Flush() }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// oneLine keeps a cell on one line whatever the summary contains.
func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\t", " ", "\r", " ").Replace(s)
}
