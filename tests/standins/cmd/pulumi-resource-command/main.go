// Command pulumi-resource-command is the test stand-in for the `command` provider plugin (the real
// one cannot be built here): remote.Command over SSH, as @pulumi/command 1.2.1 uses it.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/kubeadm-istio-lab/standins/internal/command"
	"github.com/kubeadm-istio-lab/standins/internal/plugin"
)

func main() {
	err := provider.Main("command", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		// Without an engine (attach mode) there is no log to stream to.
		var log plugin.Logger = plugin.Discard{}
		if host != nil {
			log = host
		}
		return command.New(log), nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
