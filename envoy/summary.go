package envoy

import (
	"fmt"
	"strconv"
	"time"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultfilter "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// FaultFilterName is the key of the fault filter's per-route config.
const FaultFilterName = "envoy.filters.http.fault"

// ServiceRoutes is what a client sidecar's Envoy does with requests to one service's port.
type ServiceRoutes struct {
	Service     Service
	Port        int
	RouteConfig string // the RDS route configuration, named after the port
	VirtualHost string
	Routes      []Route // in Envoy's order of evaluation: the first match wins
}

// Route is one Envoy route, reduced to what decides where a request goes and how.
type Route struct {
	Name     string
	Path     PathMatch
	Headers  []HeaderMatch // all must match
	Clusters []WeightedCluster
	// Weighted is true when Envoy splits by weight (weighted_clusters), false for a single cluster.
	Weighted bool
	// Timeout is the route timeout: nil when Envoy's default (15 s) applies, 0 when disabled.
	Timeout *time.Duration
	Retry   *Retry
	Fault   *Fault
	// Other is set for routes that do not forward (direct response, redirect).
	Other string
}

// PathMatch is the route's path condition.
type PathMatch struct {
	Kind  string // prefix, path (exact), regex, separated-prefix, template
	Value string
}

// HeaderMatch is one header condition of a route.
type HeaderMatch struct {
	Name       string
	Kind       string // exact, prefix, suffix, contains, regex, present
	Value      string
	IgnoreCase bool
	Invert     bool
	// MissingAsEmpty: an absent header is matched as the empty string (treat_missing_header_as_empty).
	MissingAsEmpty bool
}

// WeightedCluster is a destination cluster and its weight (100 for a single-cluster route).
type WeightedCluster struct {
	Name   string
	Weight uint32
}

// Retry is the route's retry policy.
type Retry struct {
	Attempts             uint32
	PerTryTimeout        *time.Duration
	RetryOn              string
	RetriableStatusCodes []uint32
}

// Fault is the route's fault injection, from the fault filter's per-route config.
type Fault struct {
	Delay        *time.Duration
	DelayPercent float64
	AbortStatus  uint32
	AbortPercent float64
}

// Summarize reduces the snapshot's route configuration for each HTTP port of each service.
func Summarize(s *Snapshot, services []Service) ([]ServiceRoutes, error) {
	var out []ServiceRoutes
	for _, svc := range services {
		for _, port := range svc.Ports {
			sr, err := summarizeService(s, svc, port)
			if err != nil {
				return nil, err
			}
			out = append(out, sr)
		}
	}
	return out, nil
}

func summarizeService(s *Snapshot, svc Service, port int) (ServiceRoutes, error) {
	name := strconv.Itoa(port)
	sr := ServiceRoutes{Service: svc, Port: port, RouteConfig: name}
	for _, rc := range s.Routes {
		if rc.GetName() != name {
			continue
		}
		for _, vh := range rc.GetVirtualHosts() {
			if !hasDomain(vh, svc.FQDN()) {
				continue
			}
			sr.VirtualHost = vh.GetName()
			for _, r := range vh.GetRoutes() {
				rt, err := summarizeRoute(r)
				if err != nil {
					return sr, fmt.Errorf("%s route %q: %w", vh.GetName(), r.GetName(), err)
				}
				sr.Routes = append(sr.Routes, rt)
			}
			return sr, nil
		}
	}
	return sr, fmt.Errorf("no virtual host for %s in route configuration %q", svc.FQDN(), name)
}

func hasDomain(vh *route.VirtualHost, domain string) bool {
	for _, d := range vh.GetDomains() {
		if d == domain {
			return true
		}
	}
	return false
}

func summarizeRoute(r *route.Route) (Route, error) {
	out := Route{Name: r.GetName()}
	m := r.GetMatch()
	switch p := m.GetPathSpecifier().(type) {
	case *route.RouteMatch_Prefix:
		out.Path = PathMatch{"prefix", p.Prefix}
	case *route.RouteMatch_Path:
		out.Path = PathMatch{"path", p.Path}
	case *route.RouteMatch_SafeRegex:
		out.Path = PathMatch{"regex", p.SafeRegex.GetRegex()}
	case *route.RouteMatch_PathSeparatedPrefix:
		out.Path = PathMatch{"separated-prefix", p.PathSeparatedPrefix}
	default:
		return out, fmt.Errorf("unsupported path match %T", p)
	}
	if len(m.GetQueryParameters()) > 0 || m.GetGrpc() != nil || len(m.GetDynamicMetadata()) > 0 {
		return out, fmt.Errorf("query, gRPC or metadata matchers are not summarized")
	}
	for _, h := range m.GetHeaders() {
		hm, err := summarizeHeader(h)
		if err != nil {
			return out, err
		}
		out.Headers = append(out.Headers, hm)
	}

	action := r.GetRoute()
	if action == nil {
		switch {
		case r.GetDirectResponse() != nil:
			out.Other = fmt.Sprintf("direct response %d", r.GetDirectResponse().GetStatus())
		case r.GetRedirect() != nil:
			out.Other = "redirect"
		default:
			out.Other = "non-forwarding"
		}
		return out, nil
	}
	switch c := action.GetClusterSpecifier().(type) {
	case *route.RouteAction_Cluster:
		out.Clusters = []WeightedCluster{{Name: c.Cluster, Weight: 100}}
	case *route.RouteAction_WeightedClusters:
		out.Weighted = true
		for _, wc := range c.WeightedClusters.GetClusters() {
			out.Clusters = append(out.Clusters, WeightedCluster{Name: wc.GetName(), Weight: wc.GetWeight().GetValue()})
		}
	default:
		return out, fmt.Errorf("unsupported cluster specifier %T", c)
	}
	out.Timeout = duration(action.GetTimeout())
	if rp := action.GetRetryPolicy(); rp != nil {
		out.Retry = &Retry{
			Attempts:             rp.GetNumRetries().GetValue(),
			PerTryTimeout:        duration(rp.GetPerTryTimeout()),
			RetryOn:              rp.GetRetryOn(),
			RetriableStatusCodes: rp.GetRetriableStatusCodes(),
		}
	}
	if cfg, ok := r.GetTypedPerFilterConfig()[FaultFilterName]; ok {
		f := &faultfilter.HTTPFault{}
		if err := cfg.UnmarshalTo(f); err != nil {
			return out, fmt.Errorf("fault filter config: %w", err)
		}
		out.Fault = &Fault{}
		if d := f.GetDelay(); d != nil {
			out.Fault.Delay = duration(d.GetFixedDelay())
			out.Fault.DelayPercent = percent(d.GetPercentage())
		}
		if a := f.GetAbort(); a != nil {
			out.Fault.AbortStatus = a.GetHttpStatus()
			out.Fault.AbortPercent = percent(a.GetPercentage())
		}
	}
	return out, nil
}

func summarizeHeader(h *route.HeaderMatcher) (HeaderMatch, error) {
	out := HeaderMatch{Name: h.GetName(), Invert: h.GetInvertMatch(), MissingAsEmpty: h.GetTreatMissingHeaderAsEmpty()}
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *route.HeaderMatcher_StringMatch:
		out.IgnoreCase = s.StringMatch.GetIgnoreCase()
		switch p := s.StringMatch.GetMatchPattern().(type) {
		case *matcher.StringMatcher_Exact:
			out.Kind, out.Value = "exact", p.Exact
		case *matcher.StringMatcher_Prefix:
			out.Kind, out.Value = "prefix", p.Prefix
		case *matcher.StringMatcher_Suffix:
			out.Kind, out.Value = "suffix", p.Suffix
		case *matcher.StringMatcher_Contains:
			out.Kind, out.Value = "contains", p.Contains
		case *matcher.StringMatcher_SafeRegex:
			out.Kind, out.Value = "regex", p.SafeRegex.GetRegex()
		default:
			return out, fmt.Errorf("header %s: unsupported string match %T", h.GetName(), p)
		}
	case *route.HeaderMatcher_PresentMatch:
		out.Kind = "present"
		if !s.PresentMatch {
			out.Invert = !out.Invert
		}
	case *route.HeaderMatcher_ExactMatch:
		out.Kind, out.Value = "exact", s.ExactMatch
	case *route.HeaderMatcher_PrefixMatch:
		out.Kind, out.Value = "prefix", s.PrefixMatch
	case *route.HeaderMatcher_SuffixMatch:
		out.Kind, out.Value = "suffix", s.SuffixMatch
	case *route.HeaderMatcher_ContainsMatch:
		out.Kind, out.Value = "contains", s.ContainsMatch
	case *route.HeaderMatcher_SafeRegexMatch:
		out.Kind, out.Value = "regex", s.SafeRegexMatch.GetRegex()
	default:
		return out, fmt.Errorf("header %s: unsupported matcher %T", h.GetName(), s)
	}
	return out, nil
}

func duration(d *durationpb.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := d.AsDuration()
	return &v
}

func percent(p *typev3.FractionalPercent) float64 {
	if p == nil {
		return 100 // Envoy's default when no percentage is given
	}
	n := float64(p.GetNumerator())
	switch p.GetDenominator() {
	case typev3.FractionalPercent_TEN_THOUSAND:
		return n / 100
	case typev3.FractionalPercent_MILLION:
		return n / 10000
	default:
		return n
	}
}
