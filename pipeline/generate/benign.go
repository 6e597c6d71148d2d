package generate

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// Benign population: sessions of anonymous visitors and customers arrive
// as a non-homogeneous Poisson process whose intensity follows the time of
// day with minute-level bursts, and each session browses, fills a cart,
// checks out, logs in and out with human think times.

const (
	// meanSessionRequests calibrates session arrivals so that the benign
	// request rate averages Config.Rate (measured: see TestBenignRate).
	meanSessionRequests = 16.4
	// prewarm starts sessions this long before Start so the run opens in
	// steady state instead of an empty site.
	prewarm = 10 * time.Minute
	// trapRate is the mean request rate of the traps, taken out of the
	// session budget so Rate stays the benign total.
	trapRate = 10.2
)

// diurnal is the relative load at a UTC hour of day: quiet at night, a
// morning ramp, an afternoon/evening plateau.
func diurnal(h float64) float64 {
	d := (h - 15) / 5.5
	return 0.22 + 0.78*math.Exp(-d*d)
}

type spawner struct {
	r      *rand.Rand
	from   int64
	factor []float64 // relative intensity per minute since from
	rate   float64   // sessions/s at factor 1
	maxF   float64
}

func (e *engine) addBenign() {
	r := newRand(e.cfg.Seed, saltSpawner)
	from := e.start - int64(prewarm)
	minutes := int((e.end-from)/int64(time.Minute)) + 2
	f := make([]float64, minutes)
	x, burst := 0.0, 0
	for i := range f {
		x = 0.75*x + 0.07*r.NormFloat64()
		b := 1.0
		if burst > 0 {
			b, burst = 1.35, burst-1
		} else if r.IntN(80) == 0 {
			burst = 2 + r.IntN(3)
		}
		t := time.Unix(0, from+int64(i)*int64(time.Minute)).UTC()
		h := float64(t.Hour()) + float64(t.Minute())/60
		f[i] = diurnal(h) * math.Exp(x) * b
	}
	// Normalise over the emitted part of the run so Rate is the mean.
	first := int(prewarm / time.Minute)
	sum, maxF := 0.0, 0.0
	for i, v := range f {
		if i >= first && i < minutes-2 {
			sum += v
		}
		maxF = max(maxF, v)
	}
	mean := sum / float64(minutes-2-first)
	benign := e.cfg.Rate
	if e.cfg.Traps {
		benign = max(e.cfg.Rate-trapRate, e.cfg.Rate*0.3)
	}
	s := &spawner{r: r, from: from, factor: f, maxF: maxF / mean}
	for i := range s.factor {
		s.factor[i] /= mean
	}
	s.rate = benign / meanSessionRequests
	e.push(from, s)
}

func (s *spawner) origin() string { return "benign" }

// step spawns the session due now and draws the next arrival by thinning.
func (s *spawner) step(e *engine, now int64, _ *detectors.Event) (int64, bool) {
	e.push(now, newSession(e, s.r))
	t := now
	for {
		t += int64(s.r.ExpFloat64() / (s.rate * s.maxF) * 1e9)
		i := int((t - s.from) / int64(time.Minute))
		if i >= len(s.factor) || t >= e.end {
			return -1, false
		}
		if s.r.Float64()*s.maxF < s.factor[i] {
			return microsecond(t), false
		}
	}
}

type action uint8

const (
	actStatic action = iota
	actLoginFail
	actLogin
	actTokenRefresh
	actMe
	actPage
	actProduct
	actCartGet
	actCartPost
	actCheckout
	actOrderGet
	actUserGet
	actOldLink
	actLogout
)

type session struct {
	r         *rand.Rand
	u         *user
	ui        int32
	ip        netip.Addr
	ua        string
	app       bool
	authed    string
	queue     []action
	budget    int
	cart      int
	lastOrder int32
	retries   int
	static    int
	page      int
	think     float64 // median think time, seconds
	current   bool    // follows no stale links (office staff use the current app)
	origin_   string
	trap      string // trap id whose entities a mistype is recorded under
}

func newSession(e *engine, pr *rand.Rand) *session {
	r := rand.New(rand.NewPCG(pr.Uint64(), pr.Uint64()))
	s := &session{r: r, lastOrder: -1, queue: make([]action, 0, 8), origin_: "benign", trap: "t5", think: 7}
	w := e.w
	if r.IntN(100) < 35 {
		s.ip = residentialIP(r)
		s.ua = desktopUAs[r.IntN(len(desktopUAs))]
		if r.IntN(3) == 0 {
			s.ua = mobileWebUAs[r.IntN(len(mobileWebUAs))]
		}
	} else {
		s.ui = int32(r.IntN(populationSize))
		s.u = &w.users[s.ui]
		s.ip, s.ua = s.u.home, s.u.web
		if s.u.app != "" && s.u.app != uaOldApp && r.IntN(10) < 6 {
			s.app, s.ua, s.think = true, s.u.app, 4.5
			if r.IntN(10) < 7 {
				s.ip = s.u.mobile
			}
		} else if s.ua == mobileWebUAs[0] || s.ua == mobileWebUAs[1] || s.ua == mobileWebUAs[2] {
			s.ip = s.u.mobile
		}
	}
	s.budget = 2 + int(r.ExpFloat64()*11)
	if !s.app {
		n := 2 + r.IntN(3)
		for range n {
			s.queue = append(s.queue, actStatic)
		}
	}
	if s.u != nil {
		switch {
		case (!s.app && r.IntN(10) < 5) || (s.app && r.IntN(10) < 2):
			s.queueLogin(e, s.u)
		case s.app && r.IntN(10) < 5:
			s.queue = append(s.queue, actTokenRefresh)
		default:
			s.authed = s.u.name // still holds a valid session token
		}
		if s.authed != "" || len(s.queue) > 0 && s.queue[len(s.queue)-1] != actStatic {
			s.queue = append(s.queue, actMe)
		}
	}
	return s
}

// queueLogin queues the login of u, with the mistypes a human makes: most
// get it right, some mistype once, repeat mistypers 1-3 times, never more
// than one such burst per half hour.
func (s *session) queueLogin(e *engine, u *user) {
	k := 0
	// Attack victims and trap users keep clean logins so their entities
	// belong to one story only.
	if !u.reserved && (e.now-u.lastMiss > int64(30*time.Minute) || u.lastMiss == 0) {
		switch {
		case u.mistyper:
			k = 1 + s.r.IntN(3)
		case s.r.IntN(100) < 5:
			k = 1
		}
	}
	if k > 0 {
		u.lastMiss = e.now
	}
	for range k {
		s.queue = append(s.queue, actLoginFail)
	}
	s.queue = append(s.queue, actLogin)
}

func (s *session) origin() string { return s.origin_ }

func (s *session) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	a := s.queue[0]
	s.queue = append(s.queue[:0], s.queue[1:]...)
	s.do(e, a, ev)
	if len(s.queue) == 0 && !s.choose() {
		return -1, true
	}
	return microsecond(now + s.gap(a, s.queue[0])), true
}

func (s *session) req(e *engine, ev *detectors.Event, method, path, query string, rt route, status int, size float64) int {
	q := request{ip: s.ip, ua: s.ua, user: s.authed, method: method, path: path, query: query, rt: rt, status: status, size: size}
	return e.fill(s.r, ev, &q)
}

func (s *session) do(e *engine, a action, ev *detectors.Event) {
	r := s.r
	switch a {
	case actStatic:
		p := staticAssets[s.static%len(staticAssets)]
		s.static++
		size := [...]float64{182000, 41000, 96000, 15086, 4200}[(s.static-1)%len(staticAssets)]
		st := 200
		if s.u != nil && r.IntN(2) == 0 {
			st = 304
		}
		q := request{ip: s.ip, ua: s.ua, method: "GET", path: p, rt: rStatic, status: st, size: size}
		e.fill(r, ev, &q)
	case actLoginFail:
		q := request{ip: s.ip, ua: s.ua, user: s.u.name, method: "POST", path: pLogin, rt: rLogin, status: 401}
		e.fill(r, ev, &q)
		if e.cfg.Traps && now(e) >= e.start && s.trap != "" {
			e.trapSeen.add(s.trap, EntityUser, s.u.name)
			e.trapSeen.add(s.trap, EntityIP, s.ip.String())
		}
	case actLogin:
		q := request{ip: s.ip, ua: s.ua, user: s.u.name, method: "POST", path: pLogin, rt: rLogin}
		if st := e.fill(r, ev, &q); st >= 500 {
			s.queue = append(s.queue, actLogin)
		} else {
			s.authed = s.u.name
		}
	case actTokenRefresh:
		q := request{ip: s.ip, ua: s.ua, user: s.u.name, method: "POST", path: pToken, rt: rToken}
		e.fill(r, ev, &q)
		s.authed = s.u.name
	case actMe:
		s.req(e, ev, "GET", pUsersMe, "", rUserMe, 0, 0)
	case actPage:
		if s.page == 0 || r.IntN(3) == 0 {
			s.page = 1 + int(math.Pow(r.Float64(), 3)*float64(len(e.w.pages)-1))
		} else if s.page < len(e.w.pages) {
			s.page++
		}
		s.req(e, ev, "GET", pProducts, e.w.pages[s.page-1], rProducts, 0, 0)
	case actProduct:
		p := &e.w.products[popularProduct(r)]
		st := 0
		if p.gone {
			st = 404
		}
		s.req(e, ev, "GET", p.path, "", rProduct, st, 0)
	case actCartGet:
		s.req(e, ev, "GET", pCart, "", rCartGet, 0, 900+float64(s.cart)*350)
	case actCartPost:
		s.req(e, ev, "POST", pCart, "", rCartPost, 0, 0)
		s.cart++
	case actCheckout:
		st := s.req(e, ev, "POST", pOrders, "", rOrderPost, 0, 0)
		switch {
		case st < 300:
			s.lastOrder = e.w.newOrder(s.ui)
			s.cart = 0
			s.retries = 0
			s.queue = append(s.queue, actOrderGet)
		case st >= 500 && s.retries < 2:
			s.retries++
			s.queue = append(s.queue, actCheckout)
		}
	case actOrderGet:
		o := s.lastOrder
		if o < 0 && len(s.u.orders) > 0 {
			o = s.u.orders[r.IntN(len(s.u.orders))]
		}
		s.req(e, ev, "GET", e.w.orderURL(o), "", rOrderGet, e.w.orderStatus(o, s.ui), 0)
	case actUserGet:
		s.req(e, ev, "GET", s.u.idPath, "", rUserGet, 0, 0)
	case actOldLink:
		s.req(e, ev, "GET", oldLinks[r.IntN(len(oldLinks))], "", rUnknown, 404, 0)
	case actLogout:
		s.req(e, ev, "POST", pLogout, "", rLogout, 0, 0)
	}
}

func now(e *engine) int64 { return e.now }

// choose queues the next thing the visitor does, or reports the end of the
// session.
func (s *session) choose() bool {
	r := s.r
	if s.budget <= 0 {
		if s.authed != "" && !s.app && s.u != nil && r.IntN(4) == 0 {
			s.queue = append(s.queue, actLogout)
			s.budget = -1 // logout is the last call
			return true
		}
		return false
	}
	s.budget--
	if s.u == nil || s.authed == "" {
		switch n := r.IntN(1000); {
		case n < 300:
			s.queue = append(s.queue, actPage)
		case n < 820:
			s.queue = append(s.queue, actProduct)
		case n < 900:
			s.queue = append(s.queue, actCartPost)
		case n < 975:
			s.queue = append(s.queue, actCartGet)
		default:
			s.queue = append(s.queue, actOldLink)
		}
		return true
	}
	for {
		switch n := r.IntN(1000); {
		case n < 200:
			s.queue = append(s.queue, actPage)
		case n < 580:
			s.queue = append(s.queue, actProduct)
		case n < 650:
			s.queue = append(s.queue, actCartGet)
		case n < 760:
			s.queue = append(s.queue, actCartPost)
		case n < 850:
			if s.cart == 0 {
				continue
			}
			s.queue = append(s.queue, actCheckout)
		case n < 910:
			if s.lastOrder < 0 && len(s.u.orders) == 0 {
				continue
			}
			s.queue = append(s.queue, actOrderGet)
		case n < 945:
			s.queue = append(s.queue, actUserGet)
		case n < 985 || s.current:
			s.queue = append(s.queue, actMe)
		default:
			s.queue = append(s.queue, actOldLink)
		}
		return true
	}
}

// gap is the pause between two calls: assets load together, a mistyped
// password takes a few seconds to retype, a failed checkout is retried
// quickly, everything else is human think time.
func (s *session) gap(prev, next action) int64 {
	r := s.r
	switch {
	case next == actStatic:
		return ms(20 + r.Float64()*200)
	case prev == actLoginFail:
		return sec(3 + r.Float64()*10)
	case prev == actCheckout && next == actCheckout:
		return sec(2 + r.Float64()*4)
	case next == actOrderGet && prev == actCheckout:
		return ms(400 + r.Float64()*900)
	case prev == actStatic || prev == actLogin || prev == actTokenRefresh:
		return ms(150 + r.Float64()*1500)
	}
	return sec(min(lognormal(r, s.think, 0.8), 20*s.think))
}
