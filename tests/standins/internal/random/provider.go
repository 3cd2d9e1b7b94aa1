package random

import (
	"context"
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kubeadm-istio-lab/standins/internal/plugin"
)

// Version is the plugin version @pulumi/random 4.21.2 asks the engine for.
const Version = "4.21.2"

// Provider serves RandomPassword and RandomBytes.
type Provider struct{ plugin.Base }

func New() *Provider { return &Provider{Base: plugin.Base{Name: "random", Version: Version}} }

func kindOf(typ, urn string) (kind, error) {
	if typ == "" && resource.URN(urn).IsValid() {
		typ = string(resource.URN(urn).Type())
	}
	k, ok := kinds[typ]
	if !ok {
		return kind{}, status.Errorf(codes.InvalidArgument,
			"the random stand-in implements only %s and %s, not %q (%s)", PasswordToken, BytesToken, typ, urn)
	}
	return k, nil
}

func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	k, err := kindOf(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := plugin.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: k.check(news)}, nil
}

// Diff compares the new inputs, at their defaults, with the recorded values: every input of these
// resources forces a replacement, and a replacement is the only way to get a new value.
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	k, err := kindOf(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := plugin.Unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := plugin.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	for _, key := range req.GetIgnoreChanges() {
		if v, ok := olds[resource.PropertyKey(key)]; ok {
			news[resource.PropertyKey(key)] = v
		}
	}
	effOld, effNew := k.effective(olds), k.effective(news)
	var changed []string
	for name := range k.fields {
		key := resource.PropertyKey(name)
		if !sameValue(effOld[key], effNew[key]) {
			changed = append(changed, name)
		}
	}
	sort.Strings(changed)
	if len(changed) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true}, nil
	}
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for _, name := range changed {
		kind := pulumirpc.PropertyDiff_UPDATE_REPLACE
		if _, had := olds[resource.PropertyKey(name)]; !had {
			kind = pulumirpc.PropertyDiff_ADD_REPLACE
		} else if _, has := news[resource.PropertyKey(name)]; !has {
			kind = pulumirpc.PropertyDiff_DELETE_REPLACE
		}
		detailed[name] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_SOME,
		Replaces:        changed,
		Diffs:           changed,
		DetailedDiff:    detailed,
		HasDetailedDiff: true,
	}, nil
}

// sameValue compares recorded and new values: secret markers aside, an unknown new value is a
// change, and no keepers is the same as empty keepers.
func sameValue(old, new resource.PropertyValue) bool {
	old, new = plugin.Plain(old), plugin.Plain(new)
	if new.ContainsUnknowns() {
		return false
	}
	empty := func(v resource.PropertyValue) bool {
		return v.IsNull() || (v.IsObject() && len(v.ObjectValue()) == 0)
	}
	if empty(old) && empty(new) {
		return true
	}
	return old.DeepEquals(new)
}

func (p *Provider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	k, err := kindOf(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	props, err := plugin.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	outs := k.effective(props)
	id := ""
	if req.GetPreview() {
		for _, s := range k.secrets {
			outs[resource.PropertyKey(s)] = resource.MakeComputed(resource.NewStringProperty(""))
		}
	} else {
		made, madeID, err := k.generate(outs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", req.GetUrn(), err)
		}
		for name, v := range made {
			outs[name] = resource.MakeSecret(v)
		}
		id = madeID
	}
	s, err := plugin.Marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: s}, nil
}

// Read (refresh) keeps the recorded value: it lives nowhere but in the state.
func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if req.GetProperties() == nil || len(req.GetProperties().GetFields()) == 0 {
		return nil, fmt.Errorf("the random stand-in cannot import %s", req.GetUrn())
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

// Update never happens: Diff replaces on every change.
func (p *Provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	return nil, status.Errorf(codes.Internal, "%s: every change of a random resource is a replacement, not an update", req.GetUrn())
}

// Delete forgets the value; there is nothing outside the state to remove.
func (p *Provider) Delete(context.Context, *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}
