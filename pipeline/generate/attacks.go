package generate

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// Attacks, each shaped like its kind in the wild (see README.md and
// detection-methods.md): volumes and cadences sit well above the published
// thresholds, the stealthy ones (distributed spray, low-and-slow stuffing)
// stay under every per-IP threshold on purpose.

var (
	bruteIP     = netip.AddrFrom4([4]byte{185, 220, 101, 47})
	takeoverIP  = netip.AddrFrom4([4]byte{185, 107, 56, 231})
	stuffIP     = netip.AddrFrom4([4]byte{45, 153, 160, 14})
	scanIP      = netip.AddrFrom4([4]byte{194, 165, 16, 77})
	inventoryIP = netip.AddrFrom4([4]byte{52, 29, 140, 12})
	scraperIPs  = []netip.Addr{
		netip.AddrFrom4([4]byte{104, 248, 37, 21}), netip.AddrFrom4([4]byte{104, 248, 37, 22}), netip.AddrFrom4([4]byte{104, 248, 37, 23}),
	}
	shadowIPs = []netip.Addr{
		netip.AddrFrom4([4]byte{34, 107, 20, 5}), netip.AddrFrom4([4]byte{34, 107, 20, 6}), netip.AddrFrom4([4]byte{34, 107, 20, 7}),
	}
	shadowUAs = []string{"python-httpx/0.27.0", "curl/8.5.0", "Go-http-client/2.0"}
	// The low-and-slow campaign rents addresses in a few /24s.
	lowSlowNets = [][3]byte{{193, 32, 164}, {193, 32, 165}, {91, 92, 246}, {91, 92, 247}}
)

const inventoryUser = "svc-inventory-sync"

func (e *engine) addAttacks() {
	r := newRand(e.cfg.Seed, saltAttacks)
	sub := func() *rand.Rand { return rand.New(rand.NewPCG(r.Uint64(), r.Uint64())) }
	on := func(id int) bool { return e.kinds[attackPlan[id].kind] }
	w := e.w
	win := func(id int) (int64, int64) { x := e.sched.window(id); return x[0], x[1] }

	// The inventory integration is ordinary traffic from the first minute;
	// only its spike is the attack. Always drawn, so the rest of the run does
	// not depend on whether rate_anomaly is on.
	inv := &inventory{r: sub(), spike: on(idRateAnomaly)}
	inv.from, inv.to = win(idRateAnomaly)
	e.push(microsecond(e.start+sec(r.Float64()*10)), inv)

	type starter struct {
		id int
		a  actor
	}
	var list []starter
	f, t := win(idBrute)
	list = append(list, starter{idBrute, &brute{r: sub(), end: t, victim: w.users[w.victimBrute].name}})
	_ = f
	_, t = win(idSpray)
	list = append(list, starter{idSpray, &spray{r: sub(), end: t, victim: w.users[w.victimSpray].name, pool: attackIPs(sub(), 80)}})
	_, t = win(idTakeover)
	list = append(list, starter{idTakeover, &takeover{r: sub(), end: t, ui: int32(w.victimTakeover), ua: desktopUAs[5]}})
	_, t = win(idGlobalSpike)
	list = append(list, starter{idGlobalSpike, &globalSpike{r: sub(), end: t, pool: attackIPs(sub(), 400)}})
	_, t = win(idStuffSingle)
	list = append(list, starter{idStuffSingle, newStuffSingle(sub(), w, t)})
	f, t = win(idStuffSlow)
	list = append(list, starter{idStuffSlow, newLowSlow(sub(), w, f, t)})
	_, t = win(idScan)
	list = append(list, starter{idScan, &scanner{r: sub(), end: t}})
	_, t = win(idEnum)
	list = append(list, starter{idEnum, &enumerator{r: sub(), end: t, next: w.users[w.enumerator].orders[0] - 40}})
	_, t = win(idScrape)
	for k, ip := range scraperIPs {
		list = append(list, starter{idScrape, &scraper{r: sub(), end: t, ip: ip, k: k}})
	}
	_, t = win(idShadow)
	for k, ip := range shadowIPs {
		list = append(list, starter{idShadow, &shadowClient{r: sub(), end: t, ip: ip, ua: shadowUAs[k]}})
	}
	_, t = win(idZombie)
	for _, ui := range w.oldApp {
		list = append(list, starter{idZombie, &oldApp{r: sub(), end: t, u: &w.users[ui]}})
	}
	for _, s := range list {
		// Draw the start offset even when the attack is off, so toggling one
		// attack never shifts the others.
		jitter := sec(r.Float64() * 20)
		if !on(s.id) {
			continue
		}
		f, _ := win(s.id)
		if s.id == idStuffSlow {
			jitter = 0 // its own timetable
		}
		e.push(microsecond(f+jitter), s.a)
	}
}

// attackIPs draws n distinct residential-proxy addresses.
func attackIPs(r *rand.Rand, n int) []netip.Addr {
	seen := map[netip.Addr]bool{}
	out := make([]netip.Addr, 0, n)
	for len(out) < n {
		a := randV4(r, attackPrefixes)
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// leakedEmail makes a username from a leaked combo list. Population names
// always have a separator before the last name; these never do, so they
// never hit a real account by accident.
func leakedEmail(r *rand.Rand) string {
	d := [...]string{"gmail.com", "yahoo.com", "hotmail.com", "aol.com", "mail.ru", "outlook.com", "gmx.net", "yandex.ru"}
	return firstNames[r.IntN(len(firstNames))] + lastNames[r.IntN(len(lastNames))] +
		strconv.Itoa(1000+r.IntN(9000)) + "@" + d[r.IntN(len(d))]
}

func loginReq(ip netip.Addr, ua, user string, status int) request {
	return request{ip: ip, ua: ua, user: user, method: "POST", path: pLogin, rt: rLogin, status: status}
}

// a1: one IP brute-forces one account, ~40 tries/min; the account locks
// after 25 failures and answers 403 from then on, mostly.
type brute struct {
	r      *rand.Rand
	end    int64
	victim string
	n      int
}

func (a *brute) origin() string { return "a1" }

func (a *brute) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	st := 401
	if a.n >= 25 && a.r.IntN(10) < 7 {
		st = 403
	}
	q := loginReq(bruteIP, uaBrute, a.victim, st)
	e.fill(a.r, ev, &q)
	a.n++
	return until(now+ms(1200+a.r.Float64()*600), a.end), true
}

func until(next, end int64) int64 {
	if next >= end {
		return -1
	}
	return microsecond(next)
}

// a2: one account sprayed from 80 proxy IPs, one to three tries each.
type spray struct {
	r      *rand.Rand
	end    int64
	victim string
	pool   []netip.Addr
	n      int
}

func (a *spray) origin() string { return "a2" }

func (a *spray) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	st := 401
	if a.n >= 60 && a.r.IntN(2) == 0 {
		st = 403
	}
	q := loginReq(a.pool[a.r.IntN(len(a.pool))], desktopUAs[a.r.IntN(len(desktopUAs))], a.victim, st)
	e.fill(a.r, ev, &q)
	a.n++
	return until(now+int64(a.r.ExpFloat64()*3e9), a.end), true
}

// a3: one IP fails 18 times on one account over ~4 minutes, then gets in
// and looks around as the owner (account takeover).
type takeover struct {
	r   *rand.Rand
	end int64
	ui  int32
	ua  string
	n   int
}

func (a *takeover) origin() string { return "a3" }

func (a *takeover) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	u := &e.w.users[a.ui]
	r := a.r
	const fails = 18
	var q request
	switch {
	case a.n < fails:
		q = loginReq(takeoverIP, a.ua, u.name, 401)
	case a.n == fails:
		q = loginReq(takeoverIP, a.ua, u.name, 200)
	default:
		q = request{ip: takeoverIP, ua: a.ua, user: u.name, method: "GET"}
		switch (a.n - fails) % 5 {
		case 1:
			q.path, q.rt = pUsersMe, rUserMe
		case 2:
			q.path, q.rt = u.idPath, rUserGet
		case 3:
			if len(u.orders) > 0 {
				o := u.orders[r.IntN(len(u.orders))]
				q.path, q.rt, q.status = e.w.orderURL(o), rOrderGet, e.w.orderStatus(o, a.ui)
			} else {
				q.path, q.rt = pCart, rCartGet
			}
		case 4:
			q.method, q.path, q.rt = "POST", pCart, rCartPost
		default:
			q.path, q.rt = pCart, rCartGet
		}
	}
	e.fill(r, ev, &q)
	a.n++
	if a.n > fails+12 {
		return -1, true
	}
	if a.n <= fails {
		return until(now+sec(8+r.Float64()*12), a.end), true
	}
	return until(now+sec(3+r.Float64()*7), a.end+sec(120)), true
}

// a4: a botnet of 400 proxy IPs fires ~150 logins/min at random accounts
// for a few minutes: a global failed-login spike.
type globalSpike struct {
	r    *rand.Rand
	end  int64
	pool []netip.Addr
}

func (a *globalSpike) origin() string { return "a4" }

func (a *globalSpike) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	r := a.r
	name := leakedEmail(r)
	if r.IntN(10) == 0 {
		name = e.w.users[r.IntN(populationSize)].name
	}
	q := loginReq(a.pool[r.IntN(len(a.pool))], desktopUAs[r.IntN(len(desktopUAs))], name, 401)
	e.fill(r, ev, &q)
	return until(now+int64(r.ExpFloat64()*0.4e9), a.end), true
}

// a5: one IP walks a combo list: ~180 distinct accounts, one or two tries
// each, ~95% failures, three accounts that reused their password fall.
type stuffSingle struct {
	r       *rand.Rand
	end     int64
	targets []string
	winners map[string]bool
	i       int
	retried bool
}

func newStuffSingle(r *rand.Rand, w *world, end int64) *stuffSingle {
	a := &stuffSingle{r: r, end: end, winners: map[string]bool{}}
	for i := range 180 {
		switch {
		case i%60 == 17:
			n := w.users[w.stuffedReal[i/60]].name
			a.winners[n] = true
			a.targets = append(a.targets, n)
		case r.IntN(10) == 0:
			a.targets = append(a.targets, plainUser(r, w).name)
		default:
			a.targets = append(a.targets, leakedEmail(r))
		}
	}
	return a
}

// plainUser is a random customer with no role in any trap or attack.
func plainUser(r *rand.Rand, w *world) *user {
	for {
		u := &w.users[r.IntN(populationSize)]
		if !u.reserved && !u.mistyper {
			return u
		}
	}
}

func (a *stuffSingle) origin() string { return "a5" }

func (a *stuffSingle) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	if a.i >= len(a.targets) {
		return -1, false
	}
	name := a.targets[a.i]
	st := 401
	if a.winners[name] {
		st = 200
	}
	q := loginReq(stuffIP, uaStuffing, name, st)
	e.fill(a.r, ev, &q)
	if st == 401 && !a.retried && a.r.IntN(5) == 0 {
		a.retried = true // a second password from the list for this user
	} else {
		a.i, a.retried = a.i+1, false
	}
	return until(now+ms(2200+a.r.Float64()*1000), a.end), true
}

// a6: low-and-slow stuffing: 240 IPs in four /24s, each trying 2-4
// accounts once over the whole window, all with one user agent.
type lowSlow struct {
	r     *rand.Rand
	tries []lowSlowTry
	i     int
}

type lowSlowTry struct {
	at   int64
	ip   netip.Addr
	user string
	ok   bool
}

func newLowSlow(r *rand.Rand, w *world, from, to int64) *lowSlow {
	a := &lowSlow{r: r}
	for n := range 240 {
		net := lowSlowNets[n%len(lowSlowNets)]
		ip := netip.AddrFrom4([4]byte{net[0], net[1], net[2], byte(2 + n/len(lowSlowNets)*4 + r.IntN(4))})
		for range 2 + r.IntN(3) {
			t := lowSlowTry{at: microsecond(from + int64(r.Float64()*float64(to-from))), ip: ip, user: leakedEmail(r)}
			if r.IntN(8) == 0 {
				t.user = plainUser(r, w).name
				t.ok = r.IntN(12) == 0
			}
			a.tries = append(a.tries, t)
		}
	}
	slices.SortStableFunc(a.tries, func(x, y lowSlowTry) int {
		switch {
		case x.at < y.at:
			return -1
		case x.at > y.at:
			return 1
		}
		return 0
	})
	return a
}

func (a *lowSlow) origin() string { return "a6" }

func (a *lowSlow) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	if a.i == 0 && len(a.tries) > 0 && now < a.tries[0].at {
		return a.tries[0].at, false
	}
	t := a.tries[a.i]
	st := 401
	if t.ok {
		st = 200
	}
	q := loginReq(t.ip, uaLowSlow, t.user, st)
	e.fill(a.r, ev, &q)
	a.i++
	if a.i >= len(a.tries) {
		return -1, true
	}
	return a.tries[a.i].at, true
}

// a7: a vulnerability scanner: ~4 requests/s for three minutes over a
// wordlist of sensitive files and admin panels, then generated names.
type scanner struct {
	r   *rand.Rand
	end int64
	n   int
}

var scanPaths = []string{
	"/.env", "/.git/config", "/.git/HEAD", "/wp-login.php", "/wp-admin/", "/xmlrpc.php", "/admin", "/admin/login",
	"/administrator/", "/phpmyadmin/", "/pma/", "/myadmin/", "/.htaccess", "/.htpasswd", "/server-status",
	"/config.php", "/config.json", "/config.yml", "/.aws/credentials", "/.DS_Store", "/backup.zip", "/backup.sql",
	"/db.sql", "/dump.sql", "/.svn/entries", "/actuator", "/actuator/env", "/actuator/health", "/api/swagger.json",
	"/swagger-ui.html", "/v2/api-docs", "/graphql", "/console", "/debug", "/phpinfo.php", "/info.php", "/test.php",
	"/shell.php", "/cgi-bin/test.cgi", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/.well-known/security.txt",
	"/robots.txt", "/sitemap.xml", "/api/v1/users/me", "/api/v1/admin", "/api/v1/admin/users", "/api/admin",
	"/solr/admin/info/system", "/jenkins/login", "/manager/html", "/owa/auth/logon.aspx", "/remote/login",
	"/.vscode/sftp.json", "/web.config", "/wp-config.php.bak", "/.env.bak", "/.env.production", "/api/.env",
	"/storage/logs/laravel.log", "/telescope/requests", "/_profiler/phpinfo", "/id_rsa", "/.ssh/id_rsa",
}

var scanWords = []string{"admin", "backup", "old", "new", "test", "dev", "staging", "api", "upload", "uploads",
	"files", "private", "secret", "db", "data", "export", "import", "login", "portal", "panel", "user", "users",
	"account", "config", "settings", "install", "setup", "tmp", "temp", "logs", "log", "cache", "internal", "v3"}

var scanExts = []string{"", ".php", ".bak", ".zip", ".tar.gz", ".sql", ".old", ".json", ".asp", ".jsp", "/"}

func (a *scanner) origin() string { return "a7" }

func (a *scanner) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	r := a.r
	var p string
	if a.n < len(scanPaths) {
		p = scanPaths[a.n]
	} else {
		p = "/" + scanWords[r.IntN(len(scanWords))] + scanExts[r.IntN(len(scanExts))]
		if r.IntN(3) == 0 {
			p = "/" + scanWords[r.IntN(len(scanWords))] + p
		}
	}
	q := request{ip: scanIP, ua: uaNiktoFmt + strconv.Itoa(100000+r.IntN(900000)) + ")", method: "GET", path: p, rt: rUnknown, status: 404}
	switch p {
	case "/robots.txt", "/sitemap.xml":
		q.rt, q.status, q.size = rStatic, 200, 210
	case "/api/v1/users/me":
		q.rt, q.status = rUserMe, 401
	case "/.git/config", "/.git/HEAD", "/.htaccess", "/.htpasswd", "/server-status", "/.svn/entries":
		q.status = 403
	}
	if a.n%7 == 3 {
		q.method = "HEAD"
	}
	e.fill(r, ev, &q)
	a.n++
	return until(now+ms(180+r.Float64()*140), a.end), true
}

// a8: a registered account walks GET /api/v1/orders/{id} upwards one id
// per second: mostly 403 (other customers' orders) and 404.
type enumerator struct {
	r    *rand.Rand
	end  int64
	n    int
	next int32
}

func (a *enumerator) origin() string { return "a8" }

func (a *enumerator) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	w := e.w
	u := &w.users[w.enumerator]
	q := request{ip: u.home, ua: uaEnumerator, user: u.name, method: "GET"}
	switch a.n {
	case 0:
		q = loginReq(u.home, uaEnumerator, u.name, 200)
	case 1:
		q.path, q.rt = pUsersMe, rUserMe
	default:
		q.path, q.rt, q.status = w.orderURL(a.next), rOrderGet, w.orderStatus(a.next, int32(w.enumerator))
		a.next++
	}
	e.fill(a.r, ev, &q)
	a.n++
	return until(now+ms(800+a.r.Float64()*500), a.end), true
}

// a9: three hosts in one /24 pull the whole catalogue, bulk pages first,
// then every item with its heavy includes, every 650 ms like clockwork.
type scraper struct {
	r   *rand.Rand
	end int64
	ip  netip.Addr
	k   int
	n   int
}

func (a *scraper) origin() string { return "a9" }

func (a *scraper) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	w := e.w
	q := request{ip: a.ip, ua: uaScraper, method: "GET"}
	pages := (len(w.bulkPages) - a.k + len(scraperIPs) - 1) / len(scraperIPs)
	items := (catalogueSize - a.k + len(scraperIPs) - 1) / len(scraperIPs)
	i := a.n % (pages + items)
	if i < pages {
		q.path, q.query, q.rt, q.size = pProducts, w.bulkPages[i*len(scraperIPs)+a.k], rProducts, 118000
	} else {
		p := &w.products[(i-pages)*len(scraperIPs)+a.k]
		q.path, q.query, q.rt, q.size = p.path, "include=specs,images,reviews", rProduct, 9600
		if p.gone {
			q.status = 404
		}
	}
	e.fill(a.r, ev, &q)
	a.n++
	return until(now+ms(625+a.r.Float64()*50), a.end), true
}

// a10: an inventory integration that normally checks its dozen open
// orders every ~10 s goes into a retry loop: ~900 requests/min for ten
// minutes, far above its own baseline and above any other client.
type inventory struct {
	r        *rand.Rand
	spike    bool
	from, to int64
	in       bool
}

func (a *inventory) origin() string {
	switch {
	case !a.spike:
		return "benign"
	case a.in:
		return "a10"
	}
	return "base:a10"
}

func (a *inventory) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	w := e.w
	o := w.inventoryOrders[a.r.IntN(len(w.inventoryOrders))]
	q := request{ip: inventoryIP, ua: uaInventory, user: inventoryUser, method: "GET", path: w.orderURL(o), rt: rOrderGet, status: 200}
	e.fill(a.r, ev, &q)
	a.in = a.spike && now >= a.from && now < a.to
	next := now + sec(8+a.r.Float64()*4)
	if a.spike && now+sec(12) >= a.from && now < a.to {
		next = now + int64(a.r.ExpFloat64()*65e6)
		if now < a.from {
			next = a.from + int64(a.r.ExpFloat64()*65e6)
		}
	}
	return microsecond(next), true
}

// a11: internal tooling calls undocumented endpoints that answer 200.
type shadowClient struct {
	r   *rand.Rand
	end int64
	ip  netip.Addr
	ua  string
}

func (a *shadowClient) origin() string { return "a11" }

func (a *shadowClient) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	q := request{ip: a.ip, ua: a.ua, method: "GET", path: pDebugConfig, rt: rDebugConfig}
	if a.r.IntN(10) < 3 {
		q.path, q.query, q.rt = pExport, "format=csv", rExport
	}
	e.fill(a.r, ev, &q)
	return until(now+sec(60+a.r.Float64()*120), a.end), true
}

// a12: devices still on app 3.4 call the deprecated GET /api/v1/cart/items.
type oldApp struct {
	r   *rand.Rand
	end int64
	u   *user
	n   int
}

func (a *oldApp) origin() string { return "a12" }

func (a *oldApp) step(e *engine, now int64, ev *detectors.Event) (int64, bool) {
	q := request{ip: a.u.mobile, ua: uaOldApp, user: a.u.name, method: "GET", path: pCartItems, rt: rCartItems}
	if a.n%3 == 1 {
		p := &e.w.products[popularProduct(a.r)]
		q.path, q.rt = p.path, rProduct
		if p.gone {
			q.status = 404
		}
	}
	e.fill(a.r, ev, &q)
	a.n++
	return until(now+sec(40+a.r.Float64()*200), a.end), true
}

// truth assembles the ground truth after the run.
func (e *engine) truth() *Truth {
	t := &Truth{
		Seed:    e.cfg.Seed,
		Start:   e.cfg.Start,
		End:     e.cfg.Start.Add(e.cfg.Duration),
		Events:  e.events,
		Attacks: []Attack{},
		Traps:   []Trap{},
	}
	w := e.w
	ip := func(a netip.Addr) Entity { return Entity{EntityIP, a.String()} }
	usr := func(n string) Entity { return Entity{EntityUser, n} }
	rt := func(s string) Entity { return Entity{EntityRoute, s} }
	ents := [attackCount][]Entity{
		idBrute:       {ip(bruteIP), usr(w.users[w.victimBrute].name)},
		idSpray:       {usr(w.users[w.victimSpray].name)},
		idTakeover:    {ip(takeoverIP), usr(w.users[w.victimTakeover].name)},
		idGlobalSpike: {{EntityGlobal, ""}},
		idStuffSingle: {ip(stuffIP)},
		idStuffSlow:   {{EntityUserAgent, uaLowSlow}},
		idScan:        {ip(scanIP)},
		idEnum:        {ip(w.users[w.enumerator].home), usr(w.users[w.enumerator].name)},
		idRateAnomaly: {ip(inventoryIP), usr(inventoryUser)},
		idShadow:      {rt("GET " + pDebugConfig), rt("GET " + pExport)},
		idZombie:      {rt("GET " + pCartItems)},
		idErrorSpike:  {rt("POST " + pOrders)},
	}
	for _, n := range lowSlowNets {
		ents[idStuffSlow] = append(ents[idStuffSlow], Entity{EntityNetwork, netip.PrefixFrom(netip.AddrFrom4([4]byte{n[0], n[1], n[2], 0}), 24).String()})
	}
	ents[idStuffSlow] = append(ents[idStuffSlow], Entity{EntityGlobal, ""}, Entity{EntityCampaign, "*"})
	for _, a := range scraperIPs {
		ents[idScrape] = append(ents[idScrape], ip(a))
	}
	attackEnt := map[Entity]bool{}
	for id, p := range attackPlan {
		if !e.kinds[p.kind] {
			continue
		}
		win := e.sched.window(id)
		from, to := win[0], win[1]
		if id != idErrorSpike {
			seen := e.seen[p.id]
			if seen == nil {
				continue // the run was too short for it to happen
			}
			from, to = seen[0], seen[1]
		}
		for _, en := range ents[id] {
			attackEnt[en] = true
		}
		t.Attacks = append(t.Attacks, Attack{
			ID: p.id, Kind: p.kind,
			Start:       time.Unix(0, from).UTC(),
			End:         time.Unix(0, to).UTC(),
			Description: attackDescriptions[id],
			Entities:    ents[id],
		})
	}
	if e.cfg.Traps {
		for _, ti := range trapInfo {
			var list []Entity
			for _, en := range e.trapSeen.list[ti.id] {
				// An attack's entity can never also be a trap's: the victim
				// of a takeover may well mistype their own password.
				if !attackEnt[en] {
					list = append(list, en)
				}
			}
			if len(list) == 0 {
				continue
			}
			t.Traps = append(t.Traps, Trap{ID: ti.id, Name: ti.name, Description: ti.desc, Entities: list})
		}
	}
	return t
}

var attackDescriptions = [attackCount]string{
	idBrute:       "Brute force: one IP tries one account's password ~40 times a minute (python-requests); the account locks after 25 failures and then mostly answers 403.",
	idSpray:       "One account attacked from 80 residential-proxy IPs, 1-3 failed logins each, ~20 failures a minute on the account (entity: the user).",
	idTakeover:    "Account takeover: one IP fails 18 times on one account over ~4 minutes, then logs in successfully and browses as the owner (same kind as brute force, higher severity).",
	idGlobalSpike: "Global failed-login spike: 400 proxy IPs fire ~150 logins a minute at random accounts for a few minutes (entity: global); it overlaps the low-and-slow campaign.",
	idStuffSingle: "Credential stuffing from one IP: ~180 distinct accounts from a combo list, one or two tries each, ~98% failures, three accounts with reused passwords fall.",
	idStuffSlow:   "Low-and-slow credential stuffing: 240 IPs in four /24s, each trying only 2-4 accounts once over the whole window, all with the same outdated Chrome user agent.",
	idScan:        "Vulnerability scan: one IP requests ~700 distinct unknown paths (/.env, /.git/config, /wp-login.php, /phpmyadmin/, generated names) in three minutes, ~90% 404.",
	idEnum:        "BOLA enumeration: a freshly registered account logs in and walks GET /api/v1/orders/{id} sequentially about once a second; nearly everything is 403 or 404.",
	idScrape:      "Catalogue scraping: three hosts in one /24 fetch every bulk page (per_page=100) and every product with heavy includes at a clockwork 650 ms cadence.",
	idRateAnomaly: "Rate anomaly: an inventory integration that normally makes ~6 requests a minute jumps to ~900 a minute for ten minutes (retry loop).",
	idShadow:      "Shadow API: internal tooling calls undocumented endpoints (GET /api/v1/internal/debug/config, GET /api/v2/admin/export) that answer 200.",
	idZombie:      "Zombie API: devices on app 3.4 call the deprecated GET /api/v1/cart/items.",
	idErrorSpike:  "Error spike: POST /api/v1/orders fails with 5xx ~42% of the time (background ~0.4%); clients retry.",
}
