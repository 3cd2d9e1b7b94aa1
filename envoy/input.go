// Package envoy runs Istio's config generation over the objects the Pulumi program renders and reads
// back, in Envoy's own terms, what a sidecar will do with each request: routes in order, their
// header matchers, weighted clusters, timeout, retry policy and fault injection.
package envoy

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// Input is one multi-document YAML file as written by tools/routes.ts: the Istio objects the program
// registers, and the Kubernetes objects (Services, Pods, EndpointSlices) of a deployed Bookinfo.
type Input struct {
	IstioYAML string
	KubeYAML  string
	Services  []Service
	Pods      []Pod
}

// Service is a Kubernetes Service of the input, with its HTTP ports.
type Service struct {
	Name, Namespace string
	Ports           []int
}

// FQDN is the service's name as Istio and Envoy know it.
func (s Service) FQDN() string { return s.Name + "." + s.Namespace + ".svc." + DomainSuffix }

// Pod is a Pod of the input: a possible client sidecar.
type Pod struct {
	Name, Namespace string
	Labels          map[string]string
	IP              string
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Ports []struct {
			Port int `json:"port"`
		} `json:"ports"`
	} `json:"spec"`
	Status struct {
		PodIP string `json:"podIP"`
	} `json:"status"`
}

// LoadFile reads an input file.
func LoadFile(path string) (*Input, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	in, err := ParseInput(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return in, nil
}

// ParseInput splits the documents into Istio configs (API groups *.istio.io) and Kubernetes objects.
func ParseInput(text string) (*Input, error) {
	var istio, kube []string
	in := &Input{}
	for i, doc := range splitDocuments(text) {
		var h header
		if err := yaml.Unmarshal([]byte(doc), &h); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if h.Kind == "" {
			continue // comments only
		}
		group, _, _ := strings.Cut(h.APIVersion, "/")
		if strings.HasSuffix(group, ".istio.io") {
			istio = append(istio, doc)
			continue
		}
		kube = append(kube, doc)
		switch h.Kind {
		case "Service":
			s := Service{Name: h.Metadata.Name, Namespace: h.Metadata.Namespace}
			for _, p := range h.Spec.Ports {
				s.Ports = append(s.Ports, p.Port)
			}
			in.Services = append(in.Services, s)
		case "Pod":
			in.Pods = append(in.Pods, Pod{Name: h.Metadata.Name, Namespace: h.Metadata.Namespace, Labels: h.Metadata.Labels, IP: h.Status.PodIP})
		}
	}
	if len(istio) == 0 {
		return nil, fmt.Errorf("no Istio objects in the input")
	}
	in.IstioYAML = strings.Join(istio, "\n---\n")
	in.KubeYAML = strings.Join(kube, "\n---\n")
	return in, nil
}

// splitDocuments cuts a YAML stream at its "---" separator lines.
func splitDocuments(text string) []string {
	var docs []string
	var cur []string
	flush := func() {
		if doc := strings.TrimSpace(strings.Join(cur, "\n")); doc != "" {
			docs = append(docs, doc+"\n")
		}
		cur = nil
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimRight(line, " \t\r") == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

// ClientOf returns the first pod whose labels include app=<app> (optionally version=<version>).
func (in *Input) ClientOf(app, version string) (Client, error) {
	for _, p := range in.Pods {
		if p.Labels["app"] == app && (version == "" || p.Labels["version"] == version) {
			if p.IP == "" {
				return Client{}, fmt.Errorf("pod %s/%s has no status.podIP", p.Namespace, p.Name)
			}
			return Client{Namespace: p.Namespace, Labels: p.Labels, IP: p.IP, Name: p.Name}, nil
		}
	}
	return Client{}, fmt.Errorf("no pod with app=%s in the input", app)
}
