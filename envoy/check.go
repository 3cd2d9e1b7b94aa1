package envoy

import (
	"fmt"
	"sort"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// Problem is a route that sends requests nowhere useful.
type Problem struct {
	RouteConfig, VirtualHost, Route, Cluster string
	Reason                                   string
}

func (p Problem) String() string {
	return fmt.Sprintf("route %q of %s (route config %s) -> %s: %s", p.Route, p.VirtualHost, p.RouteConfig, p.Cluster, p.Reason)
}

// Dangling-reference reasons.
const (
	ReasonNoCluster   = "no such cluster (Envoy answers 503 NC); is the subset defined by a DestinationRule?"
	ReasonNoEndpoints = "cluster has no endpoints (Envoy answers 503 UH); do pods carry the subset's labels?"
)

// CheckReferences checks that every cluster any route names (with a non-zero weight or not) is
// among the generated clusters and, if its endpoints come from EDS, has at least one endpoint.
// Istio generates such routes without complaint: a subset no DestinationRule defines simply has
// no cluster.
func CheckReferences(s *Snapshot) []Problem {
	clusters := map[string]*cluster.Cluster{}
	for _, c := range s.Clusters {
		clusters[c.GetName()] = c
	}
	endpoints := map[string]int{}
	for _, cla := range s.Endpoints {
		for _, le := range cla.GetEndpoints() {
			endpoints[cla.GetClusterName()] += len(le.GetLbEndpoints())
		}
	}
	var problems []Problem
	for _, rc := range s.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				for _, name := range routeClusters(r.GetRoute()) {
					p := Problem{RouteConfig: rc.GetName(), VirtualHost: vh.GetName(), Route: r.GetName(), Cluster: name}
					c, ok := clusters[name]
					switch {
					case !ok:
						p.Reason = ReasonNoCluster
					case c.GetType() == cluster.Cluster_EDS && endpoints[name] == 0:
						p.Reason = ReasonNoEndpoints
					default:
						continue
					}
					problems = append(problems, p)
				}
			}
		}
	}
	sort.SliceStable(problems, func(a, b int) bool { return problems[a].String() < problems[b].String() })
	return problems
}

func routeClusters(a *route.RouteAction) []string {
	if a == nil {
		return nil
	}
	if c := a.GetCluster(); c != "" {
		return []string{c}
	}
	var names []string
	for _, wc := range a.GetWeightedClusters().GetClusters() {
		names = append(names, wc.GetName())
	}
	return names
}
