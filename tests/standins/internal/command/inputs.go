// Package command is the stand-in for the `command` provider's remote.Command: a shell command run
// over SSH on create, update and delete, with the semantics of @pulumi/command 1.2.1.
package command

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/kubeadm-istio-lab/standins/internal/plugin"
)

// Token is the type token @pulumi/command registers remote.Command under.
const Token = "command:remote:Command"

// The real provider's defaults for the connection (its schema's "default" values).
const (
	defaultPort           = 22
	defaultUser           = "root"
	defaultDialErrorLimit = 10
	defaultPerDialTimeout = 15
)

var logLevels = map[string]bool{"stdout": true, "stderr": true, "stdoutAndStderr": true, "none": true}

// inputKeys are the resource's input properties; stdout and stderr are outputs only.
var inputKeys = map[string]bool{
	"connection": true, "create": true, "update": true, "delete": true, "triggers": true,
	"stdin": true, "logging": true, "environment": true, "addPreviousOutputInEnv": true,
}

// connectionKeys are the connection fields the stand-in implements. The real provider also has
// proxy and agentSocketPath; the program uses neither, so they are refused rather than ignored.
var connectionKeys = map[string]string{
	"host": "string", "port": "number", "user": "string", "password": "string",
	"privateKey": "string", "privateKeyPassword": "string", "hostKey": "string",
	"dialErrorLimit": "integer", "perDialTimeout": "integer",
}

// Connection is where and how to reach the host.
type Connection struct {
	Host, User                           string
	Port                                 int
	Password, PrivateKey, PrivateKeyPass string
	HostKey                              string
	DialErrorLimit, PerDialTimeout       int
}

// Spec is a Command's inputs, read for running (secret markers dropped, but remembered for the
// scripts so that an error never prints a secret script).
type Spec struct {
	Conn                   Connection
	Create, Update, Delete *string
	secretScript           map[string]bool
	Stdin                  string
	Logging                string
	Environment            map[string]string
	AddPreviousOutputInEnv bool
}

func (s Spec) logStdout() bool {
	return s.Logging == "" || s.Logging == "stdout" || s.Logging == "stdoutAndStderr"
}

func (s Spec) logStderr() bool {
	return s.Logging == "" || s.Logging == "stderr" || s.Logging == "stdoutAndStderr"
}

// check validates inputs and fills the connection's defaults, returning the inputs to record.
// The whole connection is made secret, as the real provider's schema marks it.
func check(news resource.PropertyMap) (resource.PropertyMap, []*pulumirpc.CheckFailure) {
	var failures []*pulumirpc.CheckFailure
	fail := func(prop, format string, args ...any) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: prop, Reason: fmt.Sprintf(format, args...)})
	}
	out := resource.PropertyMap{}
	for _, k := range sortedKeys(news) {
		v := news[resource.PropertyKey(k)]
		if strings.HasPrefix(k, "__") {
			// Engine-internal keys pass through untouched.
			out[resource.PropertyKey(k)] = v
			continue
		}
		if !inputKeys[k] {
			fail(k, "unknown property %q (the stand-in implements only what the program uses)", k)
			continue
		}
		out[resource.PropertyKey(k)] = v
		p := plugin.Plain(v)
		if p.IsComputed() || p.IsNull() {
			continue
		}
		switch k {
		case "create", "update", "delete", "stdin":
			if !p.IsString() {
				fail(k, "%s must be a string", k)
			}
		case "logging":
			if !p.IsString() || !logLevels[p.StringValue()] {
				fail(k, `logging must be one of "stdout", "stderr", "stdoutAndStderr", "none"`)
			}
		case "environment":
			if !p.IsObject() {
				fail(k, "environment must be a map of strings")
				break
			}
			for ek, ev := range p.ObjectValue() {
				if !ev.IsString() && !ev.IsComputed() {
					fail("environment."+string(ek), "environment values must be strings")
				}
			}
		case "addPreviousOutputInEnv":
			if !p.IsBool() {
				fail(k, "addPreviousOutputInEnv must be a boolean")
			}
		case "triggers":
			if !p.IsArray() {
				fail(k, "triggers must be an array")
			}
		}
	}

	conn, ok := news["connection"]
	switch {
	case !ok || conn.IsNull():
		fail("connection", "missing required property 'connection'")
	case plugin.Plain(conn).IsComputed():
		out["connection"] = plugin.Secret(conn)
	default:
		filled, connFailures := checkConnection(conn)
		failures = append(failures, connFailures...)
		out["connection"] = plugin.Secret(filled)
	}
	return out, failures
}

func checkConnection(conn resource.PropertyValue) (resource.PropertyValue, []*pulumirpc.CheckFailure) {
	var failures []*pulumirpc.CheckFailure
	fail := func(prop, format string, args ...any) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: "connection." + prop, Reason: fmt.Sprintf(format, args...)})
	}
	inner := conn
	for inner.IsSecret() {
		inner = inner.SecretValue().Element
	}
	if !inner.IsObject() {
		return conn, []*pulumirpc.CheckFailure{{Property: "connection", Reason: "connection must be an object"}}
	}
	obj := inner.ObjectValue().Copy()
	for k, v := range obj {
		kind, known := connectionKeys[string(k)]
		if !known {
			fail(string(k), "connection.%s is not implemented by the stand-in", k)
			continue
		}
		p := plugin.Plain(v)
		if p.IsComputed() || p.IsNull() {
			continue
		}
		switch kind {
		case "string":
			if !p.IsString() {
				fail(string(k), "must be a string")
			}
		case "number":
			if !p.IsNumber() {
				fail(string(k), "must be a number")
			}
		case "integer":
			if !p.IsNumber() || p.NumberValue() != math.Trunc(p.NumberValue()) {
				fail(string(k), "must be an integer")
			}
		}
	}
	if h, ok := obj["host"]; !ok || h.IsNull() {
		fail("host", "missing required property 'host'")
	}
	setDefault := func(k string, v resource.PropertyValue) {
		if cur, ok := obj[resource.PropertyKey(k)]; !ok || cur.IsNull() {
			obj[resource.PropertyKey(k)] = v
		}
	}
	setDefault("port", resource.NewNumberProperty(defaultPort))
	setDefault("user", resource.NewStringProperty(defaultUser))
	setDefault("dialErrorLimit", resource.NewNumberProperty(defaultDialErrorLimit))
	setDefault("perDialTimeout", resource.NewNumberProperty(defaultPerDialTimeout))
	return resource.NewObjectProperty(obj), failures
}

// parse reads inputs (or recorded outputs, which contain them) for running a script.
func parse(props resource.PropertyMap) (Spec, error) {
	spec := Spec{AddPreviousOutputInEnv: true, secretScript: map[string]bool{}}
	str := func(k string) *string {
		v, ok := props[resource.PropertyKey(k)]
		if !ok {
			return nil
		}
		if v.ContainsSecrets() {
			spec.secretScript[k] = true
		}
		p := plugin.Plain(v)
		if !p.IsString() {
			return nil
		}
		s := p.StringValue()
		return &s
	}
	spec.Create, spec.Update, spec.Delete = str("create"), str("update"), str("delete")
	if s := str("stdin"); s != nil {
		spec.Stdin = *s
	}
	if s := str("logging"); s != nil {
		spec.Logging = *s
	}
	if v := plugin.Plain(props["addPreviousOutputInEnv"]); v.IsBool() {
		spec.AddPreviousOutputInEnv = v.BoolValue()
	}
	if v := plugin.Plain(props["environment"]); v.IsObject() {
		spec.Environment = map[string]string{}
		for k, e := range v.ObjectValue() {
			if e.IsString() {
				spec.Environment[string(k)] = e.StringValue()
			}
		}
	}

	c := plugin.Plain(props["connection"])
	if !c.IsObject() {
		return spec, fmt.Errorf("connection is missing or not yet known")
	}
	obj := c.ObjectValue()
	get := func(k string) string {
		if v := obj[resource.PropertyKey(k)]; v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	num := func(k string, def int) int {
		if v := obj[resource.PropertyKey(k)]; v.IsNumber() {
			return int(v.NumberValue())
		}
		return def
	}
	spec.Conn = Connection{
		Host:           get("host"),
		User:           get("user"),
		Port:           num("port", defaultPort),
		Password:       get("password"),
		PrivateKey:     get("privateKey"),
		PrivateKeyPass: get("privateKeyPassword"),
		HostKey:        get("hostKey"),
		DialErrorLimit: num("dialErrorLimit", defaultDialErrorLimit),
		PerDialTimeout: num("perDialTimeout", defaultPerDialTimeout),
	}
	if spec.Conn.User == "" {
		spec.Conn.User = defaultUser
	}
	if spec.Conn.Host == "" {
		return spec, fmt.Errorf("connection.host is empty")
	}
	return spec, nil
}

// oldInputs is what Diff compares against: the engine's recorded inputs when it sends them, else
// the input properties of the recorded outputs.
func oldInputs(oldIn, olds resource.PropertyMap) resource.PropertyMap {
	if len(oldIn) > 0 {
		return oldIn
	}
	out := resource.PropertyMap{}
	for k, v := range olds {
		if inputKeys[string(k)] {
			out[k] = v
		}
	}
	return out
}

func sortedKeys(m resource.PropertyMap) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	return keys
}
