package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/pipeline/parse"
)

// Config is gatewatch's one config file. Every section is optional: the
// zero value runs with defaults (a local Kafka and Redis for 'run').
type Config struct {
	Kafka     KafkaSection     `yaml:"kafka"`
	Redis     RedisSection     `yaml:"redis"`
	Parse     ParseSection     `yaml:"parse"`
	Routes    RoutesSection    `yaml:"routes"`
	Detectors detectors.Config `yaml:"detectors"`
	Metrics   MetricsSection   `yaml:"metrics"`
	// Detections is a file that receives one JSON record per detection
	// ("-" or empty: stdout).
	Detections string `yaml:"detections"`
}

// KafkaSection configures the consumer group and dead-letter topic.
type KafkaSection struct {
	Brokers         []string      `yaml:"brokers"`
	Topics          []string      `yaml:"topics"`
	GroupID         string        `yaml:"group_id"`
	StartOffset     string        `yaml:"start_offset"` // earliest (default) or latest
	BatchSize       int           `yaml:"batch_size"`
	BatchWait       time.Duration `yaml:"batch_wait"`
	DeadLetterTopic string        `yaml:"dead_letter_topic"` // default <first topic>.dlq
	TLS             TLSSection    `yaml:"tls"`
	SASL            struct {
		Mechanism string `yaml:"mechanism"` // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
		Username  string `yaml:"username"`
		Password  string `yaml:"password"`
	} `yaml:"sasl"`
}

// TLSSection names certificate files; Enabled with no files uses the
// system roots.
type TLSSection struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// RedisSection configures the shared window store: one address for a
// single server, several for Cluster, master_name for Sentinel.
type RedisSection struct {
	Addrs      []string   `yaml:"addrs"`
	MasterName string     `yaml:"master_name"`
	Username   string     `yaml:"username"`
	Password   string     `yaml:"password"`
	DB         int        `yaml:"db"`
	Prefix     string     `yaml:"prefix"`
	TLS        TLSSection `yaml:"tls"`
}

// ParseSection configures the parsers.
type ParseSection struct {
	Format         string            `yaml:"format"` // empty: detect per line
	TrustedProxies []string          `yaml:"trusted_proxies"`
	JSONFields     map[string]string `yaml:"json_fields"`
	MaxLineBytes   int               `yaml:"max_line_bytes"`
}

// RoutesSection configures route naming.
type RoutesSection struct {
	OpenAPI      string `yaml:"openapi"`
	MaxTemplates int    `yaml:"max_templates"`
	MaxChildren  int    `yaml:"max_children"`
}

// MetricsSection configures the HTTP endpoint for /metrics and /healthz.
type MetricsSection struct {
	Listen string `yaml:"listen"` // default :9464
}

// DefaultConfig returns the configuration used when no file is given.
func DefaultConfig() Config {
	return Config{
		Kafka:     KafkaSection{Brokers: []string{"127.0.0.1:9092"}, Topics: []string{"gateway-logs"}, GroupID: "gatewatch"},
		Redis:     RedisSection{Addrs: []string{"127.0.0.1:6379"}},
		Detectors: detectors.DefaultConfig(),
		Metrics:   MetricsSection{Listen: ":9464"},
	}
}

// LoadConfig reads a YAML config file over the defaults. Unknown keys and
// bad values are refused with the file, line and column.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	if err := detectors.CheckDurations(path, data); err != nil {
		return cfg, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data), yaml.DisallowUnknownField())
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, detectors.YAMLError(path, err)
	}
	if err := cfg.Detectors.FinishAt(path, data, "detectors"); err != nil {
		return cfg, err
	}
	if _, err := cfg.Parse.Options(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Options turns the section into parser options.
func (s ParseSection) Options() (parse.Options, error) {
	o := parse.Options{JSONFields: s.JSONFields, MaxLineBytes: s.MaxLineBytes}
	if s.Format != "" {
		f, ok := detectors.ParseFormat(s.Format)
		if !ok {
			return o, fmt.Errorf("format %q (parse.format or --format) is not a known format: run 'gatewatch formats' for the list", s.Format)
		}
		o.Format = f
	}
	for _, c := range s.TrustedProxies {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return o, fmt.Errorf("trusted proxy %q (parse.trusted_proxies or --trusted-proxy) is not a CIDR such as 10.0.0.0/8", c)
		}
		o.TrustedProxies = append(o.TrustedProxies, p)
	}
	if _, err := parse.New(o); err != nil {
		return o, fmt.Errorf("parse: %w", err)
	}
	return o, nil
}
