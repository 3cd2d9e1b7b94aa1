// Command routes prints what Envoy will do with each Bookinfo service's requests, as Istio's own
// config generation computes it from the objects the program renders (see tools/routes.ts):
//
//	go run ./cmd/routes [--title TEXT] [--from APP] FILE.yaml
//
// It exits 2 when a route names a cluster that does not exist or has no endpoints.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kubeadm-istio-lab/envoy"
)

func main() {
	title := flag.String("title", "Envoy routes", "first line of the table")
	from := flag.String("from", envoy.DefaultClient, "app label of the client pod whose sidecar is generated")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: routes [--title TEXT] [--from APP] FILE.yaml\n")
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
	result, err := envoy.Analyze(in, *from, envoy.GenerateOptions{})
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
