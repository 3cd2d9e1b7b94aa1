// Package plugin holds what both stand-in providers share: the parts of the resource provider
// protocol they answer alike, property (un)marshalling that keeps secrets and unknowns, an input
// diff, and the log sink the engine hands them.
package plugin

import (
	"context"
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Logger is the engine's log service as a provider sees it (*provider.HostClient satisfies it).
// LogStatus messages are ephemeral: shown while a step runs, not kept in the final output.
type Logger interface {
	Log(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
	LogStatus(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
}

// Discard is a Logger that drops everything (for a provider run without an engine).
type Discard struct{}

func (Discard) Log(context.Context, diag.Severity, resource.URN, string) error       { return nil }
func (Discard) LogStatus(context.Context, diag.Severity, resource.URN, string) error { return nil }

// Base answers the provider-level calls: plugin info, handshake, configuration. Each stand-in
// embeds it and adds the resource calls.
type Base struct {
	pulumirpc.UnimplementedResourceProviderServer
	// Name and Version are what the SDK asks the engine for (package.json "pulumi" of the npm package).
	Name, Version string
}

func (b *Base) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: b.Version}, nil
}

// Handshake and Configure both say: secrets and unknowns are understood (so the engine sends them
// marked, and trusts the marks on what comes back) and preview is supported.
func (b *Base) Handshake(context.Context, *pulumirpc.ProviderHandshakeRequest) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true, AcceptResources: true}, nil
}

func (b *Base) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true}, nil
}

// Neither real provider has configuration the program sets, so any is accepted as given.
func (b *Base) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (b *Base) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

// GetSchema gives a minimal package schema: the engine may ask for one, nothing here generates code.
func (b *Base) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":%q,"version":%q}`, b.Name, b.Version)}, nil
}

func (b *Base) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

var rpcOptions = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}

// Unmarshal reads a property struct from the engine, keeping secret and unknown markers.
func Unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, rpcOptions)
}

// Marshal writes a property map for the engine, keeping secret and unknown markers.
func Marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, rpcOptions)
}

// DiffInputs compares old and new inputs key by key. A changed key for which replace returns true
// forces a replacement; any other change is an in-place update.
func DiffInputs(olds, news resource.PropertyMap, replace func(key string) bool) *pulumirpc.DiffResponse {
	objDiff := olds.Diff(news)
	if objDiff == nil || !objDiff.AnyChanges() {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true}
	}
	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_SOME,
		HasDetailedDiff: true,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
	}
	changed := map[string]bool{}
	replaced := map[string]bool{}
	for path, d := range plugin.NewDetailedDiffFromObjectDiff(objDiff, true) {
		top := topKey(path)
		kind := d.Kind
		if replace(top) {
			kind = kind.AsReplace()
			replaced[top] = true
		}
		changed[top] = true
		resp.DetailedDiff[path] = &pulumirpc.PropertyDiff{Kind: rpcKind(kind), InputDiff: true}
	}
	resp.Diffs = sortedKeys(changed)
	resp.Replaces = sortedKeys(replaced)
	return resp
}

// topKey is the top-level property of a detailed-diff path such as `connection.port` or `triggers[0]`.
func topKey(path string) string {
	p, err := resource.ParsePropertyPath(path)
	if err != nil || len(p) == 0 {
		return path
	}
	if s, ok := p[0].(string); ok {
		return s
	}
	return path
}

func rpcKind(k plugin.DiffKind) pulumirpc.PropertyDiff_Kind {
	switch k {
	case plugin.DiffAdd:
		return pulumirpc.PropertyDiff_ADD
	case plugin.DiffAddReplace:
		return pulumirpc.PropertyDiff_ADD_REPLACE
	case plugin.DiffDelete:
		return pulumirpc.PropertyDiff_DELETE
	case plugin.DiffDeleteReplace:
		return pulumirpc.PropertyDiff_DELETE_REPLACE
	case plugin.DiffUpdateReplace:
		return pulumirpc.PropertyDiff_UPDATE_REPLACE
	default:
		return pulumirpc.PropertyDiff_UPDATE
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Plain is v without secret markers at any depth, for reading values.
func Plain(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return Plain(v.SecretValue().Element)
	case v.IsObject():
		out := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			out[k] = Plain(e)
		}
		return resource.NewObjectProperty(out)
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]resource.PropertyValue, len(arr))
		for i, e := range arr {
			out[i] = Plain(e)
		}
		return resource.NewArrayProperty(out)
	}
	return v
}

// Secret marks v secret unless it already is (or is null).
func Secret(v resource.PropertyValue) resource.PropertyValue {
	if v.IsSecret() || v.IsNull() {
		return v
	}
	return resource.MakeSecret(v)
}
