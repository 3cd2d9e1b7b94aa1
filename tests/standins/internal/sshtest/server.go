// Package sshtest is an SSH server on 127.0.0.1 for the stand-ins' tests: it accepts one client
// key, runs each exec request with /bin/sh on this machine, and records what it ran.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Exec is one command the server ran.
type Exec struct {
	User    string
	Command string
	// Env holds the variables the client set and the server accepted.
	Env map[string]string
}

// Server is a running test SSH server.
type Server struct {
	Host string
	Port int
	// ClientKey is the PEM private key the server accepts.
	ClientKey string
	// HostKey is the server's public key in authorized_keys form.
	HostKey string

	config   *ssh.ServerConfig
	listener net.Listener
	// acceptEnv decides which variables a client may set (like sshd's AcceptEnv).
	acceptEnv func(name string) bool
	// drop is how many more connections to close before the handshake (to make dials fail).
	drop     atomic.Int64
	accepted atomic.Int64

	mu    sync.Mutex
	execs []Exec
	wg    sync.WaitGroup
}

// Option changes a server before it starts.
type Option func(*Server)

// AcceptEnv sets which client variables the server accepts; by default it accepts all.
func AcceptEnv(accept func(name string) bool) Option {
	return func(s *Server) { s.acceptEnv = accept }
}

// DropFirst makes the first n connections fail: the server closes them before the SSH handshake.
func DropFirst(n int) Option {
	return func(s *Server) { s.drop.Store(int64(n)) }
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "stand-in test key")
	if err != nil {
		t.Fatal(err)
	}
	authorized, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		t.Fatal(err)
	}

	s := &Server{
		ClientKey: string(pem.EncodeToMemory(block)),
		HostKey:   string(ssh.MarshalAuthorizedKey(hostSigner.PublicKey())),
		acceptEnv: func(string) bool { return true },
	}
	for _, o := range opts {
		o(s)
	}
	s.config = &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("key not authorized")
		},
	}
	s.config.AddHostKey(hostSigner)

	s.listener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := s.listener.Addr().(*net.TCPAddr)
	s.Host, s.Port = addr.IP.String(), addr.Port
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		s.listener.Close()
		s.wg.Wait()
	})
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Connections is how many TCP connections the server has accepted, dropped ones included.
func (s *Server) Connections() int { return int(s.accepted.Load()) }

// Execs are the commands run so far, in order.
func (s *Server) Execs() []Exec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Exec(nil), s.execs...)
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.listener.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		if s.drop.Add(-1) >= 0 {
			conn.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(conn)
		}()
	}
}

func (s *Server) handle(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(conn, s.config)
	if err != nil {
		return
	}
	_ = conn.SetDeadline(time.Time{})
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(sc.User(), ch, chReqs)
		}()
	}
}

// readString reads one SSH wire-format string from the front of b.
func readString(b []byte) (string, []byte, bool) {
	if len(b) < 4 {
		return "", nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint32(len(b)-4) < n {
		return "", nil, false
	}
	return string(b[4 : 4+n]), b[4+n:], true
}

func (s *Server) session(user string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	env := map[string]string{}
	for req := range reqs {
		switch req.Type {
		case "env":
			name, rest, ok1 := readString(req.Payload)
			value, _, ok2 := readString(rest)
			accepted := ok1 && ok2 && s.acceptEnv(name)
			if accepted {
				env[name] = value
			}
			_ = req.Reply(accepted, nil)
		case "exec":
			command, _, ok := readString(req.Payload)
			_ = req.Reply(ok, nil)
			if !ok {
				return
			}
			s.mu.Lock()
			s.execs = append(s.execs, Exec{User: user, Command: command, Env: env})
			s.mu.Unlock()
			status := run(command, env, ch, reqs)
			_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(status)))
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// run runs command to its end; a "signal" request from the client, or the channel closing (the
// client went away), kills it.
func run(command string, env map[string]string, ch ssh.Channel, reqs <-chan *ssh.Request) int {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = ch
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	// A script that never reads stdin must not keep the session open.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		_, _ = io.WriteString(ch.Stderr(), err.Error()+"\n")
		return 255
	}
	exited := make(chan struct{})
	defer close(exited)
	go func() {
		for {
			select {
			case req, ok := <-reqs:
				if !ok || req.Type == "signal" {
					_ = cmd.Process.Kill()
					if !ok {
						return
					}
				}
				if req.WantReply {
					_ = req.Reply(false, nil)
				}
			case <-exited:
				return
			}
		}
	}()
	err := cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode()
	default:
		_, _ = io.WriteString(ch.Stderr(), err.Error()+"\n")
		return 255
	}
}
