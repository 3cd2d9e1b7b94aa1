package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageSpec is one image of the plan file that scripts/toolchain-sources.sh writes.
type imageSpec struct {
	// Ref is repository:tag without a registry ("kube-apiserver:v1.36.3").
	Ref        string     `json:"ref"`
	Entrypoint []string   `json:"entrypoint"`
	Cmd        []string   `json:"cmd,omitempty"`
	Env        []string   `json:"env,omitempty"`
	User       string     `json:"user,omitempty"`
	Ports      []string   `json:"ports,omitempty"`
	LayerDirs  []string   `json:"layerDirs,omitempty"`
	Files      []fileSpec `json:"files"`
}

type fileSpec struct {
	Src  string `json:"src"`
	Dst  string `json:"dst"`
	Mode int64  `json:"mode"`
}

// A fixed time stamp: the same inputs give the same layer digests.
var epoch = time.Unix(0, 0).UTC()

// baseFiles is what distroless-style images carry so that programs find users, groups and a /tmp.
var baseFiles = map[string]string{
	"etc/passwd":        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
	"etc/group":         "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n",
	"etc/nsswitch.conf": "hosts: files dns\n",
}

func buildImages(planFile, outDir string) error {
	raw, err := os.ReadFile(planFile)
	if err != nil {
		return err
	}
	var plan []imageSpec
	if err := json.Unmarshal(raw, &plan); err != nil {
		return fmt.Errorf("%s: %w", planFile, err)
	}
	if err := os.RemoveAll(outDir); err != nil {
		return err
	}
	if layerTmp, err = os.MkdirTemp("", "sources-layers-"); err != nil {
		return err
	}
	defer os.RemoveAll(layerTmp)
	p, err := layout.Write(outDir, empty.Index)
	if err != nil {
		return err
	}
	for _, spec := range plan {
		start := time.Now()
		img, err := buildImage(spec)
		if err != nil {
			return fmt.Errorf("image %s: %w", spec.Ref, err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": spec.Ref})); err != nil {
			return fmt.Errorf("image %s: %w", spec.Ref, err)
		}
		digest, _ := img.Digest()
		fmt.Printf("image %s %s (%.1fs)\n", spec.Ref, digest, time.Since(start).Seconds())
	}
	return nil
}

func buildImage(spec imageSpec) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var layers []v1.Layer
	base, err := layerOf(func(tw *tar.Writer) error { return writeBase(tw) })
	if err != nil {
		return nil, err
	}
	layers = append(layers, base)
	for _, dir := range spec.LayerDirs {
		dir := dir
		l, err := layerOf(func(tw *tar.Writer) error { return writeTree(tw, dir) })
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	files, err := layerOf(func(tw *tar.Writer) error { return writeFiles(tw, spec.Files) })
	if err != nil {
		return nil, err
	}
	layers = append(layers, files)
	img, err = mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = "amd64"
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = spec.Entrypoint
	cf.Config.Cmd = spec.Cmd
	cf.Config.Env = append([]string{"PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"}, spec.Env...)
	cf.Config.User = spec.User
	if len(spec.Ports) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, port := range spec.Ports {
			cf.Config.ExposedPorts[port] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, cf)
}

// layerTmp holds the layers' tar files until the layout is written.
var layerTmp string

// layerOf makes a gzipped layer from a tar stream written by fill.
func layerOf(fill func(*tar.Writer) error) (v1.Layer, error) {
	tmp, err := os.CreateTemp(layerTmp, "layer-*.tar")
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(tmp)
	if err := fill(tw); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tw.Close(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	return tarball.LayerFromFile(tmp.Name(), tarball.WithMediaType(types.OCILayer))
}

func header(name string, mode int64, typ byte) *tar.Header {
	return &tar.Header{Name: name, Mode: mode, Typeflag: typ, ModTime: epoch, Format: tar.FormatPAX}
}

func writeBase(tw *tar.Writer) error {
	for _, d := range []string{"etc/", "home/", "home/nonroot/", "root/", "usr/", "usr/local/", "usr/local/bin/", "var/", "var/run/"} {
		if err := tw.WriteHeader(header(d, 0o755, tar.TypeDir)); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(header("tmp/", 0o1777, tar.TypeDir)); err != nil {
		return err
	}
	names := make([]string, 0, len(baseFiles))
	for n := range baseFiles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h := header(n, 0o644, tar.TypeReg)
		h.Size = int64(len(baseFiles[n]))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, baseFiles[n]); err != nil {
			return err
		}
	}
	return nil
}

// writeTree adds a folder's contents (regular files, folders, symlinks) in a stable order, owned by root.
func writeTree(tw *tar.Writer, root string) error {
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			err = tw.WriteHeader(header(rel+"/", int64(info.Mode().Perm()), tar.TypeDir))
		case info.Mode()&os.ModeSymlink != 0:
			target, lerr := os.Readlink(p)
			if lerr != nil {
				return lerr
			}
			h := header(rel, 0o777, tar.TypeSymlink)
			h.Linkname = target
			err = tw.WriteHeader(h)
		case info.Mode().IsRegular():
			err = copyFile(tw, p, rel, int64(info.Mode().Perm()))
		default:
			return fmt.Errorf("%s: unsupported file type %s", p, info.Mode().Type())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func writeFiles(tw *tar.Writer, files []fileSpec) error {
	made := map[string]bool{}
	for _, f := range files {
		dst := strings.TrimPrefix(f.Dst, "/")
		// Parent folders first, once each.
		parts := strings.Split(filepath.Dir(dst), "/")
		for i := range parts {
			d := strings.Join(parts[:i+1], "/")
			if d == "." || made[d] {
				continue
			}
			made[d] = true
			if err := tw.WriteHeader(header(d+"/", 0o755, tar.TypeDir)); err != nil {
				return err
			}
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o755
		}
		if err := copyFile(tw, f.Src, dst, mode); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(tw *tar.Writer, src, name string, mode int64) error {
	fh, err := os.Open(src)
	if err != nil {
		return err
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return err
	}
	h := header(name, mode, tar.TypeReg)
	h.Size = info.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, fh)
	return err
}
