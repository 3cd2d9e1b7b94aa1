// Command istio-charts packages Istio's charts from the pinned istio.io/istio module into a Helm chart
// repository, and serves such a repository over HTTP on loopback:
//
//	istio-charts package --src MODULE/manifests/charts --version 1.31.0-alpha.x --out DIR
//	istio-charts serve --dir DIR --addr 127.0.0.1:PORT
//
// scripts/toolchain.sh runs `package` once per version; scripts/cluster.sh starts `serve`.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kubeadm-istio-lab/istiolocal/charts"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "package":
		fs := flag.NewFlagSet("package", flag.ExitOnError)
		src := fs.String("src", "", "manifests/charts folder of the istio.io/istio module")
		version := fs.String("version", "", "chart and app version to stamp")
		out := fs.String("out", "", "repository folder (created; index.yaml rewritten)")
		_ = fs.Parse(os.Args[2:])
		if *src == "" || *version == "" || *out == "" {
			usage()
		}
		made, err := charts.Package(*src, *version, *out)
		if err != nil {
			fail(err)
		}
		for _, f := range made {
			fmt.Println(f)
		}
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		dir := fs.String("dir", "", "repository folder to serve")
		addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
		_ = fs.Parse(os.Args[2:])
		if *dir == "" {
			usage()
		}
		if err := serve(*dir, *addr); err != nil {
			fail(err)
		}
	default:
		usage()
	}
}

func serve(dir, addr string) error {
	if !charts.IsLoopback(addr) {
		return fmt.Errorf("refusing to listen on %s: loopback addresses only", addr)
	}
	if _, err := charts.ReadIndex(dir); err != nil {
		return fmt.Errorf("%s is not a chart repository: %w", dir, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	files := http.FileServer(http.Dir(dir))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s", r.Method, r.URL.Path)
		files.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = srv.Close()
	}()
	log.Printf("serving chart repository %s on http://%s", dir, ln.Addr())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: istio-charts package --src DIR --version V --out DIR | serve --dir DIR --addr 127.0.0.1:PORT")
	os.Exit(64)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "istio-charts:", err)
	os.Exit(1)
}
