package generate

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

const apiHost = "api.shop.example"

// Salts give every actor family its own random stream, so that turning an
// attack or trap on or off leaves the rest of the traffic unchanged.
const (
	saltWorld uint64 = iota + 1
	saltEngine
	saltSpawner
	saltSchedule
	saltTraps
	saltAttacks
)

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func newRand(seed int64, salt uint64) *rand.Rand {
	s := splitmix(uint64(seed) ^ splitmix(salt))
	return rand.New(rand.NewPCG(s, splitmix(s)))
}

// route identifies the operation a request hits; it drives sizes, latency
// and the error model.
type route uint8

const (
	rProducts route = iota // GET /api/v1/products (?page=N)
	rProduct               // GET /api/v1/products/{id}
	rCartGet
	rCartPost
	rCartItems // GET /api/v1/cart/items, deprecated
	rOrderPost
	rOrderGet
	rUserGet
	rUserMe
	rLogin
	rLogout
	rToken
	rHealth
	rStatic
	rUnknown
	rDebugConfig // undocumented
	rExport      // undocumented
	routeCount
)

// okBytes is the median response body of a successful call, latency the
// median latency in ms.
var routeModel = [routeCount]struct {
	okBytes float64
	latency float64
	status  int
}{
	rProducts:    {28500, 45, 200},
	rProduct:     {2400, 18, 200},
	rCartGet:     {1200, 22, 200},
	rCartPost:    {900, 35, 201},
	rCartItems:   {1100, 25, 200},
	rOrderPost:   {1600, 240, 201},
	rOrderGet:    {2000, 30, 200},
	rUserGet:     {700, 15, 200},
	rUserMe:      {820, 12, 200},
	rLogin:       {620, 180, 200},
	rLogout:      {0, 8, 204},
	rToken:       {580, 60, 200},
	rHealth:      {15, 1, 200},
	rStatic:      {48000, 2, 200},
	rUnknown:     {150, 3, 404},
	rDebugConfig: {3400, 25, 200},
	rExport:      {850000, 1800, 200},
}

// Fixed request paths.
const (
	pProducts    = "/api/v1/products"
	pCart        = "/api/v1/cart"
	pCartItems   = "/api/v1/cart/items"
	pOrders      = "/api/v1/orders"
	pUsersMe     = "/api/v1/users/me"
	pLogin       = "/api/v1/auth/login"
	pLogout      = "/api/v1/auth/logout"
	pToken       = "/oauth/token"
	pHealth      = "/health"
	pDebugConfig = "/api/v1/internal/debug/config"
	pExport      = "/api/v2/admin/export"
)

var staticAssets = []string{
	"/static/js/app.9f3c2b71.js", "/static/css/app.41d0e7aa.css", "/static/js/vendor.c81a2f03.js",
	"/favicon.ico", "/static/img/logo.4b1e9c.svg",
}

// Old links and typos that benign clients still follow; all 404.
var oldLinks = []string{
	"/api/v1/promotions/summer-sale", "/api/v1/product/10042", "/products/10017", "/api/v1/products/10120/reviews",
	"/shop/cart", "/api/v1/categories/garden", "/apple-touch-icon.png", "/apple-touch-icon-precomposed.png",
	"/api/v1/users/me/wishlist", "/api/v1/promotions/black-friday", "/index.php", "/api/v0/products",
}

var (
	desktopUAs = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	}
	mobileWebUAs = []string{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	}
	appUAs = []string{
		"ShopApp/5.12.0 (iPhone; iOS 18.1; Scale/3.00)",
		"ShopApp/5.12.0 (iPhone; iOS 17.6.1; Scale/3.00)",
		"ShopApp/5.11.2 (iPad; iOS 18.0; Scale/2.00)",
		"ShopApp-Android/5.12.0 (Linux; Android 14; Pixel 8) okhttp/4.12.0",
		"ShopApp-Android/5.12.0 (Linux; Android 13; SM-A536B) okhttp/4.12.0",
		"ShopApp-Android/5.11.2 (Linux; Android 12; M2101K6G) okhttp/4.12.0",
	}
	officeUAs = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	}
)

const (
	uaPartner    = "curl/8.5.0"
	uaHealth     = "ELB-HealthChecker/2.0"
	uaGooglebot  = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	uaInventory  = "inventory-sync/1.8.2 Go-http-client/1.1"
	uaOldApp     = "ShopApp/3.4.1 (iPhone; iOS 15.8; Scale/2.00)"
	uaBrute      = "python-requests/2.31.0"
	uaStuffing   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	uaLowSlow    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36"
	uaScraper    = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36"
	uaNiktoFmt   = "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:"
	uaEnumerator = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
)

// Residential and mobile address space for the benign population. Attack
// proxies use other prefixes (attackPrefixes) so no benign address is ever
// an attacker's by accident.
var (
	residentialV4 = [][2]byte{
		{73, 12}, {73, 162}, {24, 30}, {68, 44}, {98, 207}, {76, 91}, {71, 205}, {99, 33}, {108, 28}, {174, 62},
		{86, 140}, {81, 98}, {90, 218}, {2, 25}, {88, 160}, {91, 64}, {84, 112}, {79, 205}, {109, 88}, {176, 1},
		{95, 90}, {82, 64}, {217, 229}, {62, 226}, {80, 109}, {31, 16}, {37, 201}, {46, 114}, {5, 146}, {151, 66},
		{87, 13}, {94, 119}, {178, 25}, {77, 23}, {92, 40}, {85, 214}, {89, 246}, {213, 46}, {83, 135}, {93, 211},
	}
	mobileV4 = [][2]byte{{172, 58}, {172, 56}, {107, 77}, {80, 187}, {37, 80}, {46, 125}, {176, 24}, {31, 4}}
	// IPv6 /32s of broadband and mobile carriers.
	residentialV6 = [][4]byte{{0x2a, 0x02, 0x81, 0x08}, {0x2a, 0x01, 0xcb, 0x00}, {0x20, 0x01, 0x09, 0xe8}, {0x26, 0x00, 0x17, 0x00}, {0x26, 0x01, 0x00, 0x40}, {0x2a, 0x00, 0x23, 0xc5}}
	// Residential-proxy and hosting space used by attackers only.
	attackPrefixes = [][2]byte{
		{187, 19}, {177, 85}, {201, 17}, {190, 104}, {41, 215}, {105, 160}, {102, 89}, {197, 210}, {103, 152}, {110, 136},
		{113, 161}, {116, 98}, {122, 161}, {181, 49}, {186, 96}, {200, 68}, {39, 36}, {36, 64}, {14, 161}, {171, 232},
	}
)

func randV4(r *rand.Rand, prefixes [][2]byte) netip.Addr {
	p := prefixes[r.IntN(len(prefixes))]
	return netip.AddrFrom4([4]byte{p[0], p[1], byte(r.IntN(256)), byte(1 + r.IntN(253))})
}

func randV6(r *rand.Rand) netip.Addr {
	p := residentialV6[r.IntN(len(residentialV6))]
	var b [16]byte
	copy(b[:4], p[:])
	for i := 4; i < 16; i++ {
		b[i] = byte(r.IntN(256))
	}
	return netip.AddrFrom16(b)
}

// residentialIP draws a home broadband address: IPv4 over many /24s, and
// about one in ten IPv6.
func residentialIP(r *rand.Rand) netip.Addr {
	if r.IntN(10) == 0 {
		return randV6(r)
	}
	return randV4(r, residentialV4)
}

func mobileIP(r *rand.Rand) netip.Addr {
	if r.IntN(6) == 0 {
		return randV6(r)
	}
	return randV4(r, mobileV4)
}

type user struct {
	name     string
	id       int
	idPath   string // "/api/v1/users/<id>"
	home     netip.Addr
	mobile   netip.Addr
	web      string // browser UA
	app      string // app UA, "" when the user only uses the web
	mistyper bool   // mistypes 1-3 times before succeeding
	reserved bool   // attack victim or trap user: kept out of other roles
	orders   []int32
	lastMiss int64 // unix ns of the last mistype, to keep one burst per half hour
}

var (
	firstNames = []string{"emma", "liam", "olivia", "noah", "ava", "lucas", "mia", "leon", "sofia", "elias",
		"hannah", "finn", "lena", "paul", "marie", "jonas", "anna", "ben", "laura", "felix", "sarah", "david",
		"julia", "max", "nina", "tom", "clara", "jan", "lea", "tim", "alex", "kim", "chris", "sam", "robin",
		"maria", "jose", "chen", "wei", "yuki", "aisha", "omar", "fatima", "ivan", "olga", "pierre", "camille",
		"giulia", "marco", "sven", "ingrid", "pablo", "lucia", "arjun", "priya", "kofi", "amara", "mateo", "zoe", "ethan"}
	lastNames = []string{"smith", "johnson", "brown", "mueller", "schmidt", "garcia", "martin", "rossi", "bernard",
		"dubois", "jansen", "nowak", "kowalski", "novak", "silva", "santos", "kim", "lee", "wang", "tanaka", "sato",
		"nguyen", "patel", "shah", "khan", "ali", "cohen", "levi", "olsen", "hansen", "berg", "lindqvist", "murphy",
		"kelly", "walsh", "fischer", "weber", "wagner", "becker", "hoffmann", "moreau", "laurent", "fontaine",
		"romano", "greco", "costa", "ferreira", "lopez", "perez", "diaz", "young", "king", "wright", "scott", "green",
		"baker", "adams", "nelson", "hill", "carter"}
	mailDomains = []string{"gmail.com", "gmail.com", "gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com",
		"web.de", "gmx.de", "proton.me", "orange.fr", "libero.it"}
)

type product struct {
	path string // "/api/v1/products/<id>"
	gone bool   // delisted: 404, old links still point to it
}

const (
	productBase = 10001
	orderBase   = 100000
	// historicalOrders exist before the run; new ones are appended.
	historicalOrders = 24000
	populationSize   = 5000
	catalogueSize    = 2400
	pageSize         = 24
	bulkPageSize     = 100
	officeEmployees  = 165
	pollingDevices   = 120
	oldAppDevices    = 25
	orderDeleted     = -1
	orderPartner     = -2
	orderInventory   = -3
)

type world struct {
	users     []user
	employees []user
	products  []product
	pages     []string // "page=N", 1-based
	bulkPages []string // "page=N&per_page=100"
	orderOwn  []int32  // owner user index by id-orderBase; negative: see order* consts
	orderPath []string // built on first use
	partnerOrders,
	inventoryOrders []int32

	// Role assignment, decided once so every actor agrees.
	victimBrute, victimSpray, victimTakeover int
	enumerator                               int // index of the attacker's own account
	stuffedReal                              []int
	pollers, oldApp                          []int
}

func newWorld(seed int64, traps bool) *world {
	r := newRand(seed, saltWorld)
	w := &world{}
	seen := map[string]bool{}
	mk := func(domain string, sep string) string {
		for {
			n := firstNames[r.IntN(len(firstNames))] + sep + lastNames[r.IntN(len(lastNames))]
			if r.IntN(3) > 0 {
				n += strconv.Itoa(r.IntN(99) + 1)
			}
			d := domain
			if d == "" {
				d = mailDomains[r.IntN(len(mailDomains))]
			}
			n += "@" + d
			if !seen[n] {
				seen[n] = true
				return n
			}
		}
	}
	w.users = make([]user, populationSize+1)
	for i := range w.users {
		u := &w.users[i]
		sep := "."
		if r.IntN(4) == 0 {
			sep = "_"
		}
		u.name = mk("", sep)
		u.id = 40000 + i*7 + r.IntN(7)
		u.idPath = "/api/v1/users/" + strconv.Itoa(u.id)
		u.home = residentialIP(r)
		u.mobile = mobileIP(r)
		u.web = desktopUAs[r.IntN(len(desktopUAs))]
		if r.IntN(10) < 3 {
			u.web = mobileWebUAs[r.IntN(len(mobileWebUAs))]
		}
		if r.IntN(10) < 4 {
			u.app = appUAs[r.IntN(len(appUAs))]
		}
		u.mistyper = traps && r.IntN(100) < 4
	}
	// Employees of a business customer, all behind the office NAT.
	w.employees = make([]user, officeEmployees)
	for i := range w.employees {
		u := &w.employees[i]
		u.name = mk("northwind-traders.example", ".")
		u.id = 90000 + i
		u.idPath = "/api/v1/users/" + strconv.Itoa(u.id)
		u.web = officeUAs[r.IntN(len(officeUAs))]
	}

	w.products = make([]product, catalogueSize)
	for i := range w.products {
		w.products[i].path = "/api/v1/products/" + strconv.Itoa(productBase+i)
		w.products[i].gone = r.IntN(100) < 3
	}
	for p := 1; p <= (catalogueSize+pageSize-1)/pageSize; p++ {
		w.pages = append(w.pages, "page="+strconv.Itoa(p))
	}
	for p := 1; p <= (catalogueSize+bulkPageSize-1)/bulkPageSize; p++ {
		w.bulkPages = append(w.bulkPages, "page="+strconv.Itoa(p)+"&per_page="+strconv.Itoa(bulkPageSize))
	}

	// Roles. The last user is the enumerator's own freshly registered
	// account; victims and role users are ordinary customers taken out of
	// the pool of anything else.
	pick := func() int {
		for {
			i := r.IntN(populationSize)
			if u := &w.users[i]; !u.reserved && !u.mistyper {
				u.reserved = true
				return i
			}
		}
	}
	w.enumerator = populationSize
	en := &w.users[populationSize]
	en.reserved, en.mistyper = true, false
	en.home = netip.AddrFrom4([4]byte{91, 203, 145, 18})
	w.victimBrute, w.victimSpray, w.victimTakeover = pick(), pick(), pick()
	for range 3 {
		w.stuffedReal = append(w.stuffedReal, pick())
	}
	for range pollingDevices {
		i := pick()
		if w.users[i].app == "" {
			w.users[i].app = appUAs[r.IntN(len(appUAs))]
		}
		w.pollers = append(w.pollers, i)
	}
	for range oldAppDevices {
		i := pick()
		w.users[i].app = uaOldApp
		w.oldApp = append(w.oldApp, i)
	}

	w.orderOwn = make([]int32, historicalOrders, historicalOrders+8192)
	w.orderPath = make([]string, historicalOrders, historicalOrders+8192)
	for i := range w.orderOwn {
		switch n := r.IntN(100); {
		case n < 4:
			w.orderOwn[i] = orderDeleted
		case n < 6:
			w.orderOwn[i] = orderPartner
			w.partnerOrders = append(w.partnerOrders, int32(i))
		default:
			o := r.IntN(populationSize + 1)
			w.orderOwn[i] = int32(o)
			if u := &w.users[o]; len(u.orders) < 6 {
				u.orders = append(u.orders, int32(i))
			}
		}
	}
	// The inventory integration watches a dozen open orders of its own.
	for range 12 {
		i := r.IntN(historicalOrders)
		w.orderOwn[i] = orderInventory
		w.inventoryOrders = append(w.inventoryOrders, int32(i))
	}
	// The enumerator has two recent orders of its own near the end of the
	// historical range; it walks from just below them.
	for _, i := range []int32{historicalOrders - 180, historicalOrders - 60} {
		w.orderOwn[i] = int32(populationSize)
		en.orders = append(en.orders, i)
	}
	return w
}

func (w *world) newOrder(owner int32) int32 {
	w.orderOwn = append(w.orderOwn, owner)
	w.orderPath = append(w.orderPath, "")
	return int32(len(w.orderOwn) - 1)
}

// orderURL returns the path of order index i (id orderBase+i), building and
// caching it on first use.
func (w *world) orderURL(i int32) string {
	for int(i) >= len(w.orderPath) {
		w.orderPath = append(w.orderPath, "")
	}
	if p := w.orderPath[i]; p != "" {
		return p
	}
	p := "/api/v1/orders/" + strconv.Itoa(orderBase+int(i))
	w.orderPath[i] = p
	return p
}

// orderStatus is what GET /api/v1/orders/{id} answers to owner.
func (w *world) orderStatus(i int32, owner int32) int {
	if int(i) >= len(w.orderOwn) {
		return 404
	}
	switch o := w.orderOwn[i]; {
	case o == orderDeleted:
		return 404
	case o == owner:
		return 200
	default:
		return 403
	}
}

// popularProduct draws a product index with a long-tailed popularity.
func popularProduct(r *rand.Rand) int {
	x := math.Pow(r.Float64(), 2.2)
	// A fixed odd multiplier scatters popularity over the id range.
	return int(x*catalogueSize) * 7919 % catalogueSize
}

// lognormal returns median*exp(sigma*N(0,1)).
func lognormal(r *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*r.NormFloat64())
}

func ms(v float64) int64  { return int64(v * 1e6) }
func sec(v float64) int64 { return int64(v * 1e9) }

// request describes one call an actor makes; fill turns it into an event.
type request struct {
	ip     netip.Addr
	ua     string
	user   string
	method string
	path   string
	query  string
	rt     route
	status int     // intended status; 0 means the route's success status
	size   float64 // body size override (median); 0 means the route's
}

// fill writes req into ev, drawing size and latency, and applies server
// errors: the background noise on every dynamic route and the error spike.
// It returns the final status so callers can react (retry, fall back).
func (e *engine) fill(r *rand.Rand, ev *detectors.Event, q *request) int {
	m := &routeModel[q.rt]
	st := q.status
	if st == 0 {
		st = m.status
	}
	if st < 400 && q.rt != rStatic && q.rt != rHealth {
		if p := e.errorRate(q.rt, e.now); r.Float64() < p {
			st = serverErrors[r.IntN(len(serverErrors))]
		}
	}
	ev.ClientIP = q.ip
	ev.UserAgent = q.ua
	ev.User = q.user
	ev.Method = q.method
	ev.Path = q.path
	ev.Query = q.query
	ev.Status = st
	lat := lognormal(r, m.latency, 0.45)
	var size float64
	switch {
	case st == 304 || st == 204:
		size = 0
	case st >= 500:
		size = float64(errSizes[r.IntN(len(errSizes))])
		switch st {
		case 503:
			lat = lognormal(r, 1.5, 0.3)
		case 504:
			lat = 30000 + r.Float64()*5
		case 502:
			lat = lognormal(r, 8, 0.6)
		}
	case st >= 400:
		size = 60 + float64(r.IntN(40))
		if q.rt == rUnknown {
			size = 150 + float64(r.IntN(20))
		}
	default:
		med := m.okBytes
		if q.size > 0 {
			med = q.size
		}
		size = lognormal(r, med, 0.18)
	}
	ev.Bytes = int64(size)
	ev.Latency = roundLatency(lat)
	return st
}

var (
	serverErrors = [...]int{500, 502, 502, 503, 504}
	errSizes     = [...]int{0, 0, 162, 183}
)

// roundLatency keeps whole microseconds, the finest unit the text formats
// print (Apache %D), with a floor so no request takes zero time.
func roundLatency(msv float64) time.Duration {
	us := int64(msv * 1000)
	if us < 50 {
		us = 50 + us%7
	}
	return time.Duration(us * 1000)
}

// errorRate is the probability that a call to rt fails with a 5xx at time
// t: ~0.4% background noise, and during the error spike a much higher rate
// on POST /api/v1/orders.
func (e *engine) errorRate(rt route, t int64) float64 {
	if rt == rOrderPost && e.kinds[KindErrorSpike] {
		w := e.sched.window(idErrorSpike)
		if t >= w[0] && t < w[1] {
			return 0.42
		}
	}
	return 0.004
}
