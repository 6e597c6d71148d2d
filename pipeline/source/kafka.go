package source

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/gatewatch/gatewatch/detectors"
)

// KafkaConfig configures the Kafka consumer group source. Brokers, Topics and
// GroupID are required; every other zero value picks a working default.
type KafkaConfig struct {
	Brokers []string
	Topics  []string
	GroupID string
	// StartOffset is where a partition without a committed offset starts:
	// "earliest" (the default) or "latest". The same policy applies when a
	// committed offset is no longer in the log (retention deleted it).
	StartOffset string
	BatchSize   int           // messages per Handle call; default 1000
	BatchWait   time.Duration // flush a partial batch after this; default 200ms

	// TLS, when set, is used as is. Otherwise TLSFiles builds one when it is
	// enabled or names any file.
	TLS      *tls.Config
	TLSFiles TLSFiles
	SASL     SASL

	// Consumer group timing; zero picks the default in parentheses.
	SessionTimeout    time.Duration // (30s) the broker evicts a member silent this long
	RebalanceTimeout  time.Duration // (30s) how long a rebalance waits for members to rejoin
	HeartbeatInterval time.Duration // (3s) must be well below SessionTimeout

	Logger *slog.Logger

	// Skip, when set, is asked once per newly assigned partition for the
	// highest offset whose effects are already durable elsewhere (the window
	// store records it atomically with its updates). Messages at or below it
	// are not handed to the Handler again, but their offsets are still
	// committed. Return -1 when unknown. An error is retried with backoff.
	Skip func(ctx context.Context, topic string, partition int32) (int64, error)
}

// TLSFiles builds a tls.Config from PEM files.
type TLSFiles struct {
	Enable             bool   // use TLS with the system roots even if no file is named
	CAFile             string // PEM bundle of CAs that sign the brokers' certificates
	CertFile, KeyFile  string // client certificate and key, for brokers that require mTLS
	InsecureSkipVerify bool   // accept any broker certificate: for trials only
}

// Config returns nil when TLS is not enabled and no file is named.
func (f TLSFiles) Config() (*tls.Config, error) {
	if !f.Enable && f.CAFile == "" && f.CertFile == "" && f.KeyFile == "" && !f.InsecureSkipVerify {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.InsecureSkipVerify} //nolint:gosec // opt-in, documented as for trials only
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: read TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: TLS CA file %s holds no PEM certificate; point kafka.tls.ca_file at a PEM bundle", f.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("kafka: TLS client certificate and key must be set together; set both kafka.tls.cert_file and kafka.tls.key_file, or neither")
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: load TLS client certificate %s and key %s: %w", f.CertFile, f.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// security returns the TLS config (nil: plaintext) and SASL mechanism (nil:
// none) that cfg asks for.
func (cfg KafkaConfig) security() (*tls.Config, sasl.Mechanism, error) {
	t := cfg.TLS
	if t == nil {
		var err error
		if t, err = cfg.TLSFiles.Config(); err != nil {
			return nil, nil, err
		}
	}
	mech, err := cfg.SASL.mechanism()
	if err != nil {
		return nil, nil, err
	}
	return t, mech, nil
}

// SASL authentication. Mechanism is "" (none), "PLAIN", "SCRAM-SHA-256" or
// "SCRAM-SHA-512".
type SASL struct {
	Mechanism          string
	Username, Password string
}

func (s SASL) mechanism() (sasl.Mechanism, error) {
	m := strings.ToUpper(s.Mechanism)
	if m != "" && s.Username == "" {
		return nil, fmt.Errorf("kafka: SASL mechanism %s needs a username; set kafka.sasl.username", m)
	}
	switch m {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		algo := scram.SHA256
		if m == "SCRAM-SHA-512" {
			algo = scram.SHA512
		}
		mech, err := scram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka: SASL %s: %w", m, err)
		}
		return mech, nil
	default:
		return nil, fmt.Errorf("kafka: unknown SASL mechanism %q; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
}

// Defaults. The group timings are kafka-go's (and close to the Java
// client's); the join backoff is shorter than kafka-go's 5s so that a worker
// is back quickly after a broker restart.
const (
	defaultBatchSize         = 1000
	defaultBatchWait         = 200 * time.Millisecond
	defaultSessionTimeout    = 30 * time.Second
	defaultRebalanceTimeout  = 30 * time.Second
	defaultHeartbeatInterval = 3 * time.Second
	joinGroupBackoff         = 2 * time.Second
	dialTimeout              = 10 * time.Second
)

// Kafka is a consumer group source. Each generation of the group reads its
// assigned partitions, one goroutine per partition, and commits a batch's
// offsets only after the Handler returned nil for it.
type Kafka struct {
	cfg         KafkaConfig
	startOffset int64 // kafka.FirstOffset or kafka.LastOffset
	dialer      *kafka.Dialer
	log         *slog.Logger
}

// NewKafka validates cfg and fills in defaults. It does not connect: broker
// problems are reported (and retried) by Run.
func NewKafka(cfg KafkaConfig) (*Kafka, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers configured; set kafka.brokers")
	}
	if len(cfg.Topics) == 0 {
		return nil, errors.New("kafka: no topics configured; set kafka.topics")
	}
	if cfg.GroupID == "" {
		return nil, errors.New("kafka: no consumer group configured; set kafka.group_id (every worker of one deployment uses the same)")
	}
	k := &Kafka{log: orDefault(cfg.Logger).With("source", "kafka", "group", cfg.GroupID)}
	switch strings.ToLower(cfg.StartOffset) {
	case "", "earliest":
		k.startOffset = kafka.FirstOffset
	case "latest":
		k.startOffset = kafka.LastOffset
	default:
		return nil, fmt.Errorf("kafka: start offset %q is not known; use \"earliest\" or \"latest\"", cfg.StartOffset)
	}
	if cfg.BatchSize < 0 || cfg.BatchWait < 0 || cfg.SessionTimeout < 0 || cfg.RebalanceTimeout < 0 || cfg.HeartbeatInterval < 0 {
		return nil, errors.New("kafka: batch size, batch wait and group timeouts must not be negative; leave them 0 for the defaults")
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = defaultBatchSize
	}
	if cfg.BatchWait == 0 {
		cfg.BatchWait = defaultBatchWait
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = defaultSessionTimeout
	}
	if cfg.RebalanceTimeout == 0 {
		cfg.RebalanceTimeout = defaultRebalanceTimeout
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = min(defaultHeartbeatInterval, cfg.SessionTimeout/3)
	}
	if cfg.HeartbeatInterval >= cfg.SessionTimeout {
		return nil, fmt.Errorf("kafka: heartbeat interval %s must be shorter than the session timeout %s (a third of it is usual)", cfg.HeartbeatInterval, cfg.SessionTimeout)
	}
	tlsConfig, mech, err := cfg.security()
	if err != nil {
		return nil, err
	}
	cfg.TLS = tlsConfig
	k.cfg = cfg
	k.dialer = &kafka.Dialer{
		ClientID:      "gatewatch",
		Timeout:       dialTimeout,
		DualStack:     true,
		TLS:           tlsConfig,
		SASLMechanism: mech,
	}
	return k, nil
}

// Run consumes until ctx ends, then leaves the group and returns nil. It
// returns an error only for a configuration the brokers reject (bad session
// timeout, authorisation or authentication, certificate); unreachable brokers
// and rebalances are logged and retried.
func (k *Kafka) Run(ctx context.Context, h Handler) error {
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                k.cfg.GroupID,
		Brokers:           k.cfg.Brokers,
		Dialer:            k.dialer,
		Topics:            k.cfg.Topics,
		HeartbeatInterval: k.cfg.HeartbeatInterval,
		SessionTimeout:    k.cfg.SessionTimeout,
		RebalanceTimeout:  k.cfg.RebalanceTimeout,
		JoinGroupBackoff:  joinGroupBackoff,
		StartOffset:       k.startOffset,
		// A new partition added to a topic should be picked up without a
		// restart.
		WatchPartitionChanges: true,
		ErrorLogger:           kafka.LoggerFunc(k.debugf),
		Timeout:               dialTimeout,
	})
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	// Close leaves the group so the others take over at once instead of
	// after a session timeout. It waits for the partition goroutines, which
	// stop because ctx ended.
	defer cg.Close()

	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if cerr := configError(err); cerr != nil {
				k.log.Error("kafka rejected the configuration; stopping", "err", cerr)
				return cerr
			}
			if errors.Is(err, kafka.RebalanceInProgress) {
				k.log.Info("group is rebalancing; rejoining")
			} else {
				k.log.Error("cannot join the consumer group; retrying (check that kafka.brokers is reachable from this host)",
					"err", err, "brokers", k.cfg.Brokers, "retry_in", joinGroupBackoff)
			}
			continue
		}
		k.startGeneration(ctx, gen, h)
	}
}

func (k *Kafka) debugf(format string, args ...any) {
	k.log.Debug("kafka-go: " + fmt.Sprintf(format, args...))
}

// configError says whether a group error is one retrying cannot fix.
func configError(err error) error {
	for _, e := range []kafka.Error{kafka.InvalidSessionTimeout, kafka.InvalidGroupId,
		kafka.GroupAuthorizationFailed, kafka.TopicAuthorizationFailed,
		kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism} {
		if errors.Is(err, e) {
			return fmt.Errorf("kafka: the broker rejected the consumer group setup (check group_id, session timeout, credentials and ACLs): %w", err)
		}
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return fmt.Errorf("kafka: broker certificate not trusted (set kafka.tls.ca_file to the CA that signed it): %w", err)
	}
	return nil
}

// startGeneration launches one reader per assigned partition. The
// generation ends (and kafka-go waits for the readers) on a rebalance.
func (k *Kafka) startGeneration(ctx context.Context, gen *kafka.Generation, h Handler) {
	var parts []string
	for topic, assigned := range gen.Assignments {
		for _, pa := range assigned {
			parts = append(parts, fmt.Sprintf("%s/%d@%d", topic, pa.ID, pa.Offset))
			gen.Start(func(genCtx context.Context) {
				k.consumePartition(ctx, genCtx, gen, topic, pa, h)
			})
		}
	}
	k.log.Info("joined consumer group generation", "generation", gen.ID, "member", gen.MemberID, "assigned", parts)
}

// consumePartition reads one partition for one generation. It stops when ctx
// ends or the generation ends; a batch not yet handled by then is dropped
// uncommitted, so the partition's next owner reads it again.
func (k *Kafka) consumePartition(ctx, genCtx context.Context, gen *kafka.Generation, topic string, pa kafka.PartitionAssignment, h Handler) {
	log := k.log.With("topic", topic, "partition", pa.ID, "generation", gen.ID)
	// fetchCtx ends with either the run or the generation.
	fetchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(genCtx, cancel)
	defer stop()
	abort := genCtx.Done()

	skip := int64(-1)
	if k.cfg.Skip != nil {
		var ok bool
		if skip, ok = k.askSkip(fetchCtx, log, topic, int32(pa.ID)); !ok {
			return
		}
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   k.cfg.Brokers,
		Topic:     topic,
		Partition: pa.ID,
		Dialer:    k.dialer,
		MinBytes:  1,
		MaxBytes:  16 << 20,
		MaxWait:   500 * time.Millisecond,
		// Prefetch a whole batch while the previous one is handled.
		QueueCapacity: k.cfg.BatchSize,
		// Without this the reader retries an out-of-range offset forever;
		// we reset to the start policy instead, as Kafka's
		// auto.offset.reset does.
		OffsetOutOfRangeError: true,
		ErrorLogger:           kafka.LoggerFunc(k.debugf),
	})
	defer r.Close()
	if err := r.SetOffset(pa.Offset); err != nil {
		log.Error("cannot position the partition reader", "offset", pa.Offset, "err", err)
		return
	}
	log.Debug("reading partition", "from", pa.Offset, "skip_through", skip)

	batch := make([]Message, 0, k.cfg.BatchSize)
	commit := map[string]map[int]int64{topic: {pa.ID: 0}}
	fetchDelay := minRetryDelay
	for {
		batch = batch[:0]
		err := k.fill(fetchCtx, r, &batch, topic)
		if fetchCtx.Err() != nil {
			// Whatever was read is not handled: the next owner (or this
			// worker after restart) reads it again from the committed offset.
			return
		}
		if len(batch) > 0 {
			if !k.deliver(ctx, genCtx, gen, commit, batch, skip, h, log) {
				return
			}
		}
		switch {
		case err == nil:
			fetchDelay = minRetryDelay
		case errors.Is(err, kafka.OffsetOutOfRange):
			log.Error("committed offset is no longer in the log (deleted by retention, or the topic was recreated); resuming from the start offset policy",
				"start_offset", k.startPolicyName(), "err", err)
			if err := r.SetOffset(k.startOffset); err != nil {
				log.Error("cannot reposition the partition reader", "err", err)
				return
			}
		default:
			log.Error("reading from kafka failed; retrying", "err", err, "retry_in", fetchDelay)
			if !sleep(ctx, abort, fetchDelay) {
				return
			}
			fetchDelay = min(2*fetchDelay, maxRetryDelay)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// deliver hands the batch (minus messages at or below skip) to h and then
// commits past it. It returns false when the partition must stop: the
// generation or the run ended before the batch was handled.
func (k *Kafka) deliver(ctx, genCtx context.Context, gen *kafka.Generation, commit map[string]map[int]int64,
	batch []Message, skip int64, h Handler, log *slog.Logger) bool {
	next := batch[len(batch)-1].Pos.Offset + 1
	todo := batch
	for len(todo) > 0 && todo[0].Pos.Offset <= skip {
		todo = todo[1:]
	}
	if len(todo) > 0 {
		if err := handleWithRetry(ctx, genCtx.Done(), h, todo, log); err != nil {
			log.Info("partition released before its batch was handled; the batch is left uncommitted for the next owner",
				"first", todo[0].Pos.Offset, "last", next-1)
			return false
		}
	}
	for _, parts := range commit {
		for p := range parts {
			parts[p] = next
		}
	}
	// Committed even if ctx just ended: the batch is done, and committing
	// spares the next owner a re-read. The generation's connection stays
	// open until the partition goroutine returns.
	if err := gen.CommitOffsets(commit); err != nil {
		if genCtx.Err() != nil || ctx.Err() != nil {
			log.Info("generation ended before the last batch was committed; the partition's next owner reads it again",
				"offset", next, "err", err)
			return false
		}
		// Commits are cumulative: the next batch's commit covers this one.
		log.Warn("committing offset failed; the next commit will cover it", "offset", next, "err", err)
	}
	return true
}

// fill reads one batch: it waits for the first message, then takes what
// arrives within BatchWait, up to BatchSize. It returns the error that ended
// the batch early, if any (a deadline is not one).
func (k *Kafka) fill(ctx context.Context, r *kafka.Reader, batch *[]Message, topic string) error {
	m, err := r.FetchMessage(ctx)
	if err != nil {
		return err
	}
	*batch = append(*batch, toMessage(topic, m))
	if k.cfg.BatchSize == 1 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, k.cfg.BatchWait)
	defer cancel()
	for len(*batch) < k.cfg.BatchSize {
		m, err := r.FetchMessage(wctx)
		if err != nil {
			if wctx.Err() != nil {
				return nil
			}
			return err
		}
		*batch = append(*batch, toMessage(topic, m))
	}
	return nil
}

func toMessage(topic string, m kafka.Message) Message {
	return Message{
		Value: m.Value,
		Pos:   detectors.Position{Topic: topic, Partition: int32(m.Partition), Offset: m.Offset},
		Time:  m.Time,
	}
}

// askSkip asks Skip until it answers; false means the partition was released
// or ctx ended meanwhile.
func (k *Kafka) askSkip(ctx context.Context, log *slog.Logger, topic string, partition int32) (int64, bool) {
	delay := minRetryDelay
	for {
		skip, err := k.cfg.Skip(ctx, topic, partition)
		if err == nil {
			return skip, true
		}
		if ctx.Err() != nil {
			return -1, false
		}
		log.Error("cannot learn which offsets are already applied; the partition waits (check the window store)", "err", err, "retry_in", delay)
		if !sleep(ctx, nil, delay) {
			return -1, false
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

func (k *Kafka) startPolicyName() string {
	if k.startOffset == kafka.LastOffset {
		return "latest"
	}
	return "earliest"
}
