package command

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/kubeadm-istio-lab/standins/internal/plugin"
	"github.com/kubeadm-istio-lab/standins/internal/sshtest"
)

const urn = "urn:pulumi:test::lab::command:remote:Command::step"

// logRecorder keeps what the provider sent to the engine's log.
type logRecorder struct {
	mu       sync.Mutex
	status   []string
	messages []string
}

func (l *logRecorder) Log(_ context.Context, sev diag.Severity, _ resource.URN, msg string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.messages = append(l.messages, string(sev)+": "+msg)
	return nil
}

func (l *logRecorder) LogStatus(_ context.Context, _ diag.Severity, _ resource.URN, msg string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status = append(l.status, msg)
	return nil
}

func (l *logRecorder) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(append(append([]string(nil), l.status...), l.messages...), "\n")
}

func (l *logRecorder) statusLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.status...)
}

// connection is the program's connection shape (as DebianNode builds it), to srv, key secret.
func connection(srv *sshtest.Server) resource.PropertyValue {
	return resource.NewObjectProperty(resource.PropertyMap{
		"host":           resource.NewStringProperty(srv.Host),
		"port":           resource.NewNumberProperty(float64(srv.Port)),
		"user":           resource.NewStringProperty("debian"),
		"privateKey":     resource.MakeSecret(resource.NewStringProperty(srv.ClientKey)),
		"dialErrorLimit": resource.NewNumberProperty(4),
		"perDialTimeout": resource.NewNumberProperty(15),
	})
}

func inputs(srv *sshtest.Server, fields map[string]resource.PropertyValue) resource.PropertyMap {
	m := resource.PropertyMap{"connection": connection(srv)}
	for k, v := range fields {
		m[resource.PropertyKey(k)] = v
	}
	return m
}

func str(s string) resource.PropertyValue { return resource.NewStringProperty(s) }

func mustMarshal(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := plugin.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustUnmarshal(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := plugin.Unmarshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checked runs Check as the engine does before every create, update and diff.
func checked(t *testing.T, p *Provider, news resource.PropertyMap) resource.PropertyMap {
	t.Helper()
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn, Type: Token, News: mustMarshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) > 0 {
		t.Fatalf("check failures: %v", resp.Failures)
	}
	return mustUnmarshal(t, resp.Inputs)
}

func create(t *testing.T, p *Provider, news resource.PropertyMap) (string, resource.PropertyMap, error) {
	t.Helper()
	in := checked(t, p, news)
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn, Name: "step", Type: Token, Properties: mustMarshal(t, in)})
	if err != nil {
		return "", nil, err
	}
	return resp.Id, mustUnmarshal(t, resp.Properties), nil
}

func mustCreate(t *testing.T, p *Provider, news resource.PropertyMap) resource.PropertyMap {
	t.Helper()
	_, outs, err := create(t, p, news)
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

func diff(t *testing.T, p *Provider, oldIn, olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	t.Helper()
	resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{
		Id: "step1234", Urn: urn, Type: Token,
		Olds: mustMarshal(t, olds), OldInputs: mustMarshal(t, oldIn), News: mustMarshal(t, checked(t, p, news)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func output(t *testing.T, outs resource.PropertyMap, key string) string {
	t.Helper()
	v := outs[resource.PropertyKey(key)]
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		t.Fatalf("output %s is %v, not a string", key, v)
	}
	return v.StringValue()
}

func TestCreateRunsTheCommandOverSSHAndRecordsStdoutAndStderr(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	id, outs, err := create(t, p, inputs(srv, map[string]resource.PropertyValue{
		"create": str("echo hello from $(id -u) >/dev/null; echo out-line; echo err-line >&2"),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := output(t, outs, "stdout"); got != "out-line" {
		t.Errorf("stdout = %q, want %q (one trailing newline trimmed)", got, "out-line")
	}
	if got := output(t, outs, "stderr"); got != "err-line" {
		t.Errorf("stderr = %q, want %q", got, "err-line")
	}
	if !strings.HasPrefix(id, "step") || len(id) != len("step")+8 {
		t.Errorf("id = %q, want the name and 8 hex characters", id)
	}
	execs := srv.Execs()
	if len(execs) != 1 || execs[0].User != "debian" {
		t.Fatalf("server ran %+v, want one command as user debian", execs)
	}
}

func TestStdinIsPassedToTheCommand(t *testing.T) {
	srv := sshtest.Start(t)
	outs := mustCreate(t, New(&logRecorder{}), inputs(srv, map[string]resource.PropertyValue{
		"create": str("tr a-z A-Z"), "stdin": str("shout\n"),
	}))
	if got := output(t, outs, "stdout"); got != "SHOUT" {
		t.Errorf("stdout = %q, want SHOUT", got)
	}
}

func TestLoggingDefaultStreamsStdoutAndStderrToTheEngineLog(t *testing.T) {
	srv := sshtest.Start(t)
	log := &logRecorder{}
	mustCreate(t, New(log), inputs(srv, map[string]resource.PropertyValue{"create": str("echo to-stdout; echo to-stderr >&2")}))
	got := log.statusLines()
	if !contains(got, "to-stdout") || !contains(got, "to-stderr") {
		t.Errorf("log = %q, want both lines", got)
	}
}

func TestLoggingStderrStreamsOnlyStderrButRecordsBoth(t *testing.T) {
	srv := sshtest.Start(t)
	log := &logRecorder{}
	outs := mustCreate(t, New(log), inputs(srv, map[string]resource.PropertyValue{
		"create": str("echo kubeadm-join-token-on-stdout; echo progress-on-stderr >&2"), "logging": str("stderr"),
	}))
	got := log.statusLines()
	if contains(got, "kubeadm-join-token-on-stdout") {
		t.Errorf("stdout was logged with logging=stderr: %q", got)
	}
	if !contains(got, "progress-on-stderr") {
		t.Errorf("stderr was not logged with logging=stderr: %q", got)
	}
	if output(t, outs, "stdout") != "kubeadm-join-token-on-stdout" {
		t.Errorf("stdout output must be recorded whatever the logging")
	}
}

func TestLoggingNoneStreamsNothing(t *testing.T) {
	srv := sshtest.Start(t)
	log := &logRecorder{}
	outs := mustCreate(t, New(log), inputs(srv, map[string]resource.PropertyValue{
		"create": str("echo kubeconfig-content; echo warning >&2"), "logging": str("none"),
	}))
	if all := log.all(); strings.Contains(all, "kubeconfig-content") || strings.Contains(all, "warning") {
		t.Errorf("logging=none logged output: %q", all)
	}
	if output(t, outs, "stdout") != "kubeconfig-content" {
		t.Errorf("stdout output must be recorded whatever the logging")
	}
}

func TestFailingCommandFailsCreateWithItsExitCodeAndStderr(t *testing.T) {
	srv := sshtest.Start(t)
	_, outs, err := create(t, New(&logRecorder{}), inputs(srv, map[string]resource.PropertyValue{
		"create": str("echo partial; echo 'kubeadm: preflight failed' >&2; exit 3"),
	}))
	if err == nil {
		t.Fatalf("create succeeded with outputs %v, want an error", outs)
	}
	for _, want := range []string{"status 3", "kubeadm: preflight failed", "partial"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestFailedSecretScriptIsNotShownInTheError(t *testing.T) {
	srv := sshtest.Start(t)
	_, _, err := create(t, New(&logRecorder{}), inputs(srv, map[string]resource.PropertyValue{
		"create": resource.MakeSecret(str("TOKEN=abcdef.0123456789abcdef; exit 1")),
	}))
	if err == nil {
		t.Fatal("create succeeded, want an error")
	}
	if strings.Contains(err.Error(), "abcdef.0123456789abcdef") {
		t.Errorf("the secret script is in the error: %q", err)
	}
	if !strings.Contains(err.Error(), "[secret]") || !strings.Contains(err.Error(), "status 1") {
		t.Errorf("error %q should name the status and say the script is secret", err)
	}
}

func TestPreviewOfCreateRunsNothingAndLeavesOutputsUnknown(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	in := checked(t, p, inputs(srv, map[string]resource.PropertyValue{"create": str("touch /tmp/never")}))
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn, Type: Token, Properties: mustMarshal(t, in), Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	outs := mustUnmarshal(t, resp.Properties)
	if !outs["stdout"].IsComputed() || !outs["stderr"].IsComputed() {
		t.Errorf("preview outputs stdout=%v stderr=%v, want unknown", outs["stdout"], outs["stderr"])
	}
	if srv.Connections() != 0 {
		t.Errorf("preview connected to the host %d times", srv.Connections())
	}
}

func TestCheckFillsConnectionDefaultsAndMakesTheConnectionSecret(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	in := checked(t, p, resource.PropertyMap{
		"connection": resource.NewObjectProperty(resource.PropertyMap{"host": str(srv.Host)}),
		"create":     str("true"),
	})
	conn := in["connection"]
	if !conn.IsSecret() {
		t.Fatalf("connection is not secret after Check: %v", conn)
	}
	obj := conn.SecretValue().Element.ObjectValue()
	for k, want := range map[string]any{"port": 22.0, "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0} {
		if got := obj[resource.PropertyKey(k)].V; got != want {
			t.Errorf("connection.%s = %v, want the real provider's default %v", k, got, want)
		}
	}
}

func TestCheckRefusesAConnectionWithoutHostAndUnknownLogging(t *testing.T) {
	p := New(&logRecorder{})
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn, Type: Token, News: mustMarshal(t, resource.PropertyMap{
		"connection": resource.NewObjectProperty(resource.PropertyMap{"user": str("debian")}),
		"logging":    str("everything"),
	})})
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]bool{}
	for _, f := range resp.Failures {
		props[f.Property] = true
	}
	if !props["connection.host"] || !props["logging"] {
		t.Errorf("failures %v, want connection.host and logging", resp.Failures)
	}
}

func TestDiffTriggersChangeForcesReplacement(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	old := checked(t, p, inputs(srv, map[string]resource.PropertyValue{
		"create": str("cat /etc/kubernetes/admin.conf"), "triggers": resource.NewArrayProperty([]resource.PropertyValue{str("init-1")}),
	}))
	resp := diff(t, p, old, old, inputs(srv, map[string]resource.PropertyValue{
		"create": str("cat /etc/kubernetes/admin.conf"), "triggers": resource.NewArrayProperty([]resource.PropertyValue{str("init-2")}),
	}))
	if resp.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(resp.Replaces) != 1 || resp.Replaces[0] != "triggers" {
		t.Errorf("diff = %v, want a replacement on triggers", resp)
	}
}

func TestDiffUnknownTriggersForcesReplacementInPreview(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	old := checked(t, p, inputs(srv, map[string]resource.PropertyValue{
		"create": str("true"), "triggers": resource.NewArrayProperty([]resource.PropertyValue{str("init-1")}),
	}))
	resp := diff(t, p, old, old, inputs(srv, map[string]resource.PropertyValue{
		"create": str("true"), "triggers": resource.NewArrayProperty([]resource.PropertyValue{resource.MakeComputed(str(""))}),
	}))
	if len(resp.Replaces) != 1 || resp.Replaces[0] != "triggers" {
		t.Errorf("diff = %v, want a replacement on triggers", resp)
	}
}

func TestDiffCreateChangeIsAnUpdateNotAReplacement(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	old := checked(t, p, inputs(srv, map[string]resource.PropertyValue{"create": str("apt-get install kubeadm=1.33")}))
	resp := diff(t, p, old, old, inputs(srv, map[string]resource.PropertyValue{"create": str("apt-get install kubeadm=1.34")}))
	if resp.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(resp.Replaces) != 0 {
		t.Errorf("diff = %v, want an update without replacement", resp)
	}
	if d := resp.DetailedDiff["create"]; d == nil || d.Kind != pulumirpc.PropertyDiff_UPDATE {
		t.Errorf("detailed diff = %v, want create: UPDATE", resp.DetailedDiff)
	}
}

func TestDiffConnectionOrDeleteChangeIsAnUpdateToo(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	base := map[string]resource.PropertyValue{"create": str("true"), "delete": str("kubeadm reset -f")}
	old := checked(t, p, inputs(srv, base))

	otherPort := inputs(srv, base)
	conn := connection(srv).ObjectValue()
	conn["port"] = resource.NewNumberProperty(2222)
	otherPort["connection"] = resource.NewObjectProperty(conn)
	if resp := diff(t, p, old, old, otherPort); resp.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(resp.Replaces) != 0 {
		t.Errorf("connection change: diff = %v, want an update (the real provider does not replace)", resp)
	}
	otherDelete := inputs(srv, map[string]resource.PropertyValue{"create": str("true"), "delete": str("kubeadm reset -f --cleanup-tmp-dir")})
	if resp := diff(t, p, old, old, otherDelete); resp.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(resp.Replaces) != 0 {
		t.Errorf("delete change: diff = %v, want an update", resp)
	}
}

func TestDiffNoChangeIsNoDiff(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	fields := map[string]resource.PropertyValue{
		"create":   resource.MakeSecret(str("true kubeadm init --token abc")),
		"delete":   str("kubeadm reset -f"),
		"logging":  str("stderr"),
		"triggers": resource.NewArrayProperty([]resource.PropertyValue{str("a")}),
	}
	old := checked(t, p, inputs(srv, fields))
	outs := mustCreate(t, p, inputs(srv, fields))
	if resp := diff(t, p, old, outs, inputs(srv, fields)); resp.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("diff = %v, want none", resp)
	}
	// Without the engine's old inputs, the recorded outputs' inputs are compared.
	if resp := diff(t, p, resource.PropertyMap{}, outs, inputs(srv, fields)); resp.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("diff from outputs = %v, want none", resp)
	}
}

func update(t *testing.T, p *Provider, olds, news resource.PropertyMap) (resource.PropertyMap, error) {
	t.Helper()
	resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{
		Id: "step1234", Urn: urn, Type: Token, Olds: mustMarshal(t, olds), News: mustMarshal(t, checked(t, p, news)),
	})
	if err != nil {
		return nil, err
	}
	return mustUnmarshal(t, resp.Properties), nil
}

func TestUpdateRerunsCreateWhenThereIsNoUpdateScriptWithThePreviousOutputInEnv(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	olds := mustCreate(t, p, inputs(srv, map[string]resource.PropertyValue{"create": str("echo v1")}))
	outs, err := update(t, p, olds, inputs(srv, map[string]resource.PropertyValue{"create": str(`echo "v2 after $PULUMI_COMMAND_STDOUT"`)}))
	if err != nil {
		t.Fatal(err)
	}
	if got := output(t, outs, "stdout"); got != "v2 after v1" {
		t.Errorf("stdout = %q, want the new create's output with the previous stdout in PULUMI_COMMAND_STDOUT", got)
	}
	if n := len(srv.Execs()); n != 2 {
		t.Errorf("ran %d commands, want 2 (create, then create again as the update)", n)
	}
}

func TestUpdateRunsTheUpdateScriptWhenThereIsOne(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	olds := mustCreate(t, p, inputs(srv, map[string]resource.PropertyValue{"create": str("echo created"), "update": str("echo updated")}))
	outs, err := update(t, p, olds, inputs(srv, map[string]resource.PropertyValue{
		"create": str("echo created"), "update": str("echo updated again"),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := output(t, outs, "stdout"); got != "updated again" {
		t.Errorf("stdout = %q, want the update script's output", got)
	}
}

func TestFailedUpdateKeepsNothingNew(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	olds := mustCreate(t, p, inputs(srv, map[string]resource.PropertyValue{"create": str("echo ok")}))
	if _, err := update(t, p, olds, inputs(srv, map[string]resource.PropertyValue{"create": str("echo bad >&2; exit 7")})); err == nil ||
		!strings.Contains(err.Error(), "status 7") {
		t.Errorf("update error = %v, want exit status 7", err)
	}
}

func TestDeleteRunsTheDeleteScriptWithThePreviousOutputs(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	marker := filepath.Join(t.TempDir(), "deleted")
	outs := mustCreate(t, p, inputs(srv, map[string]resource.PropertyValue{
		"create": str("echo node-joined; echo joined-stderr >&2"),
		"delete": str(`printf '%s|%s' "$PULUMI_COMMAND_STDOUT" "$PULUMI_COMMAND_STDERR" > ` + marker),
	}))
	if _, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{Id: "step1234", Urn: urn, Type: Token, Properties: mustMarshal(t, outs)}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(marker)
	if err != nil {
		t.Fatalf("the delete script did not run: %v", err)
	}
	if string(got) != "node-joined|joined-stderr" {
		t.Errorf("delete saw %q, want the previous stdout|stderr", got)
	}
}

func TestDeleteWithoutDeleteScriptConnectsToNothing(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	outs := mustCreate(t, p, inputs(srv, map[string]resource.PropertyValue{"create": str("true")}))
	before := srv.Connections()
	if _, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{Id: "step1234", Urn: urn, Type: Token, Properties: mustMarshal(t, outs)}); err != nil {
		t.Fatal(err)
	}
	if srv.Connections() != before {
		t.Errorf("delete without a script connected to the host")
	}
}

func TestFailingDeleteFailsTheDelete(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	outs := mustCreate(t, p, inputs(srv, map[string]resource.PropertyValue{"create": str("true"), "delete": str("exit 4")}))
	_, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{Id: "step1234", Urn: urn, Type: Token, Properties: mustMarshal(t, outs)})
	if err == nil || !strings.Contains(err.Error(), "status 4") {
		t.Errorf("delete error = %v, want exit status 4 (the engine then keeps the resource)", err)
	}
}

func TestDialErrorsAreRetriedUpToDialErrorLimit(t *testing.T) {
	// The program's nodes: dialErrorLimit 4, so 4 failed dials are survived.
	srv := sshtest.Start(t, sshtest.DropFirst(4))
	log := &logRecorder{}
	outs := mustCreate(t, New(log), inputs(srv, map[string]resource.PropertyValue{"create": str("echo up")}))
	if output(t, outs, "stdout") != "up" {
		t.Errorf("stdout = %q", output(t, outs, "stdout"))
	}
	if n := srv.Connections(); n != 5 {
		t.Errorf("%d connections, want 5 (4 failed, then success)", n)
	}
	if !contains(log.statusLines(), "Dial 4/4 failed: retrying") {
		t.Errorf("log %q lacks the retry notes", log.statusLines())
	}
}

func TestDialGivesUpAfterDialErrorLimitFailures(t *testing.T) {
	srv := sshtest.Start(t, sshtest.DropFirst(100))
	in := inputs(srv, map[string]resource.PropertyValue{"create": str("echo never")})
	conn := connection(srv).ObjectValue()
	conn["dialErrorLimit"] = resource.NewNumberProperty(2)
	in["connection"] = resource.NewObjectProperty(conn)
	_, _, err := create(t, New(&logRecorder{}), in)
	if err == nil || !strings.Contains(err.Error(), "3 failed attempts") {
		t.Errorf("error = %v, want a failure after 3 attempts", err)
	}
	if n := srv.Connections(); n != 3 {
		t.Errorf("%d connections, want 3 (limit 2: the third failure is fatal)", n)
	}
	if len(srv.Execs()) != 0 {
		t.Errorf("a command ran")
	}
}

func TestPerDialTimeoutBoundsAnAttemptOnAHostThatNeverAnswers(t *testing.T) {
	// A listener that accepts and then says nothing, like a machine whose sshd hangs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	in := resource.PropertyMap{
		"connection": resource.NewObjectProperty(resource.PropertyMap{
			"host": str("127.0.0.1"), "port": resource.NewNumberProperty(float64(addr.Port)),
			"perDialTimeout": resource.NewNumberProperty(1), "dialErrorLimit": resource.NewNumberProperty(1),
			"privateKey": str(sshtest.Start(t).ClientKey),
		}),
		"create": str("true"),
	}
	start := time.Now()
	_, _, err = create(t, New(&logRecorder{}), in)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("create succeeded against a silent host")
	}
	if elapsed < 2*time.Second || elapsed > 6*time.Second {
		t.Errorf("took %v, want about 2 attempts of 1 s", elapsed)
	}
}

func TestEnvironmentIsSetWhenTheServerAcceptsIt(t *testing.T) {
	srv := sshtest.Start(t)
	outs := mustCreate(t, New(&logRecorder{}), inputs(srv, map[string]resource.PropertyValue{
		"create":      str(`echo "$KUBE_VERSION"`),
		"environment": resource.NewObjectProperty(resource.PropertyMap{"KUBE_VERSION": str("1.34")}),
	}))
	if got := output(t, outs, "stdout"); got != "1.34" {
		t.Errorf("stdout = %q, want the environment value", got)
	}
}

func TestEnvironmentRefusedByTheServerFailsTheCommand(t *testing.T) {
	srv := sshtest.Start(t, sshtest.AcceptEnv(func(string) bool { return false }))
	_, _, err := create(t, New(&logRecorder{}), inputs(srv, map[string]resource.PropertyValue{
		"create":      str("true"),
		"environment": resource.NewObjectProperty(resource.PropertyMap{"KUBE_VERSION": str("1.34")}),
	}))
	if err == nil || !strings.Contains(err.Error(), "AcceptEnv") {
		t.Errorf("error = %v, want a refusal naming AcceptEnv", err)
	}
}

func TestRefusedPreviousOutputVariablesOnlyWarn(t *testing.T) {
	srv := sshtest.Start(t, sshtest.AcceptEnv(func(name string) bool { return !strings.HasPrefix(name, "PULUMI_COMMAND_") }))
	log := &logRecorder{}
	p := New(log)
	olds := mustCreate(t, p, inputs(srv, map[string]resource.PropertyValue{"create": str("echo one")}))
	outs, err := update(t, p, olds, inputs(srv, map[string]resource.PropertyValue{"create": str("echo two")}))
	if err != nil {
		t.Fatalf("update failed on refused PULUMI_COMMAND_STDOUT: %v", err)
	}
	if output(t, outs, "stdout") != "two" || !strings.Contains(log.all(), "warning: unable to set PULUMI_COMMAND_STDOUT") {
		t.Errorf("stdout %q, log %q: want the update to run with a warning", output(t, outs, "stdout"), log.all())
	}
}

func TestSecretsStayInTheirPlacesAndOutOfTheLog(t *testing.T) {
	srv := sshtest.Start(t)
	log := &logRecorder{}
	script := "echo init-done; echo 'token s3cr3t-in-script' >/dev/null"
	outs := mustCreate(t, New(log), inputs(srv, map[string]resource.PropertyValue{
		"create": resource.MakeSecret(str(script)), "logging": str("stderr"),
	}))
	if !outs["connection"].IsSecret() {
		t.Error("connection output is not secret")
	}
	if !outs["create"].IsSecret() {
		t.Error("the secret create script lost its secret mark in the outputs")
	}
	// As the real provider: stdout is plain even when the script is secret; the program adds
	// additionalSecretOutputs for that (the engine then encrypts it).
	if outs["stdout"].IsSecret() {
		t.Error("stdout is secret; the real provider returns it plain")
	}
	for _, secret := range []string{srv.ClientKey, "s3cr3t-in-script"} {
		if strings.Contains(log.all(), secret) {
			t.Errorf("the log contains a secret")
		}
	}
}

func TestCancelEndsARunningCommand(t *testing.T) {
	srv := sshtest.Start(t)
	p := New(&logRecorder{})
	in := checked(t, p, inputs(srv, map[string]resource.PropertyValue{"create": str("sleep 20")}))
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, _ = p.Cancel(context.Background(), nil)
	}()
	start := time.Now()
	_, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn, Type: Token, Properties: mustMarshal(t, in)})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("create after cancel: err=%v after %v, want a prompt failure", err, time.Since(start))
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
