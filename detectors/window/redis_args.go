package window

// cmdArgs holds the arguments of one Apply's frequent commands (HSET,
// HGETALL, EXPIRE, PFADD) in memory reused from Apply to Apply.
// go-redis takes arguments as []any: boxing a string or int64
// into an interface allocates, one allocation per argument, which was a
// large part of RedisStore's Go cost. Values are kept in slabs and passed
// by pointer instead (*string and *int64 are written like the
// values; a pointer boxes without allocating), and the commands' argument
// lists are windows of one reused slice.
//
// Everything here is overwritten by the next Apply: it may only be
// referenced by the commands of the current one.
type cmdArgs struct {
	argv []any
	strs slab[string]
	ints slab[int64]
}

const slabChunk = 4096

func (a *cmdArgs) reset() {
	clear(a.argv)
	a.argv = a.argv[:0]
	a.strs.reset()
	a.ints.reset()
}

func (a *cmdArgs) str(s string) any { return put(&a.strs, s) }
func (a *cmdArgs) i64(v int64) any  { return put(&a.ints, v) }

// put stores v in s and returns a stable pointer to it.
func put[T any](s *slab[T], v T) *T {
	p := &s.take(1, slabChunk)[0]
	*p = v
	return p
}
func (a *cmdArgs) mark() int       { return len(a.argv) }
func (a *cmdArgs) add(args ...any) { a.argv = append(a.argv, args...) }

// cmd is the argument list appended since start. Its capacity ends with
// it, so later appends never write into it.
func (a *cmdArgs) cmd(start int) []any {
	return a.argv[start:len(a.argv):len(a.argv)]
}
