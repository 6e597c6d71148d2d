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
// Baselines come from a metric's History tier (HistoryBucket buckets kept
// for History): View.Series returns them, View.Baseline is their
// exponentially weighted mean and standard deviation (the EWMA baseline),
// and View.Seasonal the same over the buckets at the same phase of earlier
// periods (with 1 h buckets and a 168 h period: an hour-of-week profile).
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
// them go into the HyperLogLogs. Members at or before the dropped mark
// are not kept exactly. Distinct(m, w) is exact while no member
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
// Each (family, entity) is one hash; every store instance that writes the
// entity has one field in it holding its own state of the entity:
//
//	<prefix>:{f:e}:h                 hash: "<worker><token><seq>" -> state (blob.go): the
//	                                 instance's At, counter buckets, members with their
//	                                 newest times, dropped marks
//	<prefix>:{f:e}:l<m>:<s>:<bucket> HyperLogLog per bucket (only entities over the cap)
//	<prefix>:applied                 hash: stream -> "<offset>:<watermark ms>"
//
// An instance is the only writer of its field, so it keeps that state in
// memory and rewrites the field whole with one HSET when the state
// changes; a reader merges the fields: counters add up bucket by bucket,
// At, member times and dropped marks take the maximum. It is a state-based
// CRDT (one grow-only replica per writer), which is why no Lua and no
// read-modify-write is needed. The token is random per instance and
// renewed after every failed Apply, and seq is new for every entity the
// instance starts remembering, so a field is never written from two
// states: a restarted worker, a worker after a Redis error, and an entity
// the cache forgot and met again (a lagging partition may still write
// into visible buckets) each start a new field from zero, and the old
// field keeps counting. A field of the same process (an earlier token or
// rent) is taken over: its content is merged into the own state and the
// next HSET of the own field deletes it in the same MULTI, so a flaky
// Redis does not make fields pile up. Fields of other processes are
// merged until everything in them is outside every window; then any
// reader deletes them, with a compare-and-delete script (their writer may
// be alive and write again). A hash thus holds about one field per
// process that wrote the entity within its retention.
//
// Apply aggregates the batch in the worker and sends everything as ONE
// MULTI/EXEC round trip. Per touched entity: the HSET of the own field
// (if the batch changes it), HGETALL, an EXPIRE for a new key and then at
// most every TTLRefresh (30 s); entities over the cap add PFADDs for the
// batch's members and one PFCOUNT per window, when MinEvents is met.
// HGETALL brings every field: the own one is not decoded (its state is in
// memory), others are. Members come with the view, so View.Members needs
// no further round trip. Trims change only the own state, which is
// written by the next Apply (together with the next batch if it touches
// the entity). Every key has a TTL of its family's longest window/history
// + Lateness + 2*TTLRefresh. BENCHMARKS.md has the measured costs: about
// 0.34 commands and 0.7 µs of Redis CPU per event on the workload.
//
// Members at or before an entity's dropped mark are not counted exactly,
// wherever they come from: a worker's trim cannot remove members from
// another worker's field, and this rule gives the same counts as if it had.
//
// # Exactly once after crashes
//
// Apply puts the batch's updates (the new own states) and HSET
// <prefix>:applied <stream> <offset>:<watermark> (from Batch.MarkApplied)
// in the same MULTI/EXEC, so either both land or neither: a crashed
// worker's fields hold exactly what its applied offsets cover. A worker
// starting on a stream calls AppliedOffsets and skips events at or below
// the offset, so events Kafka redelivers after a crash or rebalance are
// not counted twice even if the crashed worker applied them but never
// committed; it writes the events after the offset into fields of its
// own. Distinct members and HyperLogLogs are idempotent anyway; counters
// are not, hence the offsets.
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
// # Views and the Memory store
//
// A Result's views stay valid after later Applies until the caller
// releases it (Result.Release, which the detector engine calls once it has
// evaluated a batch); the store then reuses their memory. RedisStore's
// views hold what its reads returned. Memory's views copy nothing: a view
// reads the entity itself, which nothing changes between Applies (new
// entities go into the maps and old ones are swept after Apply returns,
// while the caller fills its next batch; entity state is left alone). The
// next Apply that touches an entity whose latest view belongs to an
// unreleased Result clones the entity and leaves the original to the view;
// a released one is changed in place. Distinct members over the cap are
// trimmed when the entity is next touched, before its new operations: a
// view shows them untrimmed, as RedisStore's do.
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
// information". An instance that finds its field gone starts its own state
// over rather than writing back what Redis lost: Kafka redelivers those
// events from the last commit.
package window
