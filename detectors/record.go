package detectors

import (
	"context"
	"time"
)

// Detection kinds: the shared contract with pipeline/generate and playbooks.
const (
	KindLoginBurst         = "login_burst"
	KindCredentialStuffing = "credential_stuffing"
	KindScanning           = "scanning"
	KindEnumeration        = "enumeration"
	KindScraping           = "scraping"
	KindRateAnomaly        = "rate_anomaly"
	KindShadowAPI          = "shadow_api"
	KindErrorSpike         = "error_spike"
)

// Entity types and their value formats (see RECORD.md).
const (
	EntityIP        = "ip"         // "203.0.113.7"
	EntityUser      = "user"       // login name as logged
	EntityNetwork   = "network"    // "198.51.100.0/24" or an IPv6 /48
	EntityUserAgent = "user_agent" // the exact User-Agent string
	EntityCampaign  = "campaign"   // detector-chosen id
	EntityGlobal    = "global"     // value ""
	EntityRoute     = "route"      // "GET /api/v1/orders/{id}"
)

// Severity orders detections for people and playbooks.
type Severity string

// Severities, lowest first.
const (
	SeverityInfo     Severity = "info"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Rank orders severities (info 0 .. critical 4); unknown values rank -1.
func (s Severity) Rank() int {
	switch s {
	case SeverityInfo:
		return 0
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return -1
}

// Valid reports whether s is one of the five severities.
func (s Severity) Valid() bool { return s.Rank() >= 0 }

// Entity is what a detection is about.
type Entity struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// String renders "type:value", the form used in incident keys and tables.
func (e Entity) String() string { return e.Type + ":" + e.Value }

// Sample is one raw line that contributed to a detection, with where it came from.
type Sample struct {
	Time   time.Time `json:"time"`
	Source string    `json:"source,omitempty"` // Position.String(): file:line or topic/partition/offset
	Line   string    `json:"line"`
}

// Evidence backs a detection with data a person can check.
type Evidence struct {
	Samples []Sample `json:"samples,omitempty"`
	// Top lists co-entities (accounts tried, IPs involved, paths probed),
	// bounded; most recent first.
	Top []Entity `json:"top,omitempty"`
	// Expected and Observed describe the value that crossed the line, e.g.
	// "≤ 10 failed logins in 10m" and "37 failed logins in 10m".
	Expected string `json:"expected,omitempty"`
	Observed string `json:"observed,omitempty"`
}

// IncidentState says whether a detection opened an incident or extended one.
type IncidentState string

// Incident states.
const (
	IncidentOpened   IncidentState = "opened"
	IncidentExtended IncidentState = "extended"
)

// IncidentRef is the incident a detection belongs to.
type IncidentRef struct {
	ID    string        `json:"id"`
	State IncidentState `json:"state"`
	// Hits counts the evaluations (batches) in which the condition held,
	// across every worker.
	Hits      int64     `json:"hits"`
	FirstSeen time.Time `json:"first_seen"`
}

// Detection is the record every detector emits. Its JSON form is stable
// and documented in RECORD.md.
type Detection struct {
	ID        string             `json:"id"`
	Time      time.Time          `json:"time"` // event time of the evaluation that produced it
	Detector  string             `json:"detector"`
	Kind      string             `json:"kind"`
	Severity  Severity           `json:"severity"`
	Score     float64            `json:"score"` // 0..1; 0.5 = at the alert level, 1 = twice it or more
	Entity    Entity             `json:"entity"`
	Window    string             `json:"window"` // e.g. "10m"
	FirstSeen time.Time          `json:"first_seen"`
	LastSeen  time.Time          `json:"last_seen"`
	Metrics   map[string]float64 `json:"metrics"`
	Evidence  Evidence           `json:"evidence"`
	Summary   string             `json:"summary"`
	Incident  IncidentRef        `json:"incident"`
}

// IncidentKey identifies one incident: a detector's condition on one entity.
type IncidentKey struct {
	Detector string
	Entity   Entity
}

// IncidentHit is one evaluation in which a detector's condition held.
type IncidentHit struct {
	Key      IncidentKey
	At       time.Time // event time of the evaluation
	Severity Severity
	// Cooldown: an incident whose last hit is older than this is closed; the
	// next hit opens a new one.
	Cooldown time.Duration
	// ReportEvery: while an incident stays open, a hit is reported again
	// (state extended) at most this often, unless its severity rises.
	ReportEvery time.Duration
}

// IncidentUpdate is what the store decided about a hit.
type IncidentUpdate struct {
	ID        string
	State     IncidentState
	Report    bool // true when the caller should emit a detection for this hit
	Hits      int64
	FirstSeen time.Time
	LastSeen  time.Time
	Severity  Severity // highest severity of the incident so far
}

// IncidentStore keeps incidents shared by every worker, so that one
// condition seen by several workers opens one incident, not one per worker.
// Implementations: detectors/incident (Memory, Redis).
type IncidentStore interface {
	// Hit records hits atomically per key and says, for each, whether it
	// opened an incident or extended one and whether it should be reported.
	// out[i] answers hits[i]. On error nothing may be assumed recorded.
	Hit(ctx context.Context, hits []IncidentHit) ([]IncidentUpdate, error)
}
