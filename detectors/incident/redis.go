package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatewatch/gatewatch/detectors"
)

// RedisOptions tune the Redis incident store. The zero value works.
type RedisOptions struct {
	// Prefix starts every key (default "gw"); keys are
	// <prefix>:inc:<detector>:<entity type>:<entity value>.
	Prefix string
	// Linger keeps an incident's key this long (wall time) beyond its
	// cooldown, so a worker that lags behind still finds it. Default 1h.
	Linger time.Duration
}

// Redis is an IncidentStore shared by every worker through Redis. Each hit
// runs one small Lua script on the incident's own key, so open-or-extend is
// atomic across workers and works on Redis Cluster (one key per script).
type Redis struct {
	c      redis.UniversalClient
	prefix string
	linger time.Duration
}

// NewRedis returns a Redis-backed incident store using client.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	if opts.Prefix == "" {
		opts.Prefix = "gw"
	}
	if opts.Linger <= 0 {
		opts.Linger = time.Hour
	}
	return &Redis{c: client, prefix: opts.Prefix, linger: opts.Linger}
}

// hitScript opens or extends one incident.
// KEYS[1] incident hash. ARGV: at_ms, severity rank, cooldown_ms,
// report_every_ms (0 = only on severity rise), proposed id, ttl_ms.
// Returns {id, opened(0/1), report(0/1), hits, first_ms, last_ms, severity}.
var hitScript = redis.NewScript(`
local at = tonumber(ARGV[1])
local sev = tonumber(ARGV[2])
local cd = tonumber(ARGV[3])
local re = tonumber(ARGV[4])
local v = redis.call('HMGET', KEYS[1], 'id', 'first', 'last', 'hits', 'sev', 'rep')
if (not v[1]) or (at > tonumber(v[3]) + cd) then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'id', ARGV[5], 'first', at, 'last', at, 'hits', 1, 'sev', sev, 'rep', at)
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  return {ARGV[5], 1, 1, 1, at, at, sev}
end
local last = tonumber(v[3])
if at > last then last = at end
local hits = tonumber(v[4]) + 1
local old = tonumber(v[5])
local rep = tonumber(v[6])
local report = 0
if sev > old or (re > 0 and at >= rep + re) then
  report = 1
  rep = at
end
if sev > old then old = sev end
redis.call('HSET', KEYS[1], 'last', last, 'hits', hits, 'sev', old, 'rep', rep)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {v[1], 0, report, hits, tonumber(v[2]), last, old}
`)

func (s *Redis) key(k detectors.IncidentKey) string {
	var b strings.Builder
	b.Grow(len(s.prefix) + len(k.Detector) + len(k.Entity.Type) + len(k.Entity.Value) + 8)
	b.WriteString(s.prefix)
	b.WriteString(":inc:")
	b.WriteString(k.Detector)
	b.WriteByte(':')
	b.WriteString(k.Entity.Type)
	b.WriteByte(':')
	b.WriteString(k.Entity.Value)
	return b.String()
}

// Hit implements detectors.IncidentStore: one pipelined round trip for the
// whole slice.
func (s *Redis) Hit(ctx context.Context, hits []detectors.IncidentHit) ([]detectors.IncidentUpdate, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	cmds, err := s.run(ctx, hits)
	if err != nil && isNoScript(err) {
		// First use on this server (or after a restart): load and retry.
		if lerr := hitScript.Load(ctx, s.c).Err(); lerr != nil {
			return nil, fmt.Errorf("load incident script into Redis: %w", lerr)
		}
		cmds, err = s.run(ctx, hits)
	}
	if err != nil {
		return nil, fmt.Errorf("record %d incident hits in Redis: %w", len(hits), err)
	}
	out := make([]detectors.IncidentUpdate, len(hits))
	for i, c := range cmds {
		vals, err := c.Slice()
		if err != nil || len(vals) != 7 {
			return nil, fmt.Errorf("incident script returned %v (err %v): is the Redis server compatible?", vals, err)
		}
		id, _ := vals[0].(string)
		opened, _ := vals[1].(int64)
		report, _ := vals[2].(int64)
		n, _ := vals[3].(int64)
		first, _ := vals[4].(int64)
		last, _ := vals[5].(int64)
		sev, _ := vals[6].(int64)
		st := detectors.IncidentExtended
		if opened == 1 {
			st = detectors.IncidentOpened
		}
		out[i] = detectors.IncidentUpdate{
			ID: id, State: st, Report: report == 1, Hits: n,
			FirstSeen: time.UnixMilli(first).UTC(), LastSeen: time.UnixMilli(last).UTC(),
			Severity: severityOf(int(sev)),
		}
	}
	return out, nil
}

func (s *Redis) run(ctx context.Context, hits []detectors.IncidentHit) ([]*redis.Cmd, error) {
	pipe := s.c.Pipeline()
	cmds := make([]*redis.Cmd, len(hits))
	for i, h := range hits {
		sev := h.Severity.Rank()
		if sev < 0 {
			sev = 0
		}
		ttl := h.Cooldown + s.linger
		cmds[i] = hitScript.EvalSha(ctx, pipe, []string{s.key(h.Key)},
			h.At.UnixMilli(), sev, h.Cooldown.Milliseconds(), h.ReportEvery.Milliseconds(),
			ID(h.Key, h.At), ttl.Milliseconds())
	}
	_, err := pipe.Exec(ctx)
	return cmds, err
}

func isNoScript(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "NOSCRIPT")
}
