package command

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kubeadm-istio-lab/standins/internal/plugin"
)

// Version is the plugin version @pulumi/command 1.2.1 asks the engine for.
const Version = "1.2.1"

// Provider serves remote.Command.
type Provider struct {
	plugin.Base
	log plugin.Logger
	// ctx ends when the engine cancels: every running script's context derives from it.
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns the provider; log receives the scripts' output and the retry notes.
func New(log plugin.Logger) *Provider {
	ctx, cancel := context.WithCancel(context.Background())
	return &Provider{Base: plugin.Base{Name: "command", Version: Version}, log: log, ctx: ctx, cancel: cancel}
}

func (p *Provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.cancel()
	return &emptypb.Empty{}, nil
}

// opContext ends with the request or when the engine cancels, whichever comes first.
func (p *Provider) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := context.WithCancel(ctx)
	unhook := context.AfterFunc(p.ctx, stop)
	return ctx, func() { unhook(); stop() }
}

func checkType(t string, urn string) error {
	if t != "" && t != Token {
		return status.Errorf(codes.InvalidArgument, "the command stand-in implements only %s, not %s (%s)", Token, t, urn)
	}
	if t == "" && urn != "" && resource.URN(urn).IsValid() && string(resource.URN(urn).Type()) != Token {
		return status.Errorf(codes.InvalidArgument, "the command stand-in implements only %s (%s)", Token, urn)
	}
	return nil
}

func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := plugin.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	inputs, failures := check(news)
	s, err := plugin.Marshal(inputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: s, Failures: failures}, nil
}

// Diff: a change of triggers replaces the command; any other input change (create, update, delete,
// connection, logging, environment, stdin) is an update, which re-runs `update`, or `create` when
// there is no update script. This is the real provider's behaviour (only triggers is replaceOnChanges).
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := plugin.Unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	oldIn, err := plugin.Unmarshal(req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	news, err := plugin.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	for _, k := range req.GetIgnoreChanges() {
		if v, ok := olds[resource.PropertyKey(k)]; ok {
			news[resource.PropertyKey(k)] = v
		}
	}
	return plugin.DiffInputs(oldInputs(oldIn, olds), news, func(k string) bool { return k == "triggers" }), nil
}

func (p *Provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	props, err := plugin.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	urn := resource.URN(req.GetUrn())
	name := req.GetName()
	if name == "" && urn.IsValid() {
		name = urn.Name()
	}
	id, err := resource.NewUniqueHex(name, 8, 0)
	if err != nil {
		return nil, err
	}
	outs := props.Copy()
	_, hasCreate := props["create"]
	switch {
	case req.GetPreview() && hasCreate:
		// Not run yet: the outputs are known only after the command ran.
		outs["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
		outs["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
	case req.GetPreview() || !hasCreate:
		outs["stdout"], outs["stderr"] = resource.NewStringProperty(""), resource.NewStringProperty("")
	default:
		spec, err := parse(props)
		if err != nil {
			return nil, err
		}
		ctx, done := p.opContext(ctx)
		defer done()
		res, err := runner{p.log, urn}.run(ctx, spec, "create", *spec.Create, result{})
		if err != nil {
			// No state: the engine records nothing, and the next `up` runs create again.
			return nil, err
		}
		setResult(outs, res)
	}
	s, err := plugin.Marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: s}, nil
}

func (p *Provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	olds, err := plugin.Unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := plugin.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	prev := previous(olds)
	outs := news.Copy()
	setResult(outs, prev)
	if req.GetPreview() {
		// The script will run again, so what it prints is not known yet.
		outs["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
		outs["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
	} else {
		spec, err := parse(news)
		if err != nil {
			return nil, err
		}
		name, script := "update", spec.Update
		if script == nil {
			name, script = "create", spec.Create
		}
		if script != nil {
			ctx, done := p.opContext(ctx)
			defer done()
			res, err := runner{p.log, resource.URN(req.GetUrn())}.run(ctx, spec, name, *script, prev)
			if err != nil {
				// The engine keeps the previous state.
				return nil, err
			}
			setResult(outs, res)
		}
	}
	s, err := plugin.Marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: s}, nil
}

// Delete runs the recorded delete script (if any) with the recorded connection, and the recorded
// stdout/stderr in PULUMI_COMMAND_STDOUT/STDERR.
func (p *Provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	props, err := plugin.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if _, ok := props["delete"]; !ok {
		return &emptypb.Empty{}, nil
	}
	spec, err := parse(props)
	if err != nil {
		return nil, err
	}
	ctx, done := p.opContext(ctx)
	defer done()
	if _, err := (runner{p.log, resource.URN(req.GetUrn())}).run(ctx, spec, "delete", *spec.Delete, previous(props)); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Read (refresh) keeps the recorded state: there is nothing on the host to read it back from.
func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if req.GetProperties() == nil || len(req.GetProperties().GetFields()) == 0 {
		return nil, fmt.Errorf("the command stand-in cannot import %s", req.GetUrn())
	}
	inputs := req.GetInputs()
	if inputs == nil {
		props, err := plugin.Unmarshal(req.GetProperties())
		if err != nil {
			return nil, err
		}
		if inputs, err = plugin.Marshal(oldInputs(nil, props)); err != nil {
			return nil, err
		}
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: inputs}, nil
}

func previous(props resource.PropertyMap) result {
	str := func(k resource.PropertyKey) string {
		if v := plugin.Plain(props[k]); v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	return result{stdout: str("stdout"), stderr: str("stderr")}
}

// setResult records a run's output. They are plain strings even when the script is secret, as the
// real provider returns them: the program marks them secret with additionalSecretOutputs.
func setResult(outs resource.PropertyMap, r result) {
	outs["stdout"] = resource.NewStringProperty(r.stdout)
	outs["stderr"] = resource.NewStringProperty(r.stderr)
}
