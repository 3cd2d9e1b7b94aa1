// Package charts turns Istio's chart sources (manifests/charts in the istio.io/istio module) into a
// Helm chart repository: one .tgz per chart and version, and the index.yaml that `helm repo add` and
// the Kubernetes provider's Release read.
package charts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/Masterminds/semver/v3"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"sigs.k8s.io/yaml"
)

// Sources are the charts the program installs, by folder under manifests/charts. Their Chart.yaml
// says 1.0.0: Istio's release tooling stamps the real version at build time, and so does Package.
var Sources = []string{"base", "istio-control/istio-discovery", "gateway"}

// Package stamps each chart of Sources under srcRoot with version (chart and app version), writes
// <name>-<version>.tgz into outDir, and rewrites outDir/index.yaml over every archive there (so a
// second version added to the same folder is listed beside the first). It returns the archives made.
func Package(srcRoot, version, outDir string) ([]string, error) {
	if _, err := semver.StrictNewVersion(version); err != nil {
		return nil, fmt.Errorf("chart version %q is not semantic versioning: %w", version, err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	var made []string
	for _, src := range Sources {
		c, err := loader.LoadDir(filepath.Join(srcRoot, src))
		if err != nil {
			return nil, fmt.Errorf("loading chart %s: %w", src, err)
		}
		c.Metadata.Version = version
		c.Metadata.AppVersion = version
		stampValues(c, version)
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("chart %s: %w", src, err)
		}
		file, err := chartutil.Save(c, outDir)
		if err != nil {
			return nil, fmt.Errorf("packaging chart %s: %w", src, err)
		}
		made = append(made, file)
	}
	return made, WriteIndex(outDir, time.Now().UTC())
}

// Istio's chart sources name development images (registry.istio.io/testing, tag latest); its release
// tooling writes the release's hub and tag into values.yaml, and so does stampValues, so that the
// images a chart version names are pinned to that version.
var (
	devTag = regexp.MustCompile(`(?m)^(\s+)tag: latest$`)
	devHub = regexp.MustCompile(`(?m)^(\s+)hub: registry\.istio\.io/testing$`)
)

func stampValues(c *chart.Chart, version string) {
	for _, f := range c.Raw {
		if f.Name == chartutil.ValuesfileName {
			f.Data = devTag.ReplaceAll(f.Data, []byte(`${1}tag: "`+version+`"`))
			f.Data = devHub.ReplaceAll(f.Data, []byte("${1}hub: docker.io/istio"))
		}
	}
}

// Entry is one chart version in index.yaml: the chart's metadata and where its archive is.
type Entry struct {
	*chart.Metadata
	URLs    []string  `json:"urls"`
	Created time.Time `json:"created"`
	Digest  string    `json:"digest"`
}

// Index is the repository's index.yaml.
type Index struct {
	APIVersion string             `json:"apiVersion"`
	Entries    map[string][]Entry `json:"entries"`
	Generated  time.Time          `json:"generated"`
}

// WriteIndex lists every chart archive in dir in dir/index.yaml, newest version first per chart as
// Helm orders them. URLs are relative, so the repository works at any address it is served from.
func WriteIndex(dir string, now time.Time) error {
	archives, err := filepath.Glob(filepath.Join(dir, "*.tgz"))
	if err != nil {
		return err
	}
	idx := Index{APIVersion: "v1", Entries: map[string][]Entry{}, Generated: now}
	for _, file := range archives {
		c, err := loader.Load(file)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		digest, err := sha256File(file)
		if err != nil {
			return err
		}
		created := now
		if st, err := os.Stat(file); err == nil {
			created = st.ModTime().UTC()
		}
		name := c.Metadata.Name
		idx.Entries[name] = append(idx.Entries[name], Entry{Metadata: c.Metadata, URLs: []string{filepath.Base(file)}, Created: created, Digest: digest})
	}
	for _, entries := range idx.Entries {
		sort.Slice(entries, func(a, b int) bool {
			va, errA := semver.NewVersion(entries[a].Version)
			vb, errB := semver.NewVersion(entries[b].Version)
			if errA != nil || errB != nil {
				return entries[a].Version > entries[b].Version
			}
			return va.GreaterThan(vb)
		})
	}
	out, err := yaml.Marshal(idx)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".index.yaml.tmp")
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "index.yaml"))
}

// ReadIndex parses dir/index.yaml.
func ReadIndex(dir string) (*Index, error) {
	b, err := os.ReadFile(filepath.Join(dir, "index.yaml"))
	if err != nil {
		return nil, err
	}
	var idx Index
	if err := yaml.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("index.yaml: %w", err)
	}
	return &idx, nil
}

func sha256File(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// IsLoopback reports whether host:port names a loopback address: the repository is for this
// machine's tests and local stack only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
