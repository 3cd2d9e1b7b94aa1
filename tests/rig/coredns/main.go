// CoreDNS for the test hosts' registry (the image kubeadm's addon runs), built with only the plugins
// kubeadm's Corefile names: errors, health, ready, kubernetes, prometheus, forward, cache, loop, reload,
// loadbalance (and log, for debugging a host). CoreDNS's own main compiles in every plugin, the cloud
// DNS providers' SDKs among them, which tripled the cold build for code no test host runs.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
