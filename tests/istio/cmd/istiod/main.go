// Command istiod runs Istio's pilot-discovery on this machine as the external control plane of the
// local cluster (scripts/cluster.sh starts it): every listener on 127.0.0.1, the API server reached
// with the admin kubeconfig, the webhook server on a certificate for IP 127.0.0.1.
//
// istiod reads its sidecar injection template from the istio-sidecar-injector ConfigMap that the
// istiod chart installs, and only looks for it when it starts (without it, it never injects). So this
// command waits until the ConfigMap exists and then becomes pilot-discovery (exec, same pid, argv[0]
// "istiod"), the way a Deployment's pod would start once the chart is installed.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/kubeadm-istio-lab/istiolocal/kube"
)

type ports struct{ http, grpc, secureGRPC, webhook, monitoring, ctrlz int }

func main() {
	pilot := flag.String("pilot-discovery", "", "pilot-discovery binary")
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig of the local cluster")
	workdir := flag.String("workdir", "", "working folder (istiod looks for ./etc and ./var there; none exist, so it reads the cluster's ConfigMaps)")
	cert := flag.String("tls-cert", "", "serving certificate of the webhooks and secure xDS (SAN IP 127.0.0.1)")
	key := flag.String("tls-key", "", "its key")
	ca := flag.String("ca-cert", "", "CA that signed it: istiod patches it into the webhooks' caBundle")
	namespace := flag.String("namespace", "istio-system", "istiod's namespace (where the charts put its ConfigMaps)")
	var p ports
	flag.IntVar(&p.http, "http-port", 0, "debug HTTP (/debug/...)")
	flag.IntVar(&p.grpc, "grpc-port", 0, "plain-text xDS")
	flag.IntVar(&p.secureGRPC, "secure-grpc-port", 0, "TLS xDS")
	flag.IntVar(&p.webhook, "webhook-port", 0, "injection and validation webhooks (HTTPS)")
	flag.IntVar(&p.monitoring, "monitoring-port", 0, "metrics")
	flag.IntVar(&p.ctrlz, "ctrlz-port", 0, "ControlZ")
	wait := flag.Duration("wait", 30*time.Minute, "how long to wait for the istiod chart's ConfigMap")
	flag.Parse()
	for name, v := range map[string]string{"pilot-discovery": *pilot, "kubeconfig": *kubeconfig, "workdir": *workdir, "tls-cert": *cert, "tls-key": *key, "ca-cert": *ca} {
		if v == "" {
			fail(fmt.Errorf("--%s is required", name))
		}
	}
	for name, v := range map[string]int{"http": p.http, "grpc": p.grpc, "secure-grpc": p.secureGRPC, "webhook": p.webhook, "monitoring": p.monitoring, "ctrlz": p.ctrlz} {
		if v <= 0 || v > 65535 {
			fail(fmt.Errorf("--%s-port is required", name))
		}
	}
	client, err := kube.Load(*kubeconfig)
	if err != nil {
		fail(err)
	}
	cm := "/api/v1/namespaces/" + *namespace + "/configmaps/istio-sidecar-injector"
	logf("waiting for %s (installed by the istiod chart)", cm)
	deadline := time.Now().Add(*wait)
	for {
		ok, err := client.Exists(cm)
		if ok {
			break
		}
		if time.Now().After(deadline) {
			fail(fmt.Errorf("%s did not appear within %s (last error: %v)", cm, *wait, err))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := os.MkdirAll(*workdir, 0o755); err != nil {
		fail(err)
	}
	if err := os.Chdir(*workdir); err != nil {
		fail(err)
	}
	args := append([]string{"istiod"}, pilotArgs(*kubeconfig, *cert, *key, *ca, p)...)
	env := append(os.Environ(), pilotEnv(*namespace)...)
	logf("injector ConfigMap found: starting pilot-discovery (webhooks on https://127.0.0.1:%d, debug on http://127.0.0.1:%d)", p.webhook, p.http)
	fail(syscall.Exec(*pilot, args, env))
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// pilotArgs: every listener on loopback; TLS from the given files, so istiod neither issues its own
// serving certificate nor needs a Service of its own in the cluster.
func pilotArgs(kubeconfig, cert, key, ca string, p ports) []string {
	return []string{
		"discovery",
		"--kubeconfig", kubeconfig,
		"--httpAddr", addr(p.http),
		"--httpsAddr", addr(p.webhook),
		"--grpcAddr", addr(p.grpc),
		"--secureGRPCAddr", addr(p.secureGRPC),
		"--monitoringAddr", addr(p.monitoring),
		"--ctrlz_address", "127.0.0.1",
		"--ctrlz_port", strconv.Itoa(p.ctrlz),
		"--tlsCertFile", cert,
		"--tlsKeyFile", key,
		"--caCertFile", ca,
		"--domain", "cluster.local",
		"--keepaliveMaxServerConnectionAge", "30m",
		"--log_output_level", "default:info",
	}
}

// pilotEnv is what the istiod chart's Deployment would set, for a pod that is not one.
func pilotEnv(namespace string) []string {
	return []string{
		"POD_NAMESPACE=" + namespace,
		"POD_NAME=istiod-local",
		"REVISION=default",
		"CLUSTER_ID=Kubernetes",
		"PILOT_CERT_PROVIDER=istiod",
		// Nothing here installs the Gateway API or ambient CRDs: do not watch for them.
		"PILOT_ENABLE_GATEWAY_API=false",
		"PILOT_ENABLE_AMBIENT=false",
		"INJECTION_WEBHOOK_CONFIG_NAME=istio-sidecar-injector",
		"ISTIOD_CUSTOM_HOST=127.0.0.1",
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[istiod] %s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05.000")}, a...)...)
}

func fail(err error) {
	logf("ERROR: %v", err)
	os.Exit(1)
}
