package charts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

// istioCharts is manifests/charts of the istio.io/istio module pinned in scripts/versions.env, from
// the Go module cache (scripts/toolchain.sh downloads it; go mod download only reads the cache then).
func istioCharts(t *testing.T) string {
	t.Helper()
	env, err := os.ReadFile("../../../scripts/versions.env")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ISTIO_MODULE_VERSION=(\S+)$`).FindSubmatch(env)
	if m == nil {
		t.Fatal("no ISTIO_MODULE_VERSION in scripts/versions.env")
	}
	cmd := exec.Command("go", "mod", "download", "-json", "istio.io/istio@"+string(m[1]))
	cmd.Dir = t.TempDir() // outside this module: no go.mod to update
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download istio.io/istio@%s: %v", m[1], err)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		t.Fatalf("go mod download: %v (%s)", err, out)
	}
	return filepath.Join(info.Dir, "manifests", "charts")
}

func TestPackageStampsTheVersionAndIndexesEveryArchive(t *testing.T) {
	src := istioCharts(t)
	repo := t.TempDir()
	first, err := Package(src, "1.31.0-alpha.abc", repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 3 {
		t.Fatalf("made %v, want base, istiod and gateway", first)
	}
	// A second version beside the first: both listed, newest first, as a version bump needs.
	if _, err := Package(src, "1.31.1", repo); err != nil {
		t.Fatal(err)
	}
	idx, err := ReadIndex(repo)
	if err != nil {
		t.Fatal(err)
	}
	if idx.APIVersion != "v1" {
		t.Errorf("apiVersion %q", idx.APIVersion)
	}
	for _, name := range []string{"base", "istiod", "gateway"} {
		entries := idx.Entries[name]
		if len(entries) != 2 || entries[0].Version != "1.31.1" || entries[1].Version != "1.31.0-alpha.abc" {
			t.Fatalf("%s: entries %+v, want versions 1.31.1 then 1.31.0-alpha.abc", name, entries)
		}
		for _, e := range entries {
			if len(e.URLs) != 1 || e.URLs[0] != name+"-"+e.Version+".tgz" {
				t.Errorf("%s %s: urls %v, want one relative archive name", name, e.Version, e.URLs)
			}
			file := filepath.Join(repo, e.URLs[0])
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if e.Digest != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: digest %s is not the archive's sha256", file, e.Digest)
			}
			c, err := loader.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if c.Metadata.Version != e.Version || c.Metadata.AppVersion != e.Version {
				t.Errorf("%s: chart says version %s, appVersion %s", file, c.Metadata.Version, c.Metadata.AppVersion)
			}
		}
	}
	// istiod's chart names images of this version from docker.io/istio, not development ones.
	istiod, err := loader.Load(filepath.Join(repo, "istiod-1.31.1.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	global, _ := istiod.Values["_internal_defaults_do_not_set"].(map[string]any)["global"].(map[string]any)
	if global["tag"] != "1.31.1" || global["hub"] != "docker.io/istio" {
		t.Errorf("istiod chart global hub %v, tag %v; want docker.io/istio and 1.31.1", global["hub"], global["tag"])
	}
	// The base chart carries Istio's CRDs (as templates: Istio manages them, not Helm's crds/ folder).
	c, err := loader.Load(filepath.Join(repo, "base-1.31.1.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range c.Files {
		if f.Name == "files/crd-all.gen.yaml" {
			found = regexp.MustCompile(`name: virtualservices\.networking\.istio\.io`).Match(f.Data)
		}
	}
	if !found {
		t.Error("base chart has no files/crd-all.gen.yaml defining virtualservices.networking.istio.io")
	}
}

func TestPackageRefusesAVersionHelmCannotOrder(t *testing.T) {
	for _, v := range []string{"1.31", "latest", "v1.31.0"} {
		if _, err := Package(istioCharts(t), v, t.TempDir()); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
}

func TestPackageNamesAMissingChart(t *testing.T) {
	_, err := Package(t.TempDir(), "1.31.0", t.TempDir())
	if err == nil || !regexp.MustCompile(`loading chart base`).MatchString(err.Error()) {
		t.Fatalf("err = %v, want it to name the base chart", err)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.3.2.1:1": true, "[::1]:80": true, "localhost:80": false,
		"0.0.0.0:80": false, ":80": false, "192.0.2.10:80": false, "127.0.0.1": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
