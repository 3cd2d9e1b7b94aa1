// Command routes prints what Envoy will do with each Bookinfo service's requests, as Istio's own
// config generation computes it from the objects the program renders (see tools/routes.ts):
//
//	go run ./cmd/routes [--title TEXT] [--from APP] FILE.yaml
//	go run ./cmd/routes --istiod 127.0.0.1:15010 [--pod NAME=IP] [--from APP] FILE.yaml
//
// With --istiod the routes are those a running istiod sends (its plain-text xDS port) to a sidecar of
// the client app, or of the pod NAME at IP; FILE still names the services and the client's labels.
//
// It exits 2 when a route names a cluster that does not exist or has no endpoints.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kubeadm-istio-lab/envoy"
)

func main() {
	title := flag.String("title", "Envoy routes", "first line of the table")
	from := flag.String("from", envoy.DefaultClient, "app label of the client pod whose sidecar is generated")
	istiod := flag.String("istiod", "", "ask this istiod (plain-text xDS address) instead of generating in memory")
	podFlag := flag.String("pod", "", "with --istiod: NAME=IP of the client pod")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: routes [--title TEXT] [--from APP] [--istiod ADDRESS [--pod NAME=IP]] FILE.yaml\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(64)
	}
	in, err := envoy.LoadFile(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	var result *envoy.Result
	if *istiod != "" {
		var pod *envoy.Pod
		if *podFlag != "" {
			name, ip, ok := strings.Cut(*podFlag, "=")
			if !ok || name == "" || ip == "" {
				fail(fmt.Errorf("--pod wants NAME=IP, got %q", *podFlag))
			}
			pod = &envoy.Pod{Name: name, IP: ip}
		}
		result, err = envoy.AnalyzeLive(context.Background(), in, *istiod, *from, pod)
	} else {
		result, err = envoy.Analyze(in, *from, envoy.GenerateOptions{})
	}
	if err != nil {
		fail(err)
	}
	if err := envoy.WriteTable(os.Stdout, *title, result); err != nil {
		fail(err)
	}
	if len(result.Problems) > 0 {
		os.Exit(2)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "routes:", err)
	os.Exit(1)
}
