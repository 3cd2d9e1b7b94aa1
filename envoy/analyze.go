package envoy

import "fmt"

// DefaultClient is the app whose sidecar's view is generated: productpage calls details and
// reviews, reviews calls ratings; without Sidecar resources every pod of the namespace sees the same routes.
const DefaultClient = "productpage"

// Result is what a client's sidecar gets from Istio for the input, reduced per service, with the
// dangling-reference check.
type Result struct {
	Client   Client
	Snapshot *Snapshot `json:"-"`
	Services []ServiceRoutes
	Problems []Problem
}

// Analyze runs Istio's generation for a sidecar of the client app and summarizes each service's routes.
func Analyze(in *Input, clientApp string, opts GenerateOptions) (*Result, error) {
	client, err := in.ClientOf(clientApp, "")
	if err != nil {
		return nil, err
	}
	snap, err := Generate(in.IstioYAML, in.KubeYAML, client, opts)
	if err != nil {
		return nil, err
	}
	services, err := Summarize(snap, in.Services)
	if err != nil {
		return nil, err
	}
	return &Result{Client: client, Snapshot: snap, Services: services, Problems: CheckReferences(snap)}, nil
}

// Service returns the summary of one service's routes on a port.
func (r *Result) Service(name string, port int) (ServiceRoutes, error) {
	for _, s := range r.Services {
		if s.Service.Name == name && s.Port == port {
			return s, nil
		}
	}
	return ServiceRoutes{}, fmt.Errorf("no routes for %s:%d", name, port)
}

// ClusterName is Istio's name for the outbound cluster of a service's subset.
func ClusterName(port int, subset, service, namespace string) string {
	return fmt.Sprintf("outbound|%d|%s|%s.%s.svc.%s", port, subset, service, namespace, DomainSuffix)
}
