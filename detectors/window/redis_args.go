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

// slab hands out stable pointers to values, from chunks kept for reuse.
type slab[T any] struct {
	chunks [][]T
	ci, n  int
}

const slabChunk = 4096

func (s *slab[T]) put(v T) *T {
	if s.ci == len(s.chunks) {
		s.chunks = append(s.chunks, make([]T, slabChunk))
	}
	p := &s.chunks[s.ci][s.n]
	*p = v
	if s.n++; s.n == slabChunk {
		s.ci, s.n = s.ci+1, 0
	}
	return p
}

// reset makes the slab reusable, dropping its references (strings).
func (s *slab[T]) reset() {
	for i := 0; i < s.ci && i < len(s.chunks); i++ {
		clear(s.chunks[i])
	}
	if s.ci < len(s.chunks) {
		clear(s.chunks[s.ci][:s.n])
	}
	s.ci, s.n = 0, 0
}

func (a *cmdArgs) reset() {
	clear(a.argv)
	a.argv = a.argv[:0]
	a.strs.reset()
	a.ints.reset()
}

func (a *cmdArgs) str(s string) any { return a.strs.put(s) }
func (a *cmdArgs) i64(v int64) any  { return a.ints.put(v) }
func (a *cmdArgs) mark() int        { return len(a.argv) }
func (a *cmdArgs) add(args ...any)  { a.argv = append(a.argv, args...) }

// cmd is the argument list appended since start. Its capacity ends with
// it, so later appends never write into it.
func (a *cmdArgs) cmd(start int) []any {
	return a.argv[start:len(a.argv):len(a.argv)]
}
