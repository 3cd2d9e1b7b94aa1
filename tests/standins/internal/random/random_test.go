package random

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/kubeadm-istio-lab/standins/internal/plugin"
)

const (
	passwordURN = "urn:pulumi:test::lab::" + PasswordToken + "::token-id"
	bytesURN    = "urn:pulumi:test::lab::" + BytesToken + "::certificate-key"
)

func props(kv ...any) resource.PropertyMap {
	m := resource.PropertyMap{}
	for i := 0; i < len(kv); i += 2 {
		m[resource.PropertyKey(kv[i].(string))] = resource.NewPropertyValue(kv[i+1])
	}
	return m
}

func mustMarshal(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := plugin.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func check(t *testing.T, urn, typ string, news resource.PropertyMap) []*pulumirpc.CheckFailure {
	t.Helper()
	resp, err := New().Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn, Type: typ, News: mustMarshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Failures
}

func create(t *testing.T, urn, typ string, news resource.PropertyMap, preview bool) (string, resource.PropertyMap) {
	t.Helper()
	if f := check(t, urn, typ, news); len(f) > 0 {
		t.Fatalf("check failures: %v", f)
	}
	resp, err := New().Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn, Type: typ, Properties: mustMarshal(t, news), Preview: preview})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := plugin.Unmarshal(resp.Properties)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Id, outs
}

func secretString(t *testing.T, outs resource.PropertyMap, key string) string {
	t.Helper()
	v := outs[resource.PropertyKey(key)]
	if !v.IsSecret() {
		t.Fatalf("%s is not secret: %v", key, v)
	}
	return v.SecretValue().Element.StringValue()
}

func diff(t *testing.T, urn, typ string, olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	t.Helper()
	resp, err := New().Diff(context.Background(), &pulumirpc.DiffRequest{Id: "none", Urn: urn, Type: typ, Olds: mustMarshal(t, olds), News: mustMarshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// The program's bootstrap token parts: RandomPassword{length, upper: false, special: false}.
func TestPasswordWithoutUpperAndSpecialIsLowercaseAndDigitsOfTheLength(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9]+$`)
	for _, length := range []int{6, 16} {
		for i := 0; i < 15; i++ {
			id, outs := create(t, passwordURN, PasswordToken, props("length", length, "upper", false, "special", false), false)
			result := secretString(t, outs, "result")
			if len(result) != length || !valid.MatchString(result) {
				t.Fatalf("result %q: want %d characters from [a-z0-9] (kubeadm's token alphabet)", result, length)
			}
			if id != "none" {
				t.Errorf("id = %q, want none as the real provider", id)
			}
		}
	}
}

func TestPasswordDefaultsUseAllFourClassesAndRecordThem(t *testing.T) {
	_, outs := create(t, passwordURN, PasswordToken, props("length", 40, "minUpper", 3, "minNumeric", 3, "minSpecial", 3, "minLower", 3), false)
	result := secretString(t, outs, "result")
	count := func(set string) int {
		n := 0
		for _, r := range result {
			if strings.ContainsRune(set, r) {
				n++
			}
		}
		return n
	}
	for name, set := range map[string]string{"upper": upperChars, "lower": lowerChars, "numeric": numericChars, "special": specialChars} {
		if count(set) < 3 {
			t.Errorf("%d %s characters in %q, want at least 3", count(set), name, result)
		}
	}
	for _, k := range []string{"lower", "upper", "numeric", "number", "special"} {
		if v := outs[resource.PropertyKey(k)]; !v.IsBool() || !v.BoolValue() {
			t.Errorf("%s = %v, want the default true recorded", k, v)
		}
	}
}

func TestPasswordBcryptHashMatchesTheResultAndBothAreSecret(t *testing.T) {
	_, outs := create(t, passwordURN, PasswordToken, props("length", 16), false)
	result, hash := secretString(t, outs, "result"), secretString(t, outs, "bcryptHash")
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(result)); err != nil {
		t.Errorf("bcryptHash does not match result: %v", err)
	}
}

func TestPasswordPreviewLeavesTheResultUnknown(t *testing.T) {
	_, outs := create(t, passwordURN, PasswordToken, props("length", 16), true)
	if !outs["result"].IsComputed() {
		t.Errorf("preview result = %v, want unknown", outs["result"])
	}
}

func TestSameInputsKeepTheValueOnDiffAndRefresh(t *testing.T) {
	news := props("length", 16, "upper", false, "special", false)
	id, outs := create(t, passwordURN, PasswordToken, news, false)
	if d := diff(t, passwordURN, PasswordToken, outs, news); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("diff with the same inputs = %v, want none", d)
	}
	// Spelling out a default is no change either.
	if d := diff(t, passwordURN, PasswordToken, outs, props("length", 16, "upper", false, "special", false, "lower", true)); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("diff with an explicit default = %v, want none", d)
	}
	resp, err := New().Read(context.Background(), &pulumirpc.ReadRequest{Id: id, Urn: passwordURN, Properties: mustMarshal(t, outs), Inputs: mustMarshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	read, err := plugin.Unmarshal(resp.Properties)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Id != id || secretString(t, read, "result") != secretString(t, outs, "result") {
		t.Errorf("refresh changed the value")
	}
}

func TestAnyInputChangeReplaces(t *testing.T) {
	news := props("length", 16, "upper", false, "special", false, "keepers", map[string]any{"cluster": "a"})
	_, outs := create(t, passwordURN, PasswordToken, news, false)
	for name, changed := range map[string]resource.PropertyMap{
		"length":  props("length", 17, "upper", false, "special", false, "keepers", map[string]any{"cluster": "a"}),
		"upper":   props("length", 16, "special", false, "keepers", map[string]any{"cluster": "a"}),
		"keepers": props("length", 16, "upper", false, "special", false, "keepers", map[string]any{"cluster": "b"}),
	} {
		d := diff(t, passwordURN, PasswordToken, outs, changed)
		if d.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(d.Replaces) != 1 || d.Replaces[0] != name {
			t.Errorf("%s change: diff = %v, want a replacement on %s", name, d, name)
		}
	}
	unknown := props("length", 16, "upper", false, "special", false)
	unknown["keepers"] = resource.NewObjectProperty(resource.PropertyMap{"cluster": resource.MakeComputed(resource.NewStringProperty(""))})
	if d := diff(t, passwordURN, PasswordToken, outs, unknown); len(d.Replaces) != 1 {
		t.Errorf("unknown keeper: diff = %v, want a replacement", d)
	}
}

func TestUpdateIsNeverUsed(t *testing.T) {
	if _, err := New().Update(context.Background(), &pulumirpc.UpdateRequest{Urn: passwordURN}); err == nil {
		t.Error("update succeeded; every change must be a replacement")
	}
}

func TestPasswordCheckRefusesImpossibleInputs(t *testing.T) {
	cases := map[string]resource.PropertyMap{
		"length": props("upper", false),
		"upper":  props("length", 8, "upper", false, "lower", false, "numeric", false, "special", false),
	}
	for prop, news := range cases {
		failures := check(t, passwordURN, PasswordToken, news)
		if len(failures) == 0 || failures[0].Property != prop {
			t.Errorf("failures %v, want one on %s", failures, prop)
		}
	}
	if f := check(t, passwordURN, PasswordToken, props("length", 4, "minUpper", 3, "minLower", 3)); len(f) == 0 {
		t.Error("length shorter than the minimums was accepted")
	}
	if f := check(t, passwordURN, PasswordToken, props("length", 4, "lenght", 5)); len(f) == 0 {
		t.Error("an unknown property was accepted")
	}
}

// The program's certificate key: RandomBytes{length: 32}, used as hex.
func TestBytesHexAndBase64AreTheSameLengthBytesAndSecret(t *testing.T) {
	id, outs := create(t, bytesURN, BytesToken, props("length", 32), false)
	h, b64 := secretString(t, outs, "hex"), secretString(t, outs, "base64")
	fromHex, err := hex.DecodeString(h)
	if err != nil || len(fromHex) != 32 || len(h) != 64 {
		t.Fatalf("hex %q: want 64 lowercase hex digits (%v)", h, err)
	}
	fromB64, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || string(fromB64) != string(fromHex) {
		t.Errorf("base64 and hex are not the same bytes")
	}
	// As the real provider: the ID is the base64 value, and an ID is never secret.
	if id != b64 {
		t.Errorf("id = %q, want the base64 value as the real provider's", id)
	}
}

func TestBytesAreNewEachTimeAndKeptUntilTheInputsChange(t *testing.T) {
	_, a := create(t, bytesURN, BytesToken, props("length", 32), false)
	_, b := create(t, bytesURN, BytesToken, props("length", 32), false)
	if secretString(t, a, "hex") == secretString(t, b, "hex") {
		t.Error("two creates made the same bytes")
	}
	if d := diff(t, bytesURN, BytesToken, a, props("length", 32)); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("same length: diff = %v, want none", d)
	}
	if d := diff(t, bytesURN, BytesToken, a, props("length", 16)); len(d.Replaces) != 1 || d.Replaces[0] != "length" {
		t.Errorf("length change: diff = %v, want a replacement", d)
	}
}

func TestOtherTypesAreRefused(t *testing.T) {
	_, err := New().Check(context.Background(), &pulumirpc.CheckRequest{Urn: "urn:pulumi:test::lab::random:index/randomUuid:RandomUuid::u", News: mustMarshal(t, props())})
	if err == nil {
		t.Error("RandomUuid was accepted by a stand-in that does not implement it")
	}
}
