package envoy

// Each scenario's input is testdata/<scenario>.yaml, written by tools/routes.ts from the program's
// builders and a stack-config `traffic` value (its SCENARIOS table); scripts/go-test.sh regenerates
// them before `go test`, so a change to the config schema or the route builders shows up here.

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	ns   = "bookinfo"
	port = 9080
)

func cl(service, subset string) string { return ClusterName(port, subset, service, ns) }

var (
	cacheMu sync.Mutex
	cache   = map[string]*Result{}
)

// analyze runs Istio's generation once per scenario file (tests share the result; they only read it).
func analyze(t *testing.T, scenario string) *Result {
	t.Helper()
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if r, ok := cache[scenario]; ok {
		return r
	}
	path := filepath.Join("testdata", scenario+".yaml")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run scripts/go-test.sh, which writes it with tools/routes.ts", path)
	}
	in, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Analyze(in, DefaultClient, GenerateOptions{})
	if err != nil {
		t.Fatalf("%s: %v", scenario, err)
	}
	cache[scenario] = r
	return r
}

func routesOf(t *testing.T, scenario, service string) ServiceRoutes {
	t.Helper()
	s, err := analyze(t, scenario).Service(service, port)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// reaches returns the clusters (with weights) of the route a request is sent by.
func reaches(t *testing.T, s ServiceRoutes, req Request) (string, []WeightedCluster) {
	t.Helper()
	i, err := s.Resolve(req)
	if err != nil {
		t.Fatal(err)
	}
	if i < 0 {
		t.Fatalf("%s: no route matches %+v", s.VirtualHost, req)
	}
	return s.Routes[i].Name, s.Routes[i].Clusters
}

func only(name string) []WeightedCluster { return []WeightedCluster{{Name: name, Weight: 100}} }

func dur(s string) *time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return &d
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}

// Istio's retry policy on every route the VirtualService gives no retries of its own (mesh default).
var istioDefaultRetry = &Retry{
	Attempts: 2,
	RetryOn:  "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
}

// singleRoute asserts the service has exactly one route, "default", for any request, and returns it.
func singleRoute(t *testing.T, scenario, service string) Route {
	t.Helper()
	s := routesOf(t, scenario, service)
	if len(s.Routes) != 1 {
		t.Fatalf("%s %s: want 1 route, got %d: %+v", scenario, service, len(s.Routes), s.Routes)
	}
	r := s.Routes[0]
	equal(t, service+" route name", r.Name, "default")
	equal(t, service+" path", r.Path, PathMatch{Kind: "prefix", Value: "/"})
	equal(t, service+" headers", len(r.Headers), 0)
	return r
}

func TestAllServicesGoToV1WithoutConfig(t *testing.T) {
	for _, svc := range []string{"productpage", "details", "ratings", "reviews"} {
		r := singleRoute(t, "all-v1", svc)
		equal(t, svc+" clusters", r.Clusters, only(cl(svc, "v1")))
		equal(t, svc+" weighted", r.Weighted, false)
		equal(t, svc+" timeout (0 = disabled)", r.Timeout, dur("0s"))
		equal(t, svc+" retry", r.Retry, istioDefaultRetry)
		equal(t, svc+" fault", r.Fault, (*Fault)(nil))
	}
}

func TestBlueGreen(t *testing.T) {
	for scenario, subset := range map[string]string{"blue-green-v1": "v1", "blue-green-v2": "v2"} {
		t.Run(scenario, func(t *testing.T) {
			r := singleRoute(t, scenario, "reviews")
			equal(t, "clusters", r.Clusters, only(cl("reviews", subset)))
			equal(t, "weighted", r.Weighted, false)
			_, to := reaches(t, routesOf(t, scenario, "reviews"), Request{Path: "/reviews/0"})
			equal(t, "a request reaches", to, only(cl("reviews", subset)))
			// The other services are untouched by the flip.
			equal(t, "ratings", singleRoute(t, scenario, "ratings").Clusters, only(cl("ratings", "v1")))
		})
	}
}

// The program's VirtualServices name short hosts ("reviews"). Istio resolves them against the
// config's namespace and domain; the fake store leaves the domain empty, so without the domain set
// in istiofake.go the VirtualService would match nothing and Istio's default route (every pod of
// the service, no subset) would stand in, silently.
func TestShortHostNeedsTheDomain(t *testing.T) {
	in, err := LoadFile(filepath.Join("testdata", "blue-green-v2.yaml"))
	if err != nil {
		t.Skipf("%v (run scripts/go-test.sh)", err)
	}
	if !strings.Contains(in.IstioYAML, "hosts:\n    - reviews\n") {
		t.Fatalf("the input no longer uses the short host this test is about:\n%s", in.IstioYAML)
	}
	bare, err := Analyze(in, DefaultClient, GenerateOptions{KeepEmptyDomain: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := bare.Service("reviews", port)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "without the domain: Istio's default route", s.Routes[0].Clusters, only(cl("reviews", "")))
	equal(t, "with the domain: the VirtualService's route", routesOf(t, "blue-green-v2", "reviews").Routes[0].Clusters, only(cl("reviews", "v2")))
}

func TestCanary(t *testing.T) {
	cases := []struct {
		scenario string
		want     []WeightedCluster
	}{
		{"canary-10", []WeightedCluster{{cl("reviews", "v1"), 90}, {cl("reviews", "v2"), 10}}},
		{"canary-50", []WeightedCluster{{cl("reviews", "v1"), 50}, {cl("reviews", "v2"), 50}}},
		// The program keeps v1 listed at weight 0 (so the next flip is a weight change); Istio leaves
		// zero-weight destinations out of what Envoy gets.
		{"canary-100", []WeightedCluster{{cl("reviews", "v2"), 100}}},
	}
	for _, c := range cases {
		t.Run(c.scenario, func(t *testing.T) {
			r := singleRoute(t, c.scenario, "reviews")
			equal(t, "weighted", r.Weighted, true)
			equal(t, "weighted clusters", r.Clusters, c.want)
			equal(t, "timeout", r.Timeout, dur("0s"))
			equal(t, "retry", r.Retry, istioDefaultRetry)
			equal(t, "fault", r.Fault, (*Fault)(nil))
		})
	}
}

func TestRatingsDelayAndReviewsTimeout(t *testing.T) {
	ratings := singleRoute(t, "delay-timeout", "ratings")
	equal(t, "ratings clusters", ratings.Clusters, only(cl("ratings", "v1")))
	equal(t, "ratings fault", ratings.Fault, &Fault{Delay: dur("2s"), DelayPercent: 100})

	reviews := singleRoute(t, "delay-timeout", "reviews")
	equal(t, "reviews clusters", reviews.Clusters, only(cl("reviews", "v2")))
	equal(t, "reviews timeout", reviews.Timeout, dur("500ms"))
	equal(t, "reviews fault", reviews.Fault, (*Fault)(nil))
	equal(t, "reviews retry", reviews.Retry, istioDefaultRetry)
}

func TestAbortFault(t *testing.T) {
	r := singleRoute(t, "abort", "ratings")
	equal(t, "clusters", r.Clusters, only(cl("ratings", "v1")))
	equal(t, "fault", r.Fault, &Fault{AbortStatus: 503, AbortPercent: 10})
	equal(t, "reviews has no fault", singleRoute(t, "abort", "reviews").Fault, (*Fault)(nil))
}

func TestRetries(t *testing.T) {
	r := singleRoute(t, "retries", "reviews")
	equal(t, "retry", r.Retry, &Retry{Attempts: 3, PerTryTimeout: dur("2s"), RetryOn: "5xx,connect-failure"})
	equal(t, "timeout", r.Timeout, dur("0s"))
	equal(t, "ratings keeps Istio's default", singleRoute(t, "retries", "ratings").Retry, istioDefaultRetry)
}

func TestIPhoneHeaderRoute(t *testing.T) {
	s := routesOf(t, "iphone", "reviews")
	if len(s.Routes) != 2 {
		t.Fatalf("want the header route then the default route, got %+v", s.Routes)
	}
	equal(t, "route names in order", []string{s.Routes[0].Name, s.Routes[1].Name}, []string{"header-0-user-agent", "default"})
	equal(t, "header matchers", s.Routes[0].Headers, []HeaderMatch{{Name: "user-agent", Kind: "regex", Value: ".*iPhone.*"}})
	equal(t, "header route clusters", s.Routes[0].Clusters, only(cl("reviews", "v3")))
	equal(t, "default route headers", len(s.Routes[1].Headers), 0)
	equal(t, "default route clusters", s.Routes[1].Clusters, only(cl("reviews", "v1")))

	iphone := "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
	for _, c := range []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"iPhone", map[string]string{"User-Agent": iphone}, "v3"},
		{"header name in another case", map[string]string{"user-agent": iphone}, "v3"},
		{"desktop browser", map[string]string{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}, "v1"},
		{"no User-Agent", nil, "v1"},
		{"regex is case-sensitive", map[string]string{"User-Agent": "iphone"}, "v1"},
		{"other header carries iPhone", map[string]string{"X-Device": "iPhone"}, "v1"},
	} {
		_, to := reaches(t, s, Request{Path: "/reviews/0", Headers: c.headers})
		equal(t, c.name, to, only(cl("reviews", c.want)))
	}
}

func TestJasonHeaderRouteBeforeCanary(t *testing.T) {
	s := routesOf(t, "jason", "reviews")
	if len(s.Routes) != 2 {
		t.Fatalf("want the header route then the default route, got %+v", s.Routes)
	}
	jason, def := s.Routes[0], s.Routes[1]
	equal(t, "jason route", jason.Name, "header-0-end-user")
	equal(t, "jason matcher", jason.Headers, []HeaderMatch{{Name: "end-user", Kind: "exact", Value: "jason"}})
	equal(t, "jason clusters", jason.Clusters, only(cl("reviews", "v2")))
	equal(t, "jason timeout", jason.Timeout, dur("1s"))
	equal(t, "default clusters", def.Clusters, []WeightedCluster{{cl("reviews", "v1"), 90}, {cl("reviews", "v3"), 10}})
	equal(t, "default weighted", def.Weighted, true)
	equal(t, "default timeout", def.Timeout, dur("1s"))

	for _, c := range []struct {
		name    string
		headers map[string]string
		route   string
	}{
		{"jason", map[string]string{"end-user": "jason"}, "header-0-end-user"},
		{"Jason (exact is case-sensitive)", map[string]string{"end-user": "Jason"}, "default"},
		{"jason2 (exact, not prefix)", map[string]string{"end-user": "jason2"}, "default"},
		{"anonymous", nil, "default"},
	} {
		route, _ := reaches(t, s, Request{Path: "/reviews/0", Headers: c.headers})
		equal(t, c.name, route, c.route)
	}
}

// Every scenario the program can produce, and every stack file, names only clusters that exist and
// have endpoints.
func TestNoDanglingReferences(t *testing.T) {
	scenarios := []string{"all-v1", "blue-green-v1", "blue-green-v2", "canary-10", "canary-50", "canary-100",
		"delay-timeout", "iphone", "jason", "abort", "retries"}
	stacks, _ := filepath.Glob(filepath.Join("testdata", "stack-*.yaml"))
	if len(stacks) == 0 {
		t.Fatal("no testdata/stack-*.yaml: run scripts/go-test.sh")
	}
	for _, f := range stacks {
		scenarios = append(scenarios, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	for _, sc := range scenarios {
		r := analyze(t, sc)
		for _, p := range r.Problems {
			t.Errorf("%s: %s", sc, p)
		}
		// The check did look at the routes: each service's routes name at least one cluster.
		for _, s := range r.Services {
			for _, rt := range s.Routes {
				if len(rt.Clusters) == 0 {
					t.Errorf("%s %s route %s names no cluster", sc, s.Service.Name, rt.Name)
				}
			}
		}
	}
}

// A VirtualService routing to a subset no DestinationRule defines: Istio generates the route
// without an error, names the cluster, and generates no such cluster. The check must report it.
func TestUndefinedSubsetFailsTheCheck(t *testing.T) {
	r := analyze(t, "undefined-subset")
	reviews := singleRoute(t, "undefined-subset", "reviews")
	equal(t, "the route still names the cluster", reviews.Clusters, []WeightedCluster{{cl("reviews", "v1"), 90}, {cl("reviews", "v2"), 10}})
	equal(t, "problems", r.Problems, []Problem{{
		RouteConfig: "9080", VirtualHost: "reviews.bookinfo.svc.cluster.local:9080", Route: "default",
		Cluster: cl("reviews", "v2"), Reason: ReasonNoCluster,
	}})
}

// The seed's lab routed to subsets without creating any DestinationRule: every route dangles.
func TestSeedWithoutDestinationRulesFailsTheCheck(t *testing.T) {
	r := analyze(t, "seed-no-destinationrules")
	var got []string
	for _, p := range r.Problems {
		if p.Reason != ReasonNoCluster {
			t.Errorf("unexpected reason: %s", p)
		}
		got = append(got, p.Cluster)
	}
	equal(t, "dangling clusters", got, []string{cl("details", "v1"), cl("productpage", "v1"), cl("ratings", "v1"), cl("reviews", "v2")})
}

// A subset whose pods are all gone: the cluster exists and has no endpoints.
func TestSubsetWithoutEndpointsFailsTheCheck(t *testing.T) {
	r := analyze(t, "no-endpoints")
	equal(t, "problems", r.Problems, []Problem{{
		RouteConfig: "9080", VirtualHost: "reviews.bookinfo.svc.cluster.local:9080", Route: "default",
		Cluster: cl("reviews", "v2"), Reason: ReasonNoEndpoints,
	}})
}

func TestTable(t *testing.T) {
	var b strings.Builder
	if err := WriteTable(&b, "Envoy routes for scenario jason", analyze(t, "jason")); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`header-0-end-user  end-user = "jason"`,
		"v1 90%, v3 10%",
		"references: every cluster a route names exists and has endpoints",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := WriteTable(&b, "undefined subset", analyze(t, "undefined-subset")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "references: 1 PROBLEM(S)") {
		t.Errorf("table does not report the dangling subset:\n%s", b.String())
	}
}
