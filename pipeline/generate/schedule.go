package generate

import "time"

// Attack ids, in the order they appear in the truth.
const (
	idBrute = iota
	idSpray
	idTakeover
	idGlobalSpike
	idStuffSingle
	idStuffSlow
	idScan
	idEnum
	idScrape
	idRateAnomaly
	idShadow
	idZombie
	idErrorSpike
	attackCount
)

// attackPlan is where each attack sits in a one-hour run (minutes from the
// start); other durations keep the same shape, scaled into the time after
// the warm-up.
var attackPlan = [attackCount]struct {
	id       string
	kind     string
	from, to float64
}{
	idBrute:       {"a1", KindLoginBurst, 18, 24},
	idSpray:       {"a2", KindLoginBurst, 26, 34},
	idTakeover:    {"a3", KindLoginBurst, 36, 41},
	idGlobalSpike: {"a4", KindLoginBurst, 42, 46},
	idStuffSingle: {"a5", KindCredentialStuffing, 20, 30},
	idStuffSlow:   {"a6", KindCredentialStuffing, 16, 58},
	idScan:        {"a7", KindScanning, 21, 24},
	idEnum:        {"a8", KindEnumeration, 30, 39},
	idScrape:      {"a9", KindScraping, 24, 44},
	idRateAnomaly: {"a10", KindRateAnomaly, 35, 45},
	idShadow:      {"a11", KindShadowAPI, 17, 57},
	idZombie:      {"a12", KindShadowAPI, 20, 58},
	idErrorSpike:  {"a13", KindErrorSpike, 47, 55},
}

type schedule struct {
	w [attackCount][2]int64
}

// newSchedule maps the one-hour plan onto [start, start+d): the first
// min(15 min, d/4) is warm-up, so baselines exist before anything happens.
func newSchedule(start int64, d time.Duration) schedule {
	warm := min(15*time.Minute, d/4)
	span := float64(d - warm)
	var s schedule
	for i, p := range attackPlan {
		at := func(m float64) int64 {
			f := (m - 15) / 45
			return start + int64(warm) + int64(f*span)
		}
		s.w[i] = [2]int64{at(p.from), at(p.to)}
	}
	return s
}

func (s *schedule) window(id int) [2]int64 { return s.w[id] }

// scale is how much shorter than in the one-hour plan the attack windows
// are; attacks keep their request rates and shrink their volume with it.
func (s *schedule) scale(id int) float64 {
	p := attackPlan[id]
	w := s.w[id]
	return float64(w[1]-w[0]) / float64((p.to-p.from)*float64(time.Minute))
}
