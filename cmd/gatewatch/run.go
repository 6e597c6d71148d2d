package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/gatewatch/gatewatch/pipeline"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "[flags]",
		"Joins a Kafka consumer group, parses every gateway log line it is given, keeps window\n"+
			"statistics and incidents in Redis (shared by every worker of the group) and writes one JSON\n"+
			"detection record per line to stdout or the configured file. Offsets are committed only\n"+
			"after a batch's window updates, dead letters and detections are durable. Unparseable lines\n"+
			"go to the dead-letter topic (<topic>.dlq by default) with the reason in headers.\n"+
			"Prometheus metrics and /healthz are served on metrics.listen.", stderr)
	config := fs.String("config", "", "YAML config file (see deployments/gatewatch.yaml); without it, Kafka at 127.0.0.1:9092, topic gateway-logs, Redis at 127.0.0.1:6379")
	var brokers, topics stringList
	fs.Var(&brokers, "broker", "Kafka bootstrap broker host:port (repeatable; overrides the config)")
	fs.Var(&topics, "topic", "Kafka topic to consume (repeatable; overrides the config)")
	group := fs.String("group", "", "consumer group id (overrides the config)")
	redisAddr := fs.String("redis", "", "Redis host:port (overrides the config)")
	metrics := fs.String("metrics-listen", "", "address for /metrics and /healthz (overrides the config; default :9464)")
	verbose := fs.Bool("v", false, "log at debug level")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: run takes flags only", fs.Arg(0))
	}
	cfg := pipeline.DefaultConfig()
	if *config != "" {
		var err error
		if cfg, err = pipeline.LoadConfig(*config); err != nil {
			return err
		}
	}
	if len(brokers) > 0 {
		cfg.Kafka.Brokers = brokers
	}
	if len(topics) > 0 {
		cfg.Kafka.Topics = topics
	}
	if *group != "" {
		cfg.Kafka.GroupID = *group
	}
	if *redisAddr != "" {
		cfg.Redis.Addrs = []string{*redisAddr}
	}
	if *metrics != "" {
		cfg.Metrics.Listen = *metrics
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	svc, err := pipeline.NewService(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	err = svc.Run(ctx)
	if _, werr := svc.Summary().WriteTo(stderr); werr != nil && err == nil {
		err = werr
	}
	return err
}
