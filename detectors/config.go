package detectors

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Config configures the detector engine. Every zero field takes the default
// shown by DefaultConfig, so Config{} works; LoadConfig starts from
// DefaultConfig and overlays the file.
//
// Default thresholds come from published vendor rules (AWS WAF ATP,
// Datadog ATO, turbot nginx detections, Cloudflare) and from tail
// probabilities, not from our traffic generator; RECORD.md cites them.
type Config struct {
	// Allowlist drops matching events before they are counted by any
	// detector (trusted scanners, monitoring, corporate egress).
	Allowlist Allowlist `yaml:"allowlist"`
	// Login says which requests are logins and what a failed one looks like.
	Login LoginConfig `yaml:"login"`
	// Incidents controls how repeated hits become one incident.
	Incidents IncidentConfig `yaml:"incidents"`
	// Warmup is how much history the global baselines need before the
	// baseline detectors (rate_anomaly, error_spike, global spikes) may fire.
	Warmup time.Duration `yaml:"warmup"`
	// Samples caps the raw lines attached to a detection (default 5).
	Samples int `yaml:"samples"`
	// Top caps the co-entities attached to a detection (default 20).
	Top int `yaml:"top"`

	LoginBurst         LoginBurstConfig         `yaml:"login_burst"`
	CredentialStuffing CredentialStuffingConfig `yaml:"credential_stuffing"`
	Scanning           ScanningConfig           `yaml:"scanning"`
	Enumeration        EnumerationConfig        `yaml:"enumeration"`
	Scraping           ScrapingConfig           `yaml:"scraping"`
	RateAnomaly        RateAnomalyConfig        `yaml:"rate_anomaly"`
	ShadowAPI          ShadowAPIConfig          `yaml:"shadow_api"`
	ErrorSpike         ErrorSpikeConfig         `yaml:"error_spike"`
}

// Allowlist matches client IPs (CIDRs or single addresses), users (exact
// login names) and user agents (substring, case-sensitive).
type Allowlist struct {
	CIDRs      []string `yaml:"cidrs"`
	Users      []string `yaml:"users"`
	UserAgents []string `yaml:"user_agents"`
}

// LoginConfig classifies login requests.
type LoginConfig struct {
	// Methods that count as login attempts (default POST).
	Methods []string `yaml:"methods"`
	// Routes are path templates of login endpoints; "*" matches one path
	// segment. Matched against the raw path and the normalised route.
	Routes []string `yaml:"routes"`
	// FailureStatuses mark a failed login (default 401, 403).
	FailureStatuses []int `yaml:"failure_statuses"`
	// ExtraFailureStatuses are added to FailureStatuses (e.g. 400, 422, 429).
	ExtraFailureStatuses []int `yaml:"extra_failure_statuses"`
	// Rules override failure/success statuses for apps that answer a failed
	// login with 200 (WordPress re-renders the form with 200 and redirects
	// with 302 on success). The first rule whose route matches wins.
	Rules []LoginRule `yaml:"rules"`
}

// LoginRule overrides the meaning of statuses on some login routes.
type LoginRule struct {
	Route           string `yaml:"route"`
	FailureStatuses []int  `yaml:"failure_statuses"`
	SuccessStatuses []int  `yaml:"success_statuses"`
}

// IncidentConfig: while a detector's condition holds on an entity, hits
// extend one incident; a new one opens only after Cooldown without hits.
type IncidentConfig struct {
	Cooldown time.Duration `yaml:"cooldown"` // default 15m (Datadog IP block guidance)
	// ReportEvery re-emits an open incident (state extended) at most this
	// often; a rise in severity is reported at once. Default 30m.
	ReportEvery time.Duration `yaml:"report_every"`
}

// Common holds what every detector has.
type Common struct {
	// Enabled defaults to true; write enabled: false to turn a detector off.
	Enabled *bool `yaml:"enabled"`
	// Severity of an ordinary hit; Escalated for the aggravated case the
	// detector documents (success after failures, sequential walk, ...).
	Severity  Severity `yaml:"severity"`
	Escalated Severity `yaml:"escalated"`
	// Allowlist suppresses this detector's detections whose entity matches.
	Allowlist Allowlist `yaml:"allowlist"`
	// Entities restricts which entity types the detector reports on.
	Entities []string `yaml:"entities"`
}

// On reports whether the detector is enabled.
func (c Common) On() bool { return c.Enabled == nil || *c.Enabled }

// LoginBurstConfig: failed-login bursts (OAT-007 credential cracking).
type LoginBurstConfig struct {
	Common `yaml:",inline"`
	// Window for per-IP and per-user failures (default 10m: AWS ATP,
	// Datadog SIEM); BurstWindow for short bursts (default 1m).
	Window      time.Duration `yaml:"window"`
	BurstWindow time.Duration `yaml:"burst_window"`
	// IPFailures in Window with at least IPFailureRatio of the IP's login
	// attempts failing (default 10 and 0.5; AWS VolumetricIpFailedLoginResponseHigh
	// is > 10 / 10 min, turbot >= 10 401/403 / 5 min). The ratio keeps
	// office NATs (many users, few failures) quiet.
	IPFailures     float64 `yaml:"ip_failures"`
	IPFailureRatio float64 `yaml:"ip_failure_ratio"`
	// BurstFailures in BurstWindow at the same ratio (default 6: AWS
	// "medium > 5", crowdsec http-bf-wordpress_bf bucket of 5).
	BurstFailures float64 `yaml:"burst_failures"`
	// UserFailures in Window on one account (default 10: Datadog SIEM info
	// level); UserIPs distinct failing IPs escalate it (default 3).
	UserFailures float64 `yaml:"user_failures"`
	UserIPs      float64 `yaml:"user_ips"`
	// TakeoverFailures then a success from the same IP or on the same
	// account within Window escalates (default 5: Datadog "5 fails then
	// success"). Mistypes then success stay below it.
	TakeoverFailures float64 `yaml:"takeover_failures"`
	// Global failed-login spike, per 1m bucket: robust z (value minus the
	// median of the 24h history, over 1.4826*MAD) of at least GlobalRobustZ
	// (default 5; Iglewicz-Hoaglin flag 3.5, raised for a test run every
	// minute), at least GlobalMinFailures (default 30) and GlobalRatio
	// times the median (default 3).
	GlobalRobustZ     float64 `yaml:"global_robust_z"`
	GlobalMinFailures float64 `yaml:"global_min_failures"`
	GlobalRatio       float64 `yaml:"global_ratio"`
}

// CredentialStuffingConfig: many accounts from one source, or a
// distributed low-and-slow campaign (OAT-008).
type CredentialStuffingConfig struct {
	Common `yaml:",inline"`
	// Window for single-source stuffing (default 1h).
	Window time.Duration `yaml:"window"`
	// IPFailures and IPAccounts (distinct failing accounts) in Window with
	// at least FailureRatio failing (defaults 30, 6, 0.5: Datadog
	// appsec-ato-groupby-ip "> 30 failed and > 5 accounts").
	IPFailures   float64 `yaml:"ip_failures"`
	IPAccounts   float64 `yaml:"ip_accounts"`
	FailureRatio float64 `yaml:"failure_ratio"`
	// Shared source (one /24 or one user agent spread over many IPs):
	// at least SharedIPs failing IPs and SharedAccounts failing accounts in
	// Window at FailureRatio (defaults 5 and 20).
	SharedIPs      float64 `yaml:"shared_ips"`
	SharedAccounts float64 `yaml:"shared_accounts"`
	// Campaign: API-wide login failures over CampaignWindow (default 30m)
	// at least CampaignSurprise above baseline (default 6), failure ratio
	// at least FailureRatio*0.6 and twice the baseline's, from at least
	// CampaignIPs IPs and CampaignAccounts accounts (defaults 20 and 50,
	// detection-methods §6 #4).
	CampaignWindow   time.Duration `yaml:"campaign_window"`
	CampaignSurprise float64       `yaml:"campaign_surprise"`
	CampaignIPs      float64       `yaml:"campaign_ips"`
	CampaignAccounts float64       `yaml:"campaign_accounts"`
}

// ScanningConfig: vulnerability scanning / fingerprinting (OAT-014, OAT-004).
type ScanningConfig struct {
	Common `yaml:",inline"`
	Window time.Duration `yaml:"window"` // default 5m
	// NotFoundPaths: distinct paths answered 404/405/410 or outside the
	// spec (default 20, detection-methods §6 #6).
	NotFoundPaths float64 `yaml:"not_found_paths"`
	// NotFoundRatio with at least MinRequests requests and 10 distinct
	// missing paths (defaults 0.5 and 30).
	NotFoundRatio float64 `yaml:"not_found_ratio"`
	MinRequests   float64 `yaml:"min_requests"`
	// SensitivePaths: distinct known-sensitive paths probed (default 3;
	// crowdsec nginx-http-sensitive-files uses a bucket of 5). One path is
	// not enough: health checkers poll /actuator/health all day.
	SensitivePaths float64 `yaml:"sensitive_paths"`
	// Sensitive lists path prefixes (or, with a leading "*", suffixes).
	Sensitive []string `yaml:"sensitive"`
}

// EnumerationConfig: one IP walking object ids of one route (API1 BOLA).
type EnumerationConfig struct {
	Common `yaml:",inline"`
	Window time.Duration `yaml:"window"` // default 10m
	// DistinctIDs with at least DeniedRatio answered 401/403/404 (defaults
	// 20 and 0.5; Cloudflare BOLA: normal sessions touch 1-2 ids).
	DistinctIDs float64 `yaml:"distinct_ids"`
	DeniedRatio float64 `yaml:"denied_ratio"`
	// SequentialScore: share of ids one apart that escalates (default 0.8).
	SequentialScore float64 `yaml:"sequential_score"`
	// IDQueryParams are query parameters treated as object ids on routes
	// without path parameters (default id, author, user_id, page, offset).
	IDQueryParams []string `yaml:"id_query_params"`
}

// ScrapingConfig: high, fast coverage of a collection (OAT-011).
type ScrapingConfig struct {
	Common `yaml:",inline"`
	Window time.Duration `yaml:"window"` // default 10m
	// DistinctItems fetched successfully from one route in Window (default
	// 300, a new item every 2 s for 10 minutes; the reference's floor is
	// 500/h, polite crawlers pace themselves at one page per several
	// seconds across the whole site) with at least SuccessRatio 2xx
	// (default 0.8).
	DistinctItems float64 `yaml:"distinct_items"`
	SuccessRatio  float64 `yaml:"success_ratio"`
	// Novelty: distinct items / successful requests (default 0.8).
	// Scrapers fetch each item once; people and integrations re-read
	// what they already have: a client drawing at random from a pool of
	// N of its own objects has seen 300 distinct ones only after ~1.6x as
	// many reads when N is 480 (novelty ~0.64).
	Novelty float64 `yaml:"novelty"`
}

// RateAnomalyConfig: an entity far above its own baseline AND its population.
type RateAnomalyConfig struct {
	Common   `yaml:",inline"`
	Window   time.Duration `yaml:"window"`    // default 5m (the history bucket)
	HalfLife time.Duration `yaml:"half_life"` // EWMA half-life of the own baseline, default 1h
	// MinCount requests in Window before anything is scored (default 300,
	// 1 req/s; turbot's static guard is 300/min).
	MinCount float64 `yaml:"min_count"`
	// Surprise against the entity's own baseline (default 6), Ratio over it
	// (default 4) and robust z against the population (default 10).
	Surprise float64 `yaml:"surprise"`
	Ratio    float64 `yaml:"ratio"`
	RobustZ  float64 `yaml:"robust_z"`
}

// ShadowAPIConfig: undocumented or deprecated operations in use (API9).
type ShadowAPIConfig struct {
	Common `yaml:",inline"`
	Window time.Duration `yaml:"window"` // default 1h
	// MinRequests successful calls from MinClients distinct IPs to a route
	// missing from the spec (defaults 5 and 2, detection-methods §6 #9).
	MinRequests float64 `yaml:"min_requests"`
	MinClients  float64 `yaml:"min_clients"`
	// DeprecatedCalls in Window to a deprecated operation (default 1).
	DeprecatedCalls float64 `yaml:"deprecated_calls"`
	// Ignore lists paths that are web content rather than API operations
	// (OpenAPI specs do not describe them): prefixes, or with a leading "*"
	// suffixes. Defaults cover static assets, favicon, robots and
	// well-known files.
	Ignore []string `yaml:"ignore"`
}

// ErrorSpikeConfig: a route's 5xx ratio far above its baseline.
type ErrorSpikeConfig struct {
	Common   `yaml:",inline"`
	Window   time.Duration `yaml:"window"`    // default 5m
	HalfLife time.Duration `yaml:"half_life"` // default 2h
	// Binomial surprise of the window's 5xx count at the baseline ratio
	// (default 6), at least MinRequests requests and MinErrors errors
	// (defaults 50 and 10) and a ratio at least MinIncrease above the
	// baseline (default 0.10; detection-methods §6 #10).
	Surprise    float64 `yaml:"surprise"`
	MinRequests float64 `yaml:"min_requests"`
	MinErrors   float64 `yaml:"min_errors"`
	MinIncrease float64 `yaml:"min_increase"`
}

// DefaultConfig returns the configuration used when no file is given.
func DefaultConfig() Config {
	var c Config
	c.fill()
	return c
}

func dur(p *time.Duration, d time.Duration) {
	if *p == 0 {
		*p = d
	}
}

func num(p *float64, v float64) {
	if *p == 0 {
		*p = v
	}
}

func sev(p *Severity, v Severity) {
	if *p == "" {
		*p = v
	}
}

func strs(p *[]string, v ...string) {
	if *p == nil {
		*p = v
	}
}

// fill sets every zero field to its default.
func (c *Config) fill() {
	dur(&c.Warmup, 30*time.Minute)
	if c.Samples == 0 {
		c.Samples = 5
	}
	if c.Top == 0 {
		c.Top = 20
	}
	strs(&c.Login.Methods, "POST")
	strs(&c.Login.Routes,
		"/login", "/signin", "/sign-in", "/session", "/sessions", "/auth/login", "/auth/signin",
		"/oauth/token", "/oauth2/token", "/token", "/user/login", "/users/login", "/users/sign_in",
		"/account/login", "/accounts/login", "/wp-login.php", "/xmlrpc.php",
		"/api/login", "/api/signin", "/api/session", "/api/sessions", "/api/auth/login", "/api/auth/token",
		"/api/*/login", "/api/*/signin", "/api/*/session", "/api/*/sessions",
		"/api/*/auth/login", "/api/*/auth/signin", "/api/*/auth/token", "/api/*/oauth/token",
		"/api/*/users/login", "/api/*/user/login")
	if c.Login.FailureStatuses == nil {
		c.Login.FailureStatuses = []int{401, 403}
	}
	if c.Login.Rules == nil {
		// WordPress answers a failed wp-login.php POST with 200 (the form
		// again) and a successful one with 302 to wp-admin.
		c.Login.Rules = []LoginRule{{Route: "/wp-login.php", FailureStatuses: []int{200}, SuccessStatuses: []int{302}}}
	}
	dur(&c.Incidents.Cooldown, 15*time.Minute)
	dur(&c.Incidents.ReportEvery, 30*time.Minute)

	lb := &c.LoginBurst
	sev(&lb.Severity, SeverityMedium)
	sev(&lb.Escalated, SeverityHigh)
	strs(&lb.Entities, EntityIP, EntityUser, EntityGlobal)
	dur(&lb.Window, 10*time.Minute)
	dur(&lb.BurstWindow, time.Minute)
	num(&lb.IPFailures, 10)
	num(&lb.IPFailureRatio, 0.5)
	num(&lb.BurstFailures, 6)
	num(&lb.UserFailures, 10)
	num(&lb.UserIPs, 3)
	num(&lb.TakeoverFailures, 5)
	num(&lb.GlobalRobustZ, 5)
	num(&lb.GlobalMinFailures, 30)
	num(&lb.GlobalRatio, 3)

	cs := &c.CredentialStuffing
	sev(&cs.Severity, SeverityHigh)
	sev(&cs.Escalated, SeverityCritical)
	strs(&cs.Entities, EntityIP, EntityNetwork, EntityUserAgent, EntityCampaign)
	dur(&cs.Window, time.Hour)
	num(&cs.IPFailures, 30)
	num(&cs.IPAccounts, 6)
	num(&cs.FailureRatio, 0.5)
	num(&cs.SharedIPs, 5)
	num(&cs.SharedAccounts, 20)
	dur(&cs.CampaignWindow, 30*time.Minute)
	num(&cs.CampaignSurprise, 6)
	num(&cs.CampaignIPs, 20)
	num(&cs.CampaignAccounts, 50)

	sc := &c.Scanning
	sev(&sc.Severity, SeverityMedium)
	sev(&sc.Escalated, SeverityHigh)
	strs(&sc.Entities, EntityIP)
	dur(&sc.Window, 5*time.Minute)
	num(&sc.NotFoundPaths, 20)
	num(&sc.NotFoundRatio, 0.5)
	num(&sc.MinRequests, 30)
	num(&sc.SensitivePaths, 3)
	strs(&sc.Sensitive,
		"/.env", "/.git", "/.svn", "/.hg", "/.aws", "/.ssh", "/.htaccess", "/.htpasswd", "/.DS_Store",
		"/.bash_history", "/.bashrc", "/.config", "/.docker", "/.npmrc", "/.kube",
		"/wp-config.php", "/wp-admin/install.php", "/phpmyadmin", "/pma", "/phpinfo.php", "/adminer.php",
		"/actuator", "/server-status", "/server-info", "/config.json", "/config.yml", "/web.config",
		"/backup", "/db.sql", "/dump.sql", "/id_rsa", "/etc/passwd", "/cgi-bin/", "/vendor/phpunit",
		"/console", "/debug", "/_profiler", "/telescope", "/solr/admin", "/manager/html", "/jmx-console",
		"*.sql", "*.bak", "*.old", "*.swp", "*~")

	en := &c.Enumeration
	sev(&en.Severity, SeverityMedium)
	sev(&en.Escalated, SeverityHigh)
	strs(&en.Entities, EntityIP)
	dur(&en.Window, 10*time.Minute)
	num(&en.DistinctIDs, 20)
	num(&en.DeniedRatio, 0.5)
	num(&en.SequentialScore, 0.8)
	strs(&en.IDQueryParams, "id", "author", "user_id", "page", "offset")

	sp := &c.Scraping
	sev(&sp.Severity, SeverityMedium)
	sev(&sp.Escalated, SeverityHigh)
	strs(&sp.Entities, EntityIP)
	dur(&sp.Window, 10*time.Minute)
	num(&sp.DistinctItems, 300)
	num(&sp.SuccessRatio, 0.8)
	num(&sp.Novelty, 0.8)

	ra := &c.RateAnomaly
	sev(&ra.Severity, SeverityLow)
	sev(&ra.Escalated, SeverityMedium)
	strs(&ra.Entities, EntityIP)
	dur(&ra.Window, 5*time.Minute)
	dur(&ra.HalfLife, time.Hour)
	num(&ra.MinCount, 300)
	num(&ra.Surprise, 6)
	num(&ra.Ratio, 4)
	num(&ra.RobustZ, 10)

	sh := &c.ShadowAPI
	sev(&sh.Severity, SeverityMedium)
	sev(&sh.Escalated, SeverityLow) // deprecated (zombie) calls
	strs(&sh.Entities, EntityRoute)
	dur(&sh.Window, time.Hour)
	num(&sh.MinRequests, 5)
	num(&sh.MinClients, 2)
	num(&sh.DeprecatedCalls, 1)
	strs(&sh.Ignore, "/static/", "/assets/", "/public/", "/favicon.ico", "/robots.txt", "/sitemap.xml",
		"/.well-known/", "*.js", "*.mjs", "*.css", "*.map", "*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg",
		"*.ico", "*.webp", "*.avif", "*.woff", "*.woff2", "*.ttf", "*.eot", "*.html", "*.htm", "*.txt")

	es := &c.ErrorSpike
	sev(&es.Severity, SeverityMedium)
	sev(&es.Escalated, SeverityHigh)
	strs(&es.Entities, EntityRoute)
	dur(&es.Window, 5*time.Minute)
	dur(&es.HalfLife, 2*time.Hour)
	num(&es.Surprise, 6)
	num(&es.MinRequests, 50)
	num(&es.MinErrors, 10)
	num(&es.MinIncrease, 0.10)
}

// LoadConfig reads a YAML file over DefaultConfig. Unknown keys, bad
// durations, bad CIDRs and thresholds out of range are refused with
// file:line:column and what is wrong.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read detector config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig on bytes; name is used in error messages.
func ParseConfig(name string, data []byte) (Config, error) {
	cfg := DefaultConfig()
	if err := CheckDurations(name, data); err != nil {
		return Config{}, err
	}
	if err := yaml.UnmarshalWithOptions(data, &cfg, yaml.DisallowUnknownField()); err != nil {
		return Config{}, YAMLError(name, err)
	}
	if err := cfg.FinishAt(name, data, ""); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// CheckDurations reports every bad duration under a detector duration key
// with its file:line:column; the YAML decoder reports them without one.
// Callers that embed Config in a larger file run it on the whole file.
func CheckDurations(name string, data []byte) error {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil // the decoder reports syntax errors with positions
	}
	v := &durationCheck{name: name}
	for _, d := range file.Docs {
		if d.Body != nil {
			ast.Walk(v, d.Body)
		}
	}
	if len(v.errs) > 0 {
		return errors.New(strings.Join(v.errs, "\n"))
	}
	return nil
}

// YAMLError words a decoder error as name:line:column: message.
func YAMLError(name string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		p := ye.GetToken().Position
		return fmt.Errorf("%s:%d:%d: %s", name, p.Line, p.Column, ye.GetMessage())
	}
	return fmt.Errorf("%s: %w", name, err)
}

// FinishAt fills defaults into a Config decoded from data and validates
// it, naming each error's file:line:column. root is the dotted path of the
// Config inside data ("" when the file is the detector config itself,
// "detectors" inside gatewatch's service config).
func (c *Config) FinishAt(name string, data []byte, root string) error {
	c.fill()
	errs := c.validate()
	if len(errs) == 0 {
		return nil
	}
	file, _ := parser.ParseBytes(data, 0)
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		path := e.path
		if root != "" {
			path = root + "." + path
		}
		msgs = append(msgs, name+":"+position(file, path)+": "+path+": "+e.msg)
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// position finds the line:column of a dotted path (a.b[2].c) in the file,
// falling back to the nearest parent that is present, and to "1:1" when the
// value came from defaults.
func position(file *ast.File, path string) string {
	if file == nil {
		return "1:1"
	}
	for path != "" {
		if p, err := yaml.PathString("$." + path); err == nil {
			if n, err := p.FilterFile(file); err == nil && n != nil && n.GetToken() != nil {
				pos := n.GetToken().Position
				return strconv.Itoa(pos.Line) + ":" + strconv.Itoa(pos.Column)
			}
		}
		cut := strings.LastIndexAny(path, ".[")
		if cut < 0 {
			break
		}
		path = path[:cut]
	}
	return "1:1"
}

// durationKeys are the config keys holding durations.
var durationKeys = map[string]bool{
	"window": true, "burst_window": true, "campaign_window": true, "half_life": true,
	"warmup": true, "cooldown": true, "report_every": true,
}

type durationCheck struct {
	name string
	errs []string
}

func (v *durationCheck) Visit(n ast.Node) ast.Visitor {
	mv, ok := n.(*ast.MappingValueNode)
	if !ok || mv.Key == nil || mv.Value == nil || !durationKeys[mv.Key.String()] {
		return v
	}
	if _, isMap := mv.Value.(*ast.MappingNode); isMap {
		return v
	}
	text := strings.TrimSpace(mv.Value.String())
	if _, err := time.ParseDuration(strings.Trim(text, `"'`)); err != nil {
		pos := mv.Value.GetToken().Position
		v.errs = append(v.errs, v.name+":"+strconv.Itoa(pos.Line)+":"+strconv.Itoa(pos.Column)+": "+mv.Key.String()+
			": bad duration "+strconv.Quote(text)+": write Go durations such as 90s, 10m or 1h30m")
	}
	return v
}

type cfgErr struct{ path, msg string }

// Validate checks a configuration built in code; LoadConfig runs it too.
func (c Config) Validate() error {
	cc := c
	cc.fill()
	errs := cc.validate()
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.path+": "+e.msg)
	}
	return errors.New("invalid detector config: " + strings.Join(msgs, "; "))
}

func (c *Config) validate() []cfgErr {
	var errs []cfgErr
	add := func(path, msg string) { errs = append(errs, cfgErr{path, msg}) }
	checkAllow := func(prefix string, a Allowlist) {
		for i, s := range a.CIDRs {
			if _, err := parsePrefix(s); err != nil {
				add(prefix+".cidrs["+strconv.Itoa(i)+"]", err.Error())
			}
		}
	}
	positive := func(path string, d time.Duration) {
		if d < 0 {
			add(path, "must be positive, got "+d.String())
		}
	}
	window := func(path string, d time.Duration) {
		if d < time.Minute || d > 24*time.Hour {
			add(path, "window must be between 1m and 24h, got "+d.String())
		}
	}
	atLeast := func(path string, v, min float64) {
		if v < min {
			add(path, "must be at least "+strconv.FormatFloat(min, 'g', -1, 64)+", got "+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	ratio := func(path string, v float64) {
		if v <= 0 || v > 1 {
			add(path, "must be a ratio in (0, 1], got "+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	status := func(path string, ss []int) {
		for i, s := range ss {
			if s < 100 || s > 599 {
				add(path+"["+strconv.Itoa(i)+"]", "HTTP status must be 100..599, got "+strconv.Itoa(s))
			}
		}
	}
	common := func(name string, cm Common, allowed ...string) {
		if !cm.Severity.Valid() {
			add(name+".severity", "must be one of info, low, medium, high, critical; got "+strconv.Quote(string(cm.Severity)))
		}
		if !cm.Escalated.Valid() {
			add(name+".escalated", "must be one of info, low, medium, high, critical; got "+strconv.Quote(string(cm.Escalated)))
		}
		checkAllow(name+".allowlist", cm.Allowlist)
	next:
		for i, e := range cm.Entities {
			for _, a := range allowed {
				if e == a {
					continue next
				}
			}
			add(name+".entities["+strconv.Itoa(i)+"]", "unknown entity "+strconv.Quote(e)+" for this detector; use one of "+strings.Join(allowed, ", "))
		}
	}

	checkAllow("allowlist", c.Allowlist)
	positive("warmup", c.Warmup)
	atLeast("samples", float64(c.Samples), 0)
	atLeast("top", float64(c.Top), 0)
	for i, m := range c.Login.Methods {
		if m == "" || strings.ToUpper(m) != m {
			add("login.methods["+strconv.Itoa(i)+"]", "HTTP method must be upper case, got "+strconv.Quote(m))
		}
	}
	for i, r := range c.Login.Routes {
		if !strings.HasPrefix(r, "/") {
			add("login.routes["+strconv.Itoa(i)+"]", "route must start with /, got "+strconv.Quote(r))
		}
	}
	status("login.failure_statuses", c.Login.FailureStatuses)
	status("login.extra_failure_statuses", c.Login.ExtraFailureStatuses)
	for i, r := range c.Login.Rules {
		p := "login.rules[" + strconv.Itoa(i) + "]"
		if !strings.HasPrefix(r.Route, "/") {
			add(p+".route", "route must start with /, got "+strconv.Quote(r.Route))
		}
		if len(r.FailureStatuses) == 0 {
			add(p+".failure_statuses", "a rule needs at least one failure status")
		}
		status(p+".failure_statuses", r.FailureStatuses)
		status(p+".success_statuses", r.SuccessStatuses)
	}
	positive("incidents.cooldown", c.Incidents.Cooldown)
	positive("incidents.report_every", c.Incidents.ReportEvery)

	lb := c.LoginBurst
	common("login_burst", lb.Common, EntityIP, EntityUser, EntityGlobal)
	window("login_burst.window", lb.Window)
	window("login_burst.burst_window", lb.BurstWindow)
	atLeast("login_burst.ip_failures", lb.IPFailures, 1)
	ratio("login_burst.ip_failure_ratio", lb.IPFailureRatio)
	atLeast("login_burst.burst_failures", lb.BurstFailures, 1)
	atLeast("login_burst.user_failures", lb.UserFailures, 1)
	atLeast("login_burst.user_ips", lb.UserIPs, 1)
	atLeast("login_burst.takeover_failures", lb.TakeoverFailures, 1)
	atLeast("login_burst.global_robust_z", lb.GlobalRobustZ, 1)
	atLeast("login_burst.global_min_failures", lb.GlobalMinFailures, 1)
	atLeast("login_burst.global_ratio", lb.GlobalRatio, 1)

	cs := c.CredentialStuffing
	common("credential_stuffing", cs.Common, EntityIP, EntityNetwork, EntityUserAgent, EntityCampaign)
	window("credential_stuffing.window", cs.Window)
	window("credential_stuffing.campaign_window", cs.CampaignWindow)
	atLeast("credential_stuffing.ip_failures", cs.IPFailures, 1)
	atLeast("credential_stuffing.ip_accounts", cs.IPAccounts, 2)
	ratio("credential_stuffing.failure_ratio", cs.FailureRatio)
	atLeast("credential_stuffing.shared_ips", cs.SharedIPs, 2)
	atLeast("credential_stuffing.shared_accounts", cs.SharedAccounts, 2)
	atLeast("credential_stuffing.campaign_surprise", cs.CampaignSurprise, 1)
	atLeast("credential_stuffing.campaign_ips", cs.CampaignIPs, 2)
	atLeast("credential_stuffing.campaign_accounts", cs.CampaignAccounts, 2)

	sc := c.Scanning
	common("scanning", sc.Common, EntityIP)
	window("scanning.window", sc.Window)
	atLeast("scanning.not_found_paths", sc.NotFoundPaths, 2)
	ratio("scanning.not_found_ratio", sc.NotFoundRatio)
	atLeast("scanning.min_requests", sc.MinRequests, 1)
	atLeast("scanning.sensitive_paths", sc.SensitivePaths, 1)
	for i, s := range sc.Sensitive {
		if s == "" || (s[0] != '/' && s[0] != '*') {
			add("scanning.sensitive["+strconv.Itoa(i)+"]", "must be a path prefix starting with / or a suffix starting with *, got "+strconv.Quote(s))
		}
	}

	en := c.Enumeration
	common("enumeration", en.Common, EntityIP)
	window("enumeration.window", en.Window)
	atLeast("enumeration.distinct_ids", en.DistinctIDs, 2)
	ratio("enumeration.denied_ratio", en.DeniedRatio)
	ratio("enumeration.sequential_score", en.SequentialScore)

	sp := c.Scraping
	common("scraping", sp.Common, EntityIP)
	window("scraping.window", sp.Window)
	atLeast("scraping.distinct_items", sp.DistinctItems, 2)
	ratio("scraping.success_ratio", sp.SuccessRatio)
	ratio("scraping.novelty", sp.Novelty)

	ra := c.RateAnomaly
	common("rate_anomaly", ra.Common, EntityIP)
	window("rate_anomaly.window", ra.Window)
	window("rate_anomaly.half_life", ra.HalfLife)
	atLeast("rate_anomaly.min_count", ra.MinCount, 1)
	atLeast("rate_anomaly.surprise", ra.Surprise, 1)
	atLeast("rate_anomaly.ratio", ra.Ratio, 1)
	atLeast("rate_anomaly.robust_z", ra.RobustZ, 1)

	sh := c.ShadowAPI
	common("shadow_api", sh.Common, EntityRoute)
	window("shadow_api.window", sh.Window)
	atLeast("shadow_api.min_requests", sh.MinRequests, 1)
	atLeast("shadow_api.min_clients", sh.MinClients, 1)
	atLeast("shadow_api.deprecated_calls", sh.DeprecatedCalls, 1)

	es := c.ErrorSpike
	common("error_spike", es.Common, EntityRoute)
	window("error_spike.window", es.Window)
	window("error_spike.half_life", es.HalfLife)
	atLeast("error_spike.surprise", es.Surprise, 1)
	atLeast("error_spike.min_requests", es.MinRequests, 1)
	atLeast("error_spike.min_errors", es.MinErrors, 1)
	ratio("error_spike.min_increase", es.MinIncrease)
	return errs
}

// parsePrefix accepts a CIDR or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not a CIDR (want e.g. 10.0.0.0/8 or 2001:db8::/32): %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR (want e.g. 192.0.2.1 or 10.0.0.0/8): %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
