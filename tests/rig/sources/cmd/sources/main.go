// Command sources builds and serves the test hosts' local sources:
//
//	sources images --plan PLAN.json --out LAYOUT   assemble images into an OCI image layout
//	sources serve --listen ADDR --http-port 8080 --registry-port 5000 --root DIR --layout LAYOUT
//
// serve answers plain HTTP for the apt repositories under DIR, and runs go-containerregistry's
// registry (in memory) loaded with every image of LAYOUT under its ref name. It prints "ready" once
// both listen and every image can be pulled, and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("[sources] ")
	if len(os.Args) < 2 {
		log.Fatal("usage: sources images|serve [flags]")
	}
	var err error
	switch os.Args[1] {
	case "images":
		fs := flag.NewFlagSet("images", flag.ExitOnError)
		plan := fs.String("plan", "", "image plan (JSON)")
		out := fs.String("out", "", "OCI image layout folder to write")
		_ = fs.Parse(os.Args[2:])
		err = buildImages(*plan, *out)
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		listen := fs.String("listen", "10.213.0.1", "address to listen on")
		httpPort := fs.Int("http-port", 8080, "port of the apt repositories")
		registryPort := fs.Int("registry-port", 5000, "port of the registry")
		root := fs.String("root", "", "folder served over HTTP")
		layoutDir := fs.String("layout", "", "OCI image layout to load into the registry")
		_ = fs.Parse(os.Args[2:])
		err = serve(*listen, *httpPort, *registryPort, *root, *layoutDir)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}

func serve(listen string, httpPort, registryPort int, root, layoutDir string) error {
	if root == "" || layoutDir == "" {
		return errors.New("serve needs --root and --layout")
	}
	httpAddr := net.JoinHostPort(listen, strconv.Itoa(httpPort))
	registryAddr := net.JoinHostPort(listen, strconv.Itoa(registryPort))
	httpLn, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return err
	}
	registryLn, err := net.Listen("tcp", registryAddr)
	if err != nil {
		return err
	}
	files := &http.Server{Handler: logRequests("http", http.FileServer(http.Dir(root))), ReadHeaderTimeout: 10 * time.Second}
	reg := &http.Server{Handler: registry.New(registry.Logger(log.New(os.Stderr, "[registry] ", 0))), ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 2)
	go func() { errs <- files.Serve(httpLn) }()
	go func() { errs <- reg.Serve(registryLn) }()

	start := time.Now()
	if err := load(registryAddr, layoutDir); err != nil {
		return err
	}
	fmt.Printf("ready http://%s registry %s (images loaded in %.1fs)\n", httpAddr, registryAddr, time.Since(start).Seconds())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-stop:
		log.Printf("%s: stopping", sig)
	case err := <-errs:
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = files.Shutdown(ctx)
	_ = reg.Shutdown(ctx)
	return nil
}

// load pushes every image of the layout into the registry, under the ref name it was built with.
func load(registryAddr, layoutDir string) error {
	p, err := layout.FromPath(layoutDir)
	if err != nil {
		return err
	}
	index, err := p.ImageIndex()
	if err != nil {
		return err
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		return err
	}
	for _, desc := range manifest.Manifests {
		ref := desc.Annotations["org.opencontainers.image.ref.name"]
		if ref == "" {
			continue
		}
		img, err := index.Image(desc.Digest)
		if err != nil {
			return err
		}
		tag, err := name.NewTag(registryAddr+"/"+ref, name.Insecure)
		if err != nil {
			return err
		}
		if err := remote.Write(tag, img); err != nil {
			return fmt.Errorf("loading %s: %w", tag, err)
		}
		log.Printf("loaded %s", tag)
	}
	return nil
}

func logRequests(what string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s %s %s", what, r.RemoteAddr, r.Method, r.URL.Path)
		next.ServeHTTP(w, r)
	})
}
