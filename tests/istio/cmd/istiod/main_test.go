package main

import (
	"net"
	"strings"
	"testing"
)

func TestPilotListensOnLoopbackOnly(t *testing.T) {
	args := pilotArgs("/k", "/c", "/k2", "/ca", ports{http: 1, grpc: 2, secureGRPC: 3, webhook: 4, monitoring: 5, ctrlz: 6})
	seen := map[string]string{}
	for i := 0; i+1 < len(args); i++ {
		if strings.HasSuffix(args[i], "Addr") || args[i] == "--ctrlz_address" {
			seen[args[i]] = args[i+1]
		}
	}
	want := map[string]string{"--httpAddr": "127.0.0.1:1", "--grpcAddr": "127.0.0.1:2", "--secureGRPCAddr": "127.0.0.1:3",
		"--httpsAddr": "127.0.0.1:4", "--monitoringAddr": "127.0.0.1:5", "--ctrlz_address": "127.0.0.1"}
	for flag, v := range want {
		if seen[flag] != v {
			t.Errorf("%s = %q, want %q", flag, seen[flag], v)
		}
	}
	for flag, v := range seen {
		host := v
		if h, _, err := net.SplitHostPort(v); err == nil {
			host = h
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			t.Errorf("%s listens on %q, not loopback", flag, v)
		}
	}
	if args[0] != "discovery" {
		t.Errorf("first argument %q, want the discovery command", args[0])
	}
}

func TestPilotEnvNamesTheChartsNamespaceAndRevision(t *testing.T) {
	env := strings.Join(pilotEnv("istio-system"), "\n")
	for _, want := range []string{"POD_NAMESPACE=istio-system", "REVISION=default", "INJECTION_WEBHOOK_CONFIG_NAME=istio-sidecar-injector"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
}
