// Package testenv gives tests real infrastructure: an in-process Kafka broker
// (kfake, which speaks the Kafka protocol over TCP, so kafka-go consumer
// groups and commits run for real) and a real Redis server.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka starts an in-process broker on a free loopback port with the given
// topics seeded (partitions each) and returns its bootstrap address. The
// broker is closed when the test ends.
func Kafka(tb testing.TB, partitions int32, topics ...string) string {
	tb.Helper()
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(0),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(int(partitions)),
		// kafka-go's default session timeout is 30 s; keep the broker's
		// bounds wide enough to accept shorter ones that tests use.
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		tb.Fatalf("start in-process Kafka broker: %v", err)
	}
	tb.Cleanup(c.Close)
	addrs := c.ListenAddrs()
	if len(addrs) == 0 {
		tb.Fatal("in-process Kafka broker has no listen address")
	}
	return addrs[0]
}

// RedisServer is a real Redis the test may use.
type RedisServer struct {
	Addr string
	// DB is a database number reserved for this test, so tests sharing one
	// server (REDIS_ADDR) do not see each other's keys.
	DB int
	// cmd is set when the server was started by this package; only then
	// can the test stop and restart it.
	cmd   *exec.Cmd
	dir   string
	port  int
	extra []string
}

var dbSeq atomic.Int32

// Redis returns a real Redis server: REDIS_ADDR when set (a database number
// between 1 and 15 is picked and flushed for the test), else a redis-server
// started on a free port for this test alone. The test is skipped with a
// clear message if neither is possible and GATEWATCH_REQUIRE_REDIS is unset;
// CI sets it so that a missing server fails the run instead.
func Redis(tb testing.TB) *RedisServer {
	tb.Helper()
	if addr := os.Getenv("REDIS_ADDR"); addr != "" {
		db := 1 + int(dbSeq.Add(1)-1+int32(os.Getpid()))%15
		s := &RedisServer{Addr: addr, DB: db}
		c := s.Client()
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.FlushDB(ctx).Err(); err != nil {
			tb.Fatalf("REDIS_ADDR=%s is set but Redis does not answer: %v", addr, err)
		}
		tb.Cleanup(func() {
			c := s.Client()
			defer c.Close()
			_ = c.FlushDB(context.Background()).Err()
		})
		return s
	}
	return StartRedis(tb)
}

// StartRedis starts a private redis-server on a free loopback port. Tests
// that stop and restart Redis (failure tests) must use this, not Redis.
// extra are more redis-server arguments, e.g. "--appendonly", "yes" for a
// server whose data survives Restart.
func StartRedis(tb testing.TB, extra ...string) *RedisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("GATEWATCH_REQUIRE_REDIS") != "" {
			tb.Fatalf("redis-server is not on PATH: install it (apt-get install redis-server) or set REDIS_ADDR")
		}
		tb.Skip("redis-server is not on PATH and REDIS_ADDR is unset: install redis-server to run this test")
	}
	s := &RedisServer{dir: tb.TempDir(), port: freePort(tb), extra: extra}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	if err := s.start(bin); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Stop() })
	return s
}

func (s *RedisServer) start(bin string) error {
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log")}
	// Later arguments win, so extra can turn persistence on.
	cmd := exec.Command(bin, append(args, s.extra...)...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c := redis.NewClient(&redis.Options{Addr: s.Addr})
		err := c.Ping(context.Background()).Err()
		c.Close()
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("redis-server on %s did not answer within 10s (log: %s)", s.Addr, filepath.Join(s.dir, "redis.log"))
}

// Client returns a new client for the server's test database.
func (s *RedisServer) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, DB: s.DB})
}

// Stop kills a server started by StartRedis (its data is lost, as in a
// crash of a Redis without persistence).
func (s *RedisServer) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_, _ = s.cmd.Process.Wait()
	s.cmd = nil
}

// Restart starts a stopped server again on the same port.
func (s *RedisServer) Restart(tb testing.TB) {
	tb.Helper()
	if s.dir == "" {
		tb.Fatal("Restart needs a server from StartRedis")
	}
	s.Stop()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.start(bin); err != nil {
		tb.Fatal(err)
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
