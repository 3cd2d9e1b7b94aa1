// The only file of this module that touches Istio's internals: its in-memory discovery server
// (pilot/test/xds), which Istio's own tests use, on the pseudo-version pinned in go.mod (the same
// ISTIO_MODULE_VERSION as istioctl in scripts/versions.env). These helpers are not a supported API;
// if an Istio upgrade breaks this file, nothing else here should need to change.
package envoy

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/log"
	"istio.io/istio/pkg/test"
)

// DomainSuffix is the cluster domain the fake discovery server's Kubernetes registry uses.
const DomainSuffix = "cluster.local"

// Client is the sidecar whose view of the mesh is generated: a pod of some service's version.
type Client struct {
	Name      string
	Namespace string
	Labels    map[string]string
	IP        string
}

// Snapshot is what istiod would send to that sidecar: its route configurations, its clusters, and
// the endpoints of each EDS cluster. Only Envoy's own (go-control-plane) types leave this file.
type Snapshot struct {
	Routes    []*route.RouteConfiguration
	Clusters  []*cluster.Cluster
	Endpoints []*endpoint.ClusterLoadAssignment
}

// GenerateOptions tweaks the generation; the zero value is what the program's users get.
type GenerateOptions struct {
	// KeepEmptyDomain leaves Istio configs with the empty domain the YAML parser gives them, as a
	// bare use of the fake server would. Only for the test that shows why the domain is set.
	KeepEmptyDomain bool
}

// Generate runs Istio's config generation over the Istio configs (istioYAML) and Kubernetes
// objects (kubeYAML) for one sidecar, entirely in memory (no socket is opened).
func Generate(istioYAML, kubeYAML string, client Client, opts GenerateOptions) (*Snapshot, error) {
	quietIstioLogs()
	configs, others, err := crd.ParseInputs(istioYAML)
	if err != nil {
		return nil, fmt.Errorf("istio configs: %w", err)
	}
	if len(others) > 0 {
		kinds := make([]string, 0, len(others))
		for _, o := range others {
			kinds = append(kinds, o.Kind+"/"+o.Name)
		}
		return nil, fmt.Errorf("istio configs: kinds unknown to Istio: %s", strings.Join(kinds, ", "))
	}
	for i := range configs {
		// A short host ("reviews") is resolved against the config's namespace and domain; the
		// parser leaves the domain empty, and "reviews.bookinfo." would match no service.
		if configs[i].Domain == "" && !opts.KeepEmptyDomain {
			configs[i].Domain = DomainSuffix
		}
	}
	sort.SliceStable(configs, func(a, b int) bool { return configKey(configs[a]) < configKey(configs[b]) })

	var snap *Snapshot
	err = test.Wrap(func(t test.Failer) {
		server := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
			Configs:                configs,
			KubernetesObjectString: kubeYAML,
		})
		proxy := server.SetupProxy(&model.Proxy{
			ID:              client.Name + "." + client.Namespace,
			ConfigNamespace: client.Namespace,
			Labels:          client.Labels,
			IPAddresses:     []string{client.IP},
			Metadata:        &model.NodeMetadata{Labels: client.Labels, Namespace: client.Namespace},
		})
		snap = &Snapshot{
			Routes:    server.Routes(proxy),
			Clusters:  server.Clusters(proxy),
			Endpoints: server.Endpoints(proxy),
		}
	})
	if err != nil {
		return nil, fmt.Errorf("istio discovery server: %w", err)
	}
	return snap, nil
}

func configKey(c config.Config) string {
	return c.GroupVersionKind.String() + "/" + c.Namespace + "/" + c.Name
}

var quietOnce sync.Once

// quietIstioLogs turns Istio's logging off (the fake server logs harmless errors about CRDs it does
// not install); failures still surface as the error of Generate. ENVOY_ISTIO_LOG=error|warn|info|debug
// turns it back on, to stderr: the routes command prints on stdout.
func quietIstioLogs() { quietOnce.Do(setIstioLogLevel) }

func setIstioLogLevel() {
	level := log.NoneLevel
	if name := os.Getenv("ENVOY_ISTIO_LOG"); name != "" {
		level = log.StringToLevel(name) // an unknown name gives NoneLevel
	}
	o := log.DefaultOptions()
	o.OutputPaths = []string{"stderr"}
	o.ErrorOutputPaths = []string{"stderr"}
	o.SetDefaultOutputLevel(log.OverrideScopeName, level)
	_ = log.Configure(o)
	for _, s := range log.Scopes() {
		s.SetOutputLevel(level)
	}
}
