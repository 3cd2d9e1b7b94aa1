// Command cp is the one tool flannel's CNI-plugin image runs (`cp -f /flannel /opt/cni/bin/flannel`),
// as its upstream image runs busybox's. It copies one file onto another path through a temporary file
// in the destination's folder and a rename, so a plugin binary that kubelet is running is never
// half-written; the mode of the source is kept.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "-f" {
		// Replacing is what this cp always does.
		args = args[1:]
	}
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: cp [-f] SRC DST")
		os.Exit(2)
	}
	if err := copyFile(args[0], args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "cp: %v\n", err)
		os.Exit(1)
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if st, err := os.Stat(dst); err == nil && st.IsDir() {
		dst = filepath.Join(dst, filepath.Base(src))
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
