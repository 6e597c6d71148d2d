// Package window keeps the detectors' sliding-window statistics: per
// (family, entity) counters, sums and distinct counts over event time,
// shared by every worker through Redis (RedisStore) or kept in process
// (Memory, same semantics, for trials and tests).
//
// # Buckets and window edges
//
// Count and Sum metrics are kept as per-bucket counters. The bucket size of
// a window follows its length: 5 s up to 5 min, 1 min up to 1 h, 10 min up
// to 6 h, 1 h beyond; History adds its own HistoryBucket tier. A tier keeps
// (longest window / bucket) + 1 buckets, ending with the bucket holding At.
//
// View.Value(m, w) covers (At-w, At]: buckets wholly inside count fully and
// the oldest bucket, which the window start cuts, is weighted by the
// fraction of it inside the window. So a 60 s window of 5 s buckets never
// adds a whole extra bucket; with events spread evenly inside that bucket
// it is exact, otherwise it is off by less than one bucket's share.
//
// Distinct metrics keep each member's newest event time, so their exact
// counts have exact edges. An entity keeps at most Schema.DistinctCap (64)
// live members; when more arrive, the oldest are dropped after the Apply
// that brought them, the newest dropped time is remembered, and from then
// on members also go into Redis-compatible HyperLogLogs (buckets of about
// 1/6 of the window, unioned over the buckets that start inside the
// window). Once an entity is over the cap, an Apply adds only its newest
// DistinctCap members (newest time per member; ties: member descending) to
// the exact part, since the others would be dropped right after it; all of
// them go into the HyperLogLogs. Distinct(m, w) is exact while no member
// newer than At-w was dropped; otherwise it is the estimate (never below
// the exact part) when the family's first metric has at least MinEvents in
// the window, else the exact part with exact=false. The estimate appears
// from the Apply after the one that crossed the cap.
//
// # Lateness
//
// Each store keeps a watermark, the newest event time it has applied, per
// stream (Kafka partition) and overall. A batch that marks one stream is
// judged against that stream's watermark, others against the overall one:
// partitions are consumed at different speeds (a backlog, a new
// assignment), and judging a lagging partition against the fastest would
// drop its in-order events as late. Operations are judged in batch order:
// one older than watermark-Lateness (default 2 min) is dropped and counted
// (Result.Late, Late()); others update their bucket. Judging in order, not
// per batch, makes the outcome independent of batch boundaries. A stream's
// watermark is saved with its applied offset and restored by
// AppliedOffsets, so a worker that takes over a stream judges as its
// previous owner did. What is kept (retention) follows the overall
// watermark.
//
// # Redis layout and cost
//
// Keys of one (family, entity) share the hash tag {family:entity}:
//
//	<prefix>:{f:e}:h                 hash: "<metric>:<bucket s>:<bucket base36>:<token>" -> counter,
//	                                 one field per writing store instance; "@<worker><token>" -> At,
//	                                 "!<metric>@<worker><token>" -> newest dropped member time
//	<prefix>:{f:e}:d<metric>         zset: member -> newest event ms ("\x00A"/"\x00E" sentinels for
//	                                 At and the dropped mark only in families without a hash;
//	                                 "\x00W---..." on busy entities keeps the set a skiplist)
//	<prefix>:{f:e}:l<m>:<s>:<bucket> HyperLogLog per bucket (only entities over the cap)
//	<prefix>:applied                 hash: stream -> "<offset>:<watermark ms>"
//
// Counters are per writing instance: each store instance (a random token,
// renewed after any failed Apply) is the only writer of its fields, so it
// knows their values and sets all of an entity's changed buckets with one
// HSET instead of one HINCRBY per bucket; a view adds a bucket up over
// instances, and readers take the maximum of the At and dropped-mark
// fields. A worker replaying after a crash is a new instance writing its
// own fields from zero, so replays never overwrite or double what another
// instance wrote. (An entity the cache sweep forgot gets HINCRBY instead of
// HSET for buckets it may already hold.) The sentinels' scores sit outside
// every member's (|score| < 2^51), so ZCOUNT and rank reads never see them
// and ZADD GT keeps maxima without read-modify-write (no Lua).
//
// Apply aggregates the batch in the worker and sends everything as ONE
// MULTI/EXEC round trip. Per touched entity: one HSET (counters and At),
// one ZADD GT per Distinct metric carrying its new members (at most the cap
// newest for an entity already over it), and the reads HGETALL and one
// ZCOUNT per window from the At this worker expects. Members are not read
// back: a view carries counts, and View.Members reads the members on first
// use (one round trip, when a detector reports evidence). When the members
// kept plus the batch's may exceed the cap, a ZRANGE ... LIMIT cap 1 asks
// for the cut of the trim. A second, read-only round trip is made only for
// the few entities where that is not enough (another worker moved At, a
// trim is due without its cut, an entity just went over the cap). Entities
// over the cap add PFADDs for the batch's members and one PFCOUNT per
// window, only when MinEvents is met. Trims and stale hash fields are
// queued into the next Apply's MULTI. Every key has a TTL of its family's
// longest window/history + Lateness + 2*TTLRefresh, refreshed at most every
// TTLRefresh (30 s) per entity. BENCHMARKS.md has the measured costs.
//
// # Exactly once after crashes
//
// Apply puts the batch's updates and HSET <prefix>:applied <stream>
// <offset>:<watermark> (from Batch.MarkApplied) in the same MULTI/EXEC, so
// either both land or neither. A worker starting on a stream calls
// AppliedOffsets and skips events at or below the offset, so events Kafka
// redelivers after a crash or rebalance are not counted twice even if the
// crashed worker applied them but never committed. Distinct members and
// HyperLogLogs are idempotent anyway; counters are not, hence the offsets.
// Apply never retries by itself and the client must not either (NewRedis
// refuses a client with MaxRetries > 0): a MULTI resent after its reply was
// lost would count a batch twice. On an error nothing may be assumed and
// the caller retries the same batch: an Apply on a stream whose last Apply
// failed first reads that stream's applied offset (one extra round trip,
// only then; tracked per stream, since batches of other partitions may
// succeed in between and prove nothing about this one), and if it
// already covers the batch's MarkApplied offset (the MULTI ran, its reply
// was lost) it applies nothing and only returns the views. The same holds
// for a retry of a batch this instance applied successfully (a later step
// of the caller failed before the commit): Apply remembers the offsets it
// applied and answers such a batch with views only.
//
// Redis Cluster caveat: MULTI only works within one slot, and go-redis runs
// a Cluster transaction pipeline as one MULTI per slot. Each entity's
// updates stay atomic (they share a hash tag), but the batch as a whole and
// the applied-offsets hash are not atomic together: a crash in between can
// leave some entities updated without the offset, and their part of that
// batch is counted again on replay (at-least-once for counters, bounded by
// one batch per crash). Single-node and Sentinel deployments get the full
// guarantee.
//
// Redis restarts: Apply returns wrapped errors while Redis is down and works
// again by itself when it is back. What Redis kept across the restart
// depends on its persistence (RDB/AOF); without it, windows restart empty
// and AppliedOffsets reports -1, which the pipeline treats as "no
// information".
package window
