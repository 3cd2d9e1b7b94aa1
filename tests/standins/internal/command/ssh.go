package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/retry"
	"golang.org/x/crypto/ssh"

	"github.com/kubeadm-istio-lab/standins/internal/plugin"
)

// The variables the real provider sets from the previous create/update's outputs.
const (
	envPrevStdout = "PULUMI_COMMAND_STDOUT"
	envPrevStderr = "PULUMI_COMMAND_STDERR"
)

// runner runs scripts for one resource and streams their output to the engine's log.
type runner struct {
	log plugin.Logger
	urn resource.URN
}

func (r runner) status(ctx context.Context, msg string) {
	_ = r.log.LogStatus(ctx, diag.Info, r.urn, msg)
}

func (c Connection) clientConfig() (*ssh.ClientConfig, error) {
	cfg := &ssh.ClientConfig{User: c.User, HostKeyCallback: ssh.InsecureIgnoreHostKey()} //nolint:gosec // as the real provider: no hostKey, no check
	if c.HostKey != "" {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(c.HostKey))
		if err != nil {
			return nil, fmt.Errorf("connection.hostKey: %w", err)
		}
		cfg.HostKeyCallback = ssh.FixedHostKey(key)
		cfg.HostKeyAlgorithms = []string{key.Type()}
	}
	if c.PrivateKey != "" {
		var signer ssh.Signer
		var err error
		if c.PrivateKeyPass != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(c.PrivateKey), []byte(c.PrivateKeyPass))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(c.PrivateKey))
		}
		if err != nil {
			// The parser's errors never quote the key.
			return nil, fmt.Errorf("connection.privateKey: %w", err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if c.Password != "" {
		pw := c.Password
		cfg.Auth = append(cfg.Auth, ssh.Password(pw), ssh.KeyboardInteractive(
			func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	return cfg, nil
}

// dialOnce is one attempt. perDialTimeout bounds the whole attempt (TCP connect and SSH handshake):
// the documented meaning, "max number of seconds for each dial attempt"; a server that accepts
// and then says nothing would otherwise hang the step forever.
func (c Connection) dialOnce(ctx context.Context, endpoint string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	timeout := time.Duration(c.PerDialTimeout) * time.Second
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", endpoint)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(timeout))
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, endpoint, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// dial connects, retrying failed attempts with backoff: dialErrorLimit failures are allowed, the
// next one is fatal; -1 retries without limit (until the operation is cancelled).
func (r runner) dial(ctx context.Context, c Connection) (*ssh.Client, error) {
	cfg, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	endpoint := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	limit := "unlimited"
	if c.DialErrorLimit >= 0 {
		limit = strconv.Itoa(c.DialErrorLimit)
	}
	var last error
	ok, client, err := retry.Until(ctx, retry.Acceptor{
		Accept: func(try int, _ time.Duration) (bool, any, error) {
			cl, err := c.dialOnce(ctx, endpoint, cfg)
			if err == nil {
				return true, cl, nil
			}
			last = err
			failures := try + 1
			if c.DialErrorLimit >= 0 && failures > c.DialErrorLimit {
				return true, nil, fmt.Errorf("dial %s: %d failed attempts (dialErrorLimit %s): %w", endpoint, failures, limit, err)
			}
			r.status(ctx, fmt.Sprintf("Dial %d/%s failed: retrying", failures, limit))
			return false, nil, nil
		},
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("dial %s: %w (last error: %v)", endpoint, ctx.Err(), last)
	}
	return client.(*ssh.Client), nil
}

// result is what a successful run records.
type result struct{ stdout, stderr string }

// run executes script on the host of spec. prev is the previous run's outputs, offered to the
// script as PULUMI_COMMAND_STDOUT/STDERR unless addPreviousOutputInEnv is false. name is the
// script's property (create, update, delete), used to keep a secret script out of errors.
func (r runner) run(ctx context.Context, spec Spec, name, script string, prev result) (result, error) {
	client, err := r.dial(ctx, spec.Conn)
	if err != nil {
		return result{}, err
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return result{}, fmt.Errorf("opening an SSH session: %w", err)
	}
	defer session.Close()

	envKeys := make([]string, 0, len(spec.Environment))
	for k := range spec.Environment {
		envKeys = append(envKeys, k)
	}
	sort.Strings(envKeys)
	for _, k := range envKeys {
		if err := session.Setenv(k, spec.Environment[k]); err != nil {
			return result{}, fmt.Errorf("could not set environment variable %q (the SSH server must accept it with AcceptEnv): %w", k, err)
		}
	}
	if spec.AddPreviousOutputInEnv {
		// Best effort, as in the real provider: a server that refuses them gets a warning, not a failure.
		for _, kv := range [][2]string{{envPrevStdout, prev.stdout}, {envPrevStderr, prev.stderr}} {
			if kv[1] == "" {
				continue
			}
			if err := session.Setenv(kv[0], kv[1]); err != nil {
				_ = r.log.Log(ctx, diag.Warning, r.urn, fmt.Sprintf(
					"unable to set %s: the SSH server must accept it with AcceptEnv", kv[0]))
			}
		}
	}
	if spec.Stdin != "" {
		session.Stdin = strings.NewReader(spec.Stdin)
	}

	var stdout, stderr bytes.Buffer
	combined := &lockedBuffer{}
	logged := &lineLogger{emit: func(line string) { r.status(ctx, line) }}
	outWriters := []io.Writer{&stdout, combined}
	if spec.logStdout() {
		outWriters = append(outWriters, logged.stream("out"))
	}
	errWriters := []io.Writer{&stderr, combined}
	if spec.logStderr() {
		errWriters = append(errWriters, logged.stream("err"))
	}
	session.Stdout = io.MultiWriter(outWriters...)
	session.Stderr = io.MultiWriter(errWriters...)

	// A cancelled operation (engine Cancel, Ctrl-C) ends the remote command's session.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = session.Signal(ssh.SIGTERM)
			client.Close()
		case <-done:
		}
	}()

	runErr := session.Run(script)
	logged.flush()
	if runErr != nil {
		shown := strconv.Quote(script)
		if spec.secretScript[name] {
			shown = "[secret]"
		}
		var exit *ssh.ExitError
		if errors.As(runErr, &exit) {
			return result{}, fmt.Errorf("%s command exited with status %d: running %s:\n%s", name, exit.ExitStatus(), shown, combined.String())
		}
		return result{}, fmt.Errorf("%s command: %w: running %s:\n%s", name, runErr, shown, combined.String())
	}
	return result{
		stdout: strings.TrimSuffix(stdout.String(), "\n"),
		stderr: strings.TrimSuffix(stderr.String(), "\n"),
	}, nil
}

// lockedBuffer takes stdout and stderr, which the SSH session copies from two goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineLogger sends each complete line of the streams it is given to emit, one stream's partial
// line never joined with another's.
type lineLogger struct {
	mu      sync.Mutex
	emit    func(string)
	pending map[string]*bytes.Buffer
}

type lineStream struct {
	l    *lineLogger
	name string
}

func (l *lineLogger) stream(name string) io.Writer { return lineStream{l, name} }

func (s lineStream) Write(p []byte) (int, error) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	if s.l.pending == nil {
		s.l.pending = map[string]*bytes.Buffer{}
	}
	buf := s.l.pending[s.name]
	if buf == nil {
		buf = &bytes.Buffer{}
		s.l.pending[s.name] = buf
	}
	buf.Write(p)
	for {
		line, err := buf.ReadString('\n')
		if err != nil {
			// No newline yet: keep the partial line for the next write.
			buf.Reset()
			buf.WriteString(line)
			break
		}
		s.l.emit(strings.TrimSuffix(line, "\n"))
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, name := range []string{"out", "err"} {
		if buf := l.pending[name]; buf != nil && buf.Len() > 0 {
			l.emit(buf.String())
			buf.Reset()
		}
	}
}
