package envoy

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Envoy's type URLs for the three kinds of resources a Snapshot holds.
const (
	clusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	endpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	routeType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

// Fetch asks a running istiod, on its plain-text xDS port (e.g. 127.0.0.1:15010), for what it sends
// the client's sidecar: its clusters, the endpoints of each EDS cluster, and the route configurations
// named after the services' ports. It is the Snapshot that Generate computes in memory, from the
// real control plane instead: the two can be summarized and compared field by field.
func Fetch(ctx context.Context, address string, client Client, services []Service) (*Snapshot, error) {
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("xDS stream to istiod at %s: %w", address, err)
	}
	node, err := sidecarNode(client)
	if err != nil {
		return nil, err
	}
	ask := func(typeURL string, names []string) ([]*anypb.Any, error) {
		if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
			return nil, fmt.Errorf("xDS request for %s: %w", typeURL, err)
		}
		for {
			resp, err := stream.Recv()
			if err != nil {
				return nil, fmt.Errorf("xDS response for %s: %w", typeURL, err)
			}
			if resp.GetTypeUrl() != typeURL {
				continue // a push of a type asked for earlier
			}
			// ACK, so istiod does not resend; the next request of the type would otherwise be a NACK.
			ack := &discovery.DiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNames: names, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
			if err := stream.Send(ack); err != nil {
				return nil, err
			}
			return resp.GetResources(), nil
		}
	}

	snap := &Snapshot{}
	anys, err := ask(clusterType, nil)
	if err != nil {
		return nil, err
	}
	var edsNames []string
	for _, a := range anys {
		c := &cluster.Cluster{}
		if err := anypb.UnmarshalTo(a, c, proto.UnmarshalOptions{}); err != nil {
			return nil, err
		}
		snap.Clusters = append(snap.Clusters, c)
		if c.GetType() == cluster.Cluster_EDS {
			edsNames = append(edsNames, c.GetName())
		}
	}
	sort.Strings(edsNames)
	if len(edsNames) > 0 {
		if anys, err = ask(endpointType, edsNames); err != nil {
			return nil, err
		}
		for _, a := range anys {
			e := &endpoint.ClusterLoadAssignment{}
			if err := anypb.UnmarshalTo(a, e, proto.UnmarshalOptions{}); err != nil {
				return nil, err
			}
			snap.Endpoints = append(snap.Endpoints, e)
		}
	}
	var routeNames []string
	seen := map[string]bool{}
	for _, s := range services {
		for _, p := range s.Ports {
			if n := strconv.Itoa(p); !seen[n] {
				seen[n] = true
				routeNames = append(routeNames, n)
			}
		}
	}
	if anys, err = ask(routeType, routeNames); err != nil {
		return nil, err
	}
	for _, a := range anys {
		r := &route.RouteConfiguration{}
		if err := anypb.UnmarshalTo(a, r, proto.UnmarshalOptions{}); err != nil {
			return nil, err
		}
		snap.Routes = append(snap.Routes, r)
	}
	return snap, nil
}

// sidecarNode is how an istio-proxy of the client pod introduces itself to istiod.
func sidecarNode(c Client) (*core.Node, error) {
	labels := map[string]any{}
	for k, v := range c.Labels {
		labels[k] = v
	}
	meta, err := structpb.NewStruct(map[string]any{
		"NAMESPACE":     c.Namespace,
		"LABELS":        labels,
		"INSTANCE_IPS":  c.IP,
		"ISTIO_VERSION": "1.31.0",
		"CLUSTER_ID":    "Kubernetes",
		"NAME":          c.Name,
	})
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.%s", c.IP, c.Name, c.Namespace, c.Namespace, DomainSuffix)
	return &core.Node{Id: id, Metadata: meta}, nil
}

// AnalyzeLive is Analyze with the snapshot fetched from a running istiod; the client is the input's
// pod of clientApp unless pod (name and IP of a real pod) is given.
func AnalyzeLive(ctx context.Context, in *Input, address, clientApp string, pod *Pod) (*Result, error) {
	client, err := in.ClientOf(clientApp, "")
	if err != nil {
		return nil, err
	}
	if pod != nil {
		client.Name, client.IP = pod.Name, pod.IP
	}
	snap, err := Fetch(ctx, address, client, in.Services)
	if err != nil {
		return nil, err
	}
	services, err := Summarize(snap, in.Services)
	if err != nil {
		return nil, err
	}
	return &Result{Client: client, Snapshot: snap, Services: services, Problems: CheckReferences(snap)}, nil
}
