package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/gatewatch/gatewatch/detectors/window"
	"github.com/gatewatch/gatewatch/pipeline/route"
	"github.com/gatewatch/gatewatch/pipeline/source"
)

// Service is one detector worker: a member of the Kafka consumer group whose
// window and incident state lives in Redis, shared with every other worker.
type Service struct {
	cfg     Config
	log     *slog.Logger
	client  redis.UniversalClient
	det     *Detection
	kafka   *source.Kafka
	dlq     *source.KafkaDeadLetters
	proc    *Processor
	out     io.WriteCloser
	reg     *prometheus.Registry
	metrics *http.Server
	ln      net.Listener
}

// NewService checks the configuration and connects what needs connecting.
// It does not wait for Kafka: the consumer retries until brokers answer.
func NewService(ctx context.Context, cfg Config, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	po, err := cfg.Parse.Options()
	if err != nil {
		return nil, err
	}
	routes, err := route.New(route.Options{SpecFile: cfg.Routes.OpenAPI, MaxTemplates: cfg.Routes.MaxTemplates, MaxChildren: cfg.Routes.MaxChildren})
	if err != nil {
		return nil, err
	}

	rc := window.RedisConfig{Addrs: cfg.Redis.Addrs, MasterName: cfg.Redis.MasterName, Username: cfg.Redis.Username, Password: cfg.Redis.Password, DB: cfg.Redis.DB}
	if rc.TLS, err = tlsFiles(cfg.Redis.TLS).Config(); err != nil {
		return nil, fmt.Errorf("redis.tls: %w", err)
	}
	s.client = window.NewClient(rc)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = s.client.Ping(pingCtx).Err()
	cancel()
	if err != nil {
		return nil, fmt.Errorf("redis at %v does not answer: %w; check redis.addrs and that Redis is running", cfg.Redis.Addrs, err)
	}
	if s.det, err = NewDetection(cfg.Detectors, s.client, cfg.Redis.Prefix, log); err != nil {
		return nil, err
	}

	kc := source.KafkaConfig{
		Brokers: cfg.Kafka.Brokers, Topics: cfg.Kafka.Topics, GroupID: cfg.Kafka.GroupID,
		StartOffset: cfg.Kafka.StartOffset, BatchSize: cfg.Kafka.BatchSize, BatchWait: cfg.Kafka.BatchWait,
		TLSFiles: tlsFiles(cfg.Kafka.TLS),
		SASL:     source.SASL{Mechanism: cfg.Kafka.SASL.Mechanism, Username: cfg.Kafka.SASL.Username, Password: cfg.Kafka.SASL.Password},
		Logger:   log,
		Skip: func(ctx context.Context, topic string, partition int32) (int64, error) {
			stream := Stream(topic, partition)
			m, err := s.det.Store.AppliedOffsets(ctx, []string{stream})
			if err != nil {
				return -1, err
			}
			return m[stream], nil
		},
	}
	if s.kafka, err = source.NewKafka(kc); err != nil {
		return nil, err
	}
	dlTopic := cfg.Kafka.DeadLetterTopic
	if dlTopic == "" && len(cfg.Kafka.Topics) > 0 {
		dlTopic = cfg.Kafka.Topics[0] + ".dlq"
	}
	if s.dlq, err = source.NewKafkaDeadLetters(kc, dlTopic); err != nil {
		return nil, err
	}

	s.out = nopCloser{os.Stdout}
	if cfg.Detections != "" && cfg.Detections != "-" {
		f, err := os.OpenFile(cfg.Detections, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open detections file: %w", err)
		}
		s.out = f
	}
	s.proc, err = NewProcessor(ProcessorConfig{
		Parse: po, Routes: routes, Engine: s.det.Engine,
		Detections:  NewWriterSink(s.out, false),
		DeadLetters: s.dlq,
		Metrics:     NewMetrics(s.reg),
	})
	if err != nil {
		return nil, err
	}
	if cfg.Metrics.Listen != "" {
		if s.ln, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			return nil, fmt.Errorf("metrics.listen %s: %w; pick a free address", cfg.Metrics.Listen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", s.healthz)
		s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	}
	ok = true
	return s, nil
}

// MetricsAddr is the address /metrics and /healthz listen on, if any.
func (s *Service) MetricsAddr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// healthz answers 200 while Redis answers: without it no batch can be
// applied, and the consumer is paused.
func (s *Service) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		http.Error(w, "redis unreachable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// Run consumes until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if s.metrics != nil {
		go func() {
			if err := s.metrics.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("metrics endpoint stopped", "err", err)
			}
		}()
	}
	s.log.Info("gatewatch worker started", "brokers", s.cfg.Kafka.Brokers, "topics", s.cfg.Kafka.Topics, "group", s.cfg.Kafka.GroupID, "metrics", s.MetricsAddr())
	return s.kafka.Run(ctx, s.proc)
}

// Summary returns the worker's running counts.
func (s *Service) Summary() *Summary { return s.proc.Summary() }

// Close releases every connection.
func (s *Service) Close() error {
	var errs []error
	if s.metrics != nil {
		errs = append(errs, s.metrics.Close())
	} else if s.ln != nil {
		errs = append(errs, s.ln.Close())
	}
	if s.dlq != nil {
		errs = append(errs, s.dlq.Close())
	}
	if s.det != nil {
		errs = append(errs, s.det.Close())
	}
	if s.client != nil {
		errs = append(errs, s.client.Close())
	}
	if s.out != nil {
		errs = append(errs, s.out.Close())
	}
	return errors.Join(errs...)
}

func tlsFiles(t TLSSection) source.TLSFiles {
	return source.TLSFiles{Enable: t.Enabled, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, InsecureSkipVerify: t.InsecureSkipVerify}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
