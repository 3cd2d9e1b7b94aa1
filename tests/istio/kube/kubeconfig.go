// Package kube reads the admin kubeconfig that scripts/cluster.sh writes (inline certificate data)
// and asks the API server for one object, without client-go.
package kube

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"time"

	"sigs.k8s.io/yaml"
)

type kubeconfig struct {
	CurrentContext string `json:"current-context"`
	Clusters       []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server string `json:"server"`
			CA     string `json:"certificate-authority-data"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			Cert string `json:"client-certificate-data"`
			Key  string `json:"client-key-data"`
		} `json:"user"`
	} `json:"users"`
}

// Client is an HTTPS client for the API server of a kubeconfig's first cluster and user.
type Client struct {
	Server string
	HTTP   *http.Client
}

// Load builds a Client from a kubeconfig file with inline CA, client certificate and key.
func Load(path string) (*Client, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(kc.Clusters) == 0 || len(kc.Users) == 0 {
		return nil, fmt.Errorf("%s: no cluster or user", path)
	}
	decode := func(what, s string) ([]byte, error) {
		out, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(out) == 0 {
			return nil, fmt.Errorf("%s: %s is missing or not base64", path, what)
		}
		return out, nil
	}
	ca, err := decode("certificate-authority-data", kc.Clusters[0].Cluster.CA)
	if err != nil {
		return nil, err
	}
	cert, err := decode("client-certificate-data", kc.Users[0].User.Cert)
	if err != nil {
		return nil, err
	}
	key, err := decode("client-key-data", kc.Users[0].User.Key)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("%s: client certificate: %w", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s: certificate-authority-data holds no certificate", path)
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}}
	return &Client{Server: kc.Clusters[0].Cluster.Server, HTTP: &http.Client{Transport: transport, Timeout: 5 * time.Second}}, nil
}

// Exists reports whether GET apiPath answers 200 (false for 404; an error for anything else).
func (c *Client) Exists(apiPath string) (bool, error) {
	resp, err := c.HTTP.Get(c.Server + apiPath)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("GET %s: %s", apiPath, resp.Status)
	}
}
