package window

import (
	"crypto/tls"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig says how to reach Redis: one address for a single server,
// several for Cluster, MasterName for Sentinel (Addrs are then the
// sentinels).
type RedisConfig struct {
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	DB         int
	TLS        *tls.Config
	// Timeouts; zero means go-redis's defaults (5s dial, 3s read/write).
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
}

// NewClient builds a go-redis UniversalClient for RedisStore. Client-side
// retries are turned off: a retried MULTI whose reply was lost would apply
// a batch twice; the pipeline retries whole batches itself, after checking
// AppliedOffsets.
func NewClient(cfg RedisConfig) redis.UniversalClient {
	addrs := cfg.Addrs
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1:6379"}
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:        addrs,
		MasterName:   cfg.MasterName,
		Username:     cfg.Username,
		Password:     cfg.Password,
		DB:           cfg.DB,
		TLSConfig:    cfg.TLS,
		DialTimeout:  cfg.DialTimeout,
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout,
		MaxRetries:   -1,
	})
}
