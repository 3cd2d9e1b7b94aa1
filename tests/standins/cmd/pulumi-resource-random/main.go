// Command pulumi-resource-random is the test stand-in for the `random` provider plugin (the real
// one cannot be built here): RandomPassword and RandomBytes, as @pulumi/random 4.21.2 uses them.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/kubeadm-istio-lab/standins/internal/random"
)

func main() {
	err := provider.Main("random", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return random.New(), nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
