package kube

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func selfSigned(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func writeKubeconfig(t *testing.T, server string, ca, cert, key []byte) string {
	t.Helper()
	b64 := base64.StdEncoding.EncodeToString
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: lab
    cluster: {server: %q, certificate-authority-data: %s}
users:
  - name: lab-admin
    user: {client-certificate-data: %s, client-key-data: %s}
contexts: [{name: lab, context: {cluster: lab, user: lab-admin}}]
current-context: lab
`, server, b64(ca), b64(cert), b64(key))
	file := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestExistsAsksTheServerWithTheClientCertificate(t *testing.T) {
	cert, key := selfSigned(t, "lab-admin")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "lab-admin" {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/api/v1/namespaces/istio-system/configmaps/istio-sidecar-injector":
			w.WriteHeader(http.StatusOK)
		case "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := Load(writeKubeconfig(t, srv.URL, ca, cert, key))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Exists("/api/v1/namespaces/istio-system/configmaps/istio-sidecar-injector"); !ok || err != nil {
		t.Errorf("existing ConfigMap: %v, %v", ok, err)
	}
	if ok, err := c.Exists("/api/v1/namespaces/istio-system/configmaps/other"); ok || err != nil {
		t.Errorf("missing ConfigMap: %v, %v; want false, nil", ok, err)
	}
	if _, err := c.Exists("/broken"); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("server error: %v, want the status", err)
	}
}

func TestLoadNamesWhatIsMissing(t *testing.T) {
	cert, key := selfSigned(t, "x")
	if _, err := Load(writeKubeconfig(t, "https://127.0.0.1:1", nil, cert, key)); err == nil || !strings.Contains(err.Error(), "certificate-authority-data") {
		t.Errorf("err = %v, want it to name certificate-authority-data", err)
	}
	if _, err := Load(writeKubeconfig(t, "https://127.0.0.1:1", cert, cert, []byte("not a key"))); err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Errorf("err = %v, want a client certificate error", err)
	}
}
