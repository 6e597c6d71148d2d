package generate

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// Benign traps: normal traffic that naive rules flag. Each is on from the
// first minute, so it is part of every baseline.

var (
	officeIP  = netip.AddrFrom4([4]byte{203, 0, 113, 10})
	partnerIP = netip.AddrFrom4([4]byte{198, 51, 100, 77})
	lbIPs     = []netip.Addr{
		netip.AddrFrom4([4]byte{10, 0, 1, 11}), netip.AddrFrom4([4]byte{10, 0, 1, 12}), netip.AddrFrom4([4]byte{10, 0, 2, 13}),
	}
	crawlerIPs = []netip.Addr{netip.AddrFrom4([4]byte{66, 249, 66, 1}), netip.AddrFrom4([4]byte{66, 249, 66, 33})}
)

const partnerUser = "svc-acme-feed"

var trapInfo = []struct{ id, name, desc string }{
	{"t1", "office_nat", "A business customer's office NAT: 165 employees behind one IP log in during the morning (a few mistype their password once) and browse all hour, so one IP carries many distinct users and a few failed logins."},
	{"t2", "partner_integration", "A partner integration (one IP, one API user, curl) reads its 400 products and its orders at a flat ~270 requests/min from the first minute: high volume, but it is its normal."},
	{"t3", "mobile_polling", "Mobile apps poll GET /api/v1/cart or GET /api/v1/users/me every 30 or 60 s from many carrier IPs: machine-regular timing, but benign."},
	{"t4", "health_checks", "Load-balancer health checks: GET /health every 5 s from three 10.x addresses."},
	{"t5", "password_mistypes", "Customers who mistype their password 1-3 times and then log in successfully (at most one such burst per user per half hour)."},
	{"t6", "search_crawler", "Googlebot crawls robots.txt, the sitemap and the catalogue politely (one request every 6-10 s)."},
}

func (e *engine) addTraps() {
	r := newRand(e.cfg.Seed, saltTraps)
	w := e.w
	span := e.end - e.start
	// t1: employees arrive over the first 80% of the run (morning arrivals,
	// expired sessions) and stay.
	e.trapSeen.add("t1", EntityIP, officeIP.String())
	for i := range w.employees {
		u := &w.employees[i]
		u.mistyper = r.IntN(100) < 3
		e.trapSeen.add("t1", EntityUser, u.name)
		s := &session{
			r: rand.New(rand.NewPCG(r.Uint64(), r.Uint64())), u: u, ui: int32(-100 - i), ip: officeIP, ua: u.web,
			lastOrder: -1, queue: make([]action, 0, 8), origin_: "trap:t1", think: 45, budget: 1 << 30, current: true,
		}
		at := e.start + int64(r.Float64()*0.8*float64(span))
		e.push(microsecond(at), &officeArrival{s: s})
	}
	// t2: the partner.
	e.trapSeen.add("t2", EntityIP, partnerIP.String())
	e.trapSeen.add("t2", EntityUser, partnerUser)
	e.push(e.start+int64(r.IntN(200))*int64(time.Millisecond), &partner{r: rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))})
	// t3: pollers.
	for _, ui := range w.pollers {
		u := &w.users[ui]
		e.trapSeen.add("t3", EntityIP, u.mobile.String())
		e.trapSeen.add("t3", EntityUser, u.name)
		p := &poller{r: rand.New(rand.NewPCG(r.Uint64(), r.Uint64())), u: u, every: sec(30)}
		if r.IntN(2) == 0 {
			p.every = sec(60)
		}
		p.path, p.rt = pCart, rCartGet
		if r.IntN(2) == 0 {
			p.path, p.rt = pUsersMe, rUserMe
		}
		e.push(microsecond(e.start+int64(r.Float64()*float64(p.every))), p)
	}
	// t4: health checks.
	for _, ip := range lbIPs {
		e.trapSeen.add("t4", EntityIP, ip.String())
		e.push(microsecond(e.start+int64(r.Float64()*5e9)), &health{r: rand.New(rand.NewPCG(r.Uint64(), r.Uint64())), ip: ip})
	}
	// t6: the crawler.
	for _, ip := range crawlerIPs {
		e.trapSeen.add("t6", EntityIP, ip.String())
	}
	e.trapSeen.add("t6", EntityUserAgent, uaGooglebot)
	e.push(microsecond(e.start+sec(r.Float64()*20)), &crawler{r: rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))})
}

// officeArrival starts an employee's day: static assets, the login (with
// mistypes) and the profile, then an all-hour session.
type officeArrival struct{ s *session }

func (o *officeArrival) origin() string { return o.s.origin_ }

func (o *officeArrival) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	s := o.s
	s.queue = append(s.queue, actStatic, actStatic)
	s.queueLogin(e, s.u)
	s.queue = append(s.queue, actMe)
	s.trap = "" // already listed under t1
	e.push(now, s)
	return -1, false
}

type partner struct {
	r *rand.Rand
	n int
}

func (p *partner) origin() string { return "trap:t2" }

func (p *partner) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	r := p.r
	q := request{ip: partnerIP, ua: uaPartner, user: partnerUser, method: "GET"}
	if r.IntN(4) == 0 {
		o := e.w.partnerOrders[r.IntN(len(e.w.partnerOrders))]
		q.path, q.rt, q.status = e.w.orderURL(o), rOrderGet, 200
	} else {
		// Its 400 SKUs: every sixth product, skipping delisted ones.
		i := (r.IntN(catalogueSize/6) * 6) % catalogueSize
		for e.w.products[i].gone {
			i = (i + 6) % catalogueSize
		}
		q.path, q.rt = e.w.products[i].path, rProduct
	}
	e.fill(r, ev, &q)
	p.n++
	// ~4.5 requests/s with little variance: a worker pool draining a queue.
	return microsecond(now + ms(170+r.Float64()*105)), true
}

type poller struct {
	r     *rand.Rand
	u     *user
	every int64
	path  string
	rt    route
}

func (p *poller) origin() string { return "trap:t3" }

func (p *poller) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	q := request{ip: p.u.mobile, ua: p.u.app, user: p.u.name, method: "GET", path: p.path, rt: p.rt}
	e.fill(p.r, ev, &q)
	return microsecond(now + p.every + ms(p.r.Float64()*400-200)), true
}

type health struct {
	r  *rand.Rand
	ip netip.Addr
}

func (h *health) origin() string { return "trap:t4" }

func (h *health) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	q := request{ip: h.ip, ua: uaHealth, method: "GET", path: pHealth, rt: rHealth}
	e.fill(h.r, ev, &q)
	return microsecond(now + sec(5) + ms(h.r.Float64()*20-10)), true
}

type crawler struct {
	r    *rand.Rand
	n    int
	page int
	item int
}

func (c *crawler) origin() string { return "trap:t6" }

func (c *crawler) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	r := c.r
	q := request{ip: crawlerIPs[c.n%len(crawlerIPs)], ua: uaGooglebot, method: "GET"}
	switch {
	case c.n == 0:
		q.path, q.rt, q.size = "/robots.txt", rStatic, 210
	case c.n == 1:
		q.path, q.rt, q.size = "/sitemap.xml", rStatic, 240000
	case c.n%5 == 2:
		c.page = c.page%len(e.w.pages) + 1
		q.path, q.query, q.rt = pProducts, e.w.pages[c.page-1], rProducts
	default:
		// Items in sitemap order, with a popular one re-checked now and then.
		i := c.item % catalogueSize
		c.item += 1 + r.IntN(3)
		if r.IntN(5) == 0 {
			i = popularProduct(r)
		}
		p := &e.w.products[i]
		q.path, q.rt = p.path, rProduct
		if p.gone {
			q.status = 404
		}
	}
	e.fill(r, ev, &q)
	c.n++
	return microsecond(now + ms(6000+r.Float64()*4000)), true
}

// trapEntities collects trap entities in first-seen order, deduplicated.
type trapEntities struct {
	list map[string][]Entity
	seen map[Entity]bool
}

func newTrapEntities() trapEntities {
	return trapEntities{list: map[string][]Entity{}, seen: map[Entity]bool{}}
}

func (t *trapEntities) add(trap, typ, value string) {
	k := Entity{Type: typ, Value: value + "\x00" + trap}
	if t.seen[k] {
		return
	}
	t.seen[k] = true
	t.list[trap] = append(t.list[trap], Entity{Type: typ, Value: value})
}

func itoa(i int) string { return strconv.Itoa(i) }
